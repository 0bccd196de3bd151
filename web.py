"""The WSGI application: Slack requests at POST /slack/events, a health check at GET /healthz.

gunicorn serves it in production (see Procfile); `python bot.py` serves the same app with a threaded server.
"""

from __future__ import annotations

import json
import logging

_logger = logging.getLogger("deletion_jobs.web")


def _form_body_repair(request) -> None:
    """Bolt reads any form body containing the word "payload" as an interaction and finds nothing in it, so
    `/deletion-jobs payload` (or a channel named #payload-team) would vanish unanswered. Parse it as the form
    it is. The raw body, which the signature covers, is untouched."""
    from urllib.parse import parse_qsl

    from slack_bolt.context import BoltContext
    from slack_bolt.request.internals import build_context

    if request.body or not request.raw_body or request.raw_body.startswith("{"):
        return
    form = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "command" in form and "payload" not in form:
        request.body = form
        request.context = build_context(BoltContext(dict(request.context)), form)


def create_wsgi_app(bolt_app):
    """Wrap a Bolt app in Bolt's WSGI adapter and add /healthz (which says nothing secret)."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_bolt.request import BoltRequest

    class RepairingRequestHandler(SlackRequestHandler):
        def dispatch(self, request):
            bolt_request = BoltRequest(
                body=request.get_body(), query=request.query_string, headers=request.get_headers()
            )
            _form_body_repair(bolt_request)
            return self.app.dispatch(bolt_request)

    slack = RepairingRequestHandler(bolt_app, path="/slack/events")

    def application(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = json.dumps({"status": "ok"}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return application


def make_http_server(wsgi_app, host: str = "0.0.0.0", port: int = 3000):
    """A threaded WSGI server for `python bot.py` and the tests (port 0 picks a free one)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # Slack bursts: let the kernel queue connections rather than refuse them.
        request_queue_size = 128

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
            _logger.debug("http %s", format % args)

    return make_server(host, port, wsgi_app, ThreadingWSGIServer, QuietHandler)


# gunicorn's "App failed to load" exit code: its master then stops, instead of re-forking workers that can
# never start and printing the same settings error forever.
APP_LOAD_ERROR = 4


def create_app():
    """gunicorn's factory (`gunicorn 'web:create_app()'`): settings from the environment, never a scheduler.

    The app it returns has a `shutdown()`, which gunicorn.conf.py's `worker_exit` hook calls: answers that
    were acknowledged but not yet posted to Slack are finished before the worker process goes.
    """
    import sys

    from bot import build_app, build_services
    from config import SettingsError, load_settings
    from config.logging import configure_logging
    from services.state import StateStoreUnavailable

    try:
        settings = load_settings()
    except SettingsError as err:
        print(err, file=sys.stderr)
        sys.exit(APP_LOAD_ERROR)
    configure_logging(settings.log_level)
    try:
        services = build_services(settings)
    except SettingsError as err:
        print(err, file=sys.stderr)
        sys.exit(APP_LOAD_ERROR)
    except StateStoreUnavailable as err:
        _logger.error("%s. Check DATABASE_URL and that the database is running.", err)
        sys.exit(APP_LOAD_ERROR)
    application = create_wsgi_app(build_app(settings, services))

    def shutdown() -> None:
        _logger.info("worker stopping: finishing the answers still owed to Slack")
        services.background.shutdown(wait=True)

    application.shutdown = shutdown
    return application

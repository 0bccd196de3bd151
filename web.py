"""The WSGI application: Slack requests at POST /slack/events, a health check at GET /healthz.

gunicorn serves it in production (see Procfile); `python bot.py` serves the same app with a threaded server.
"""

from __future__ import annotations

import json


def create_wsgi_app(bolt_app):
    """Wrap a Bolt app in Bolt's WSGI adapter and add /healthz (which says nothing secret)."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    slack = SlackRequestHandler(bolt_app, path="/slack/events")

    def application(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = json.dumps({"status": "ok"}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return application


def create_app():
    """gunicorn's factory (`gunicorn 'web:create_app()'`): settings from the environment, no scheduler."""
    import sys

    from bot import build_app, build_services
    from config import SettingsError, load_settings
    from config.logging import configure_logging

    try:
        settings = load_settings()
    except SettingsError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    services = build_services(settings)
    return create_wsgi_app(build_app(settings, services))

"""The WSGI application: Slack requests at POST /slack/events, a health check at GET /healthz, Prometheus metrics at
GET /metrics.

A Slack request passes three gates before Bolt parses a byte of it: its size (413 past MAX_BODY_BYTES, refused
from Content-Length before the body is read), its signature (401) and its shape (400). Each refusal is one log
line, never a traceback. gunicorn serves the app through `web_server.AsgiBridge` (see gunicorn.conf.py), and
`python bot.py` through `web_server.BufferingHTTPServer`: both read the whole request before a thread runs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time

from services.background import RELEASED_AFTER_RESPONSE, release_handoff

_logger = logging.getLogger("deletion_jobs.web")

EVENTS_PATH = "/slack/events"
# Slack's real bodies for this bot are a few KB: a slash command, or a click on an ephemeral list (Slack leaves
# the message out). A click on a 20-job page posted in a channel, which carries the whole message with every
# 2,000-character button value, is about 85 KB (tests/unit/test_web_ingress.py builds it). 256 KB leaves three
# times that, and keeps what an unsigned request can make a process hold to that much.
MAX_BODY_BYTES = 256 * 1024
# Slack's rule (FACTS.md): a request more than 5 minutes old, or that far ahead of our clock, is refused.
SIGNATURE_MAX_AGE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")


class Refused(Exception):
    """A request answered with `status` and no work done; `reason` is the one log line (never request data)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_body(environ, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (413) from its Content-Length before it is read when it is over `limit`.

    Without a Content-Length the server must say the body is terminated (gunicorn does for chunked bodies, and
    so do web_server's servers); then at most `limit` + 1 bytes are read. Otherwise 411: reading could block.
    """
    stream = environ.get("wsgi.input")
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        if not _CONTENT_LENGTH.fullmatch(declared):
            raise Refused(400, "Content-Length is not a number")
        length = int(declared)
        if length > limit:
            raise Refused(413, f"a body of {length} bytes is over the {limit}-byte limit")
        body = stream.read(length) if length and stream is not None else b""
        if len(body) != length:
            raise Refused(400, "the body is shorter than its Content-Length")
        return body
    if not environ.get("wsgi.input_terminated") or stream is None:
        raise Refused(411, "no Content-Length")
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise Refused(413, f"a body of unknown length is over the {limit}-byte limit")
    return body


def verify_signature(signing_secret: bytes, environ, body: bytes, now: float) -> None:
    """Slack's v0 signature over the raw bytes (FACTS.md), checked before anything parses them: 401 if wrong."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "no valid X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
        raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes away")
    mac = hmac.new(signing_secret, f"v0:{timestamp}:".encode(), hashlib.sha256)
    mac.update(body)
    expected = b"v0=" + mac.hexdigest().encode()
    if not hmac.compare_digest(expected, signature.encode("latin-1", errors="replace")):
        raise Refused(401, "bad X-Slack-Signature")


def parse_slack_request(environ, body: bytes):
    """The BoltRequest for a signed body; 400 when it is not UTF-8, not a payload Bolt can read, or malformed."""
    from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
    from slack_bolt.request import BoltRequest

    from handlers.payloads import payload_problem

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    try:
        request = BoltRequest(
            body=text, query=environ.get("QUERY_STRING", ""), headers=WsgiHttpRequest(environ).get_headers()
        )
    # Bolt's parser raises whatever json, parse_qsl or its extractors raise (JSONDecodeError, RecursionError for
    # deep nesting, AttributeError for a payload that is a list): all of them mean "not a Slack payload".
    except Exception as err:  # noqa: BLE001
        raise Refused(400, f"the body is not a Slack payload ({type(err).__name__})") from None
    if not isinstance(request.body, dict):
        raise Refused(400, "the body is not a Slack payload")
    _form_body_repair(request)
    problem = payload_problem(request.body)
    if problem:
        raise Refused(400, problem)
    return request


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


class SlackEvents:
    """POST /slack/events: the three gates, then Bolt."""

    def __init__(self, bolt_app, signing_secret: str, *, max_body: int = MAX_BODY_BYTES, clock=time.time,
                 metrics=None):
        self._app = bolt_app
        self._secret = signing_secret.encode()
        self._max_body = max_body
        self._clock = clock
        self._metrics = metrics

    def __call__(self, environ, start_response):
        from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

        started = time.perf_counter()
        try:
            body = read_body(environ, self._max_body)
            verify_signature(self._secret, environ, body, self._clock())
            request = parse_slack_request(environ, body)
        except Refused as refusal:
            _logger.warning("refused a request to %s: %d, %s", EVENTS_PATH, refusal.status, refusal.reason)
            return plain_response(start_response, refusal.status)
        # The listener's work waits until the answer is written: the server calls close() then (see AfterResponse).
        request.context[RELEASED_AFTER_RESPONSE] = True
        try:
            answer = self._app.dispatch(request)
            if self._metrics is not None:
                # From a complete request to Bolt's answer: what Slack waits for, less the network.
                self._metrics.ack(time.perf_counter() - started)
            response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
            start_response(response.status, response.get_headers())
        except BaseException:
            release_handoff(request.context)  # no answer to close: the work must not wait for one
            raise
        return AfterResponse(response.get_body(), lambda: release_handoff(request.context))


class AfterResponse:
    """A WSGI answer whose `close()` starts the request's background work. WSGI servers call close() once the
    answer is sent (PEP 3333; web_server's servers after writing it), so that work never competes with the
    acknowledgement for the interpreter before it is on the wire."""

    def __init__(self, chunks: list[bytes], then):
        self._chunks = chunks
        self._then = then

    def __iter__(self):
        return iter(self._chunks)

    def close(self) -> None:
        self._then()


def plain_response(start_response, status: int, body: bytes | None = None, *,
                   content_type: str = "text/plain; charset=utf-8"):
    from http import HTTPStatus

    phrase = HTTPStatus(status).phrase
    body = phrase.encode() if body is None else body
    start_response(f"{status} {phrase}", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def metrics_content_type() -> str:
    from services.metrics import CONTENT_TYPE

    return CONTENT_TYPE


def create_wsgi_app(bolt_app, signing_secret: str, *, metrics=None, scheduler_status=None):
    """The bot's WSGI app: POST /slack/events through SlackEvents, GET /healthz (which says nothing secret),
    GET /metrics when `metrics` (services.metrics.Metrics) is given.

    `scheduler_status()` says what this process's scheduler is doing ("leading" or "standby"); without one,
    /healthz says "off": this process runs no scheduler.
    """
    slack = SlackEvents(bolt_app, signing_secret, metrics=metrics)

    def application(environ, start_response):
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method in ("GET", "HEAD"):
            scheduler = scheduler_status() if scheduler_status is not None else "off"
            body = json.dumps({"status": "ok", "scheduler": scheduler}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics" and method in ("GET", "HEAD") and metrics is not None:
            return plain_response(start_response, 200, metrics.exposition(), content_type=metrics_content_type())
        if path == EVENTS_PATH and method == "POST":
            return slack(environ, start_response)
        return plain_response(start_response, 404)

    return application


def make_http_server(wsgi_app, host: str = "0.0.0.0", port: int = 3000, **options):
    """`python bot.py`'s server (and the tests'; port 0 picks a free one): see web_server.BufferingHTTPServer."""
    from web_server import BufferingHTTPServer

    return BufferingHTTPServer(wsgi_app, host, port, max_body=MAX_BODY_BYTES, **options)


def create_asgi_app(wsgi_app):
    """`wsgi_app` as an ASGI app, for gunicorn's asyncio `asgi` worker: requests are read holding no thread."""
    from web_server import AsgiBridge

    return AsgiBridge(wsgi_app, max_body=MAX_BODY_BYTES)


# gunicorn's "App failed to load" exit code: its master then stops, instead of re-forking workers that can
# never start and printing the same settings error forever.
APP_LOAD_ERROR = 4


def create_app():
    """gunicorn's factory (`gunicorn 'web:create_app()'`): settings from the environment, never a scheduler.

    It returns the ASGI app gunicorn.conf.py's `asgi` worker serves (see web_server.AsgiBridge). Its
    `shutdown()`, which the `worker_exit` hook calls, finishes the answers that were acknowledged but not yet
    posted to Slack before the worker process goes.
    """
    import sys

    from app_factory import build_app, build_services
    from config import load_settings
    from config.logging import configure_logging
    from runtime.startup import StartupFailed, startup_errors_reported

    try:
        with startup_errors_reported():
            settings = load_settings()
            configure_logging(settings.log_level)
            services = build_services(settings)
    except StartupFailed:
        sys.exit(APP_LOAD_ERROR)
    application = create_asgi_app(
        create_wsgi_app(build_app(settings, services), settings.slack_signing_secret.get_secret_value(),
                        metrics=services.metrics)
    )

    def finish_answers() -> None:
        _logger.info("worker stopping: finishing the answers still owed to Slack")
        services.background.shutdown(wait=True)

    application.on_shutdown = finish_answers
    return application

"""The bot's long-running processes: the Slack app (HTTP or Socket Mode) with or without the scheduler, and the
scheduler alone (the Procfile's clock). `bot.py` parses the command line and calls these.
"""

from __future__ import annotations

import logging
import threading

from app_factory import build_app, build_services
from config import Settings, SettingsError
from runtime.signals import on_stop_signal, wait_for_stop_signal

logger = logging.getLogger("deletion_jobs.bot")


def serve_http(app, settings: Settings) -> None:
    """HTTP on $PORT through the same WSGI app gunicorn serves (web_server.BufferingHTTPServer: idle and slow
    connections time out, and a few threads run complete requests)."""
    from web import create_wsgi_app, make_http_server

    wsgi_app = create_wsgi_app(app, settings.slack_signing_secret.get_secret_value())
    server = make_http_server(wsgi_app, "0.0.0.0", settings.port)
    logger.info("listening for Slack on http://0.0.0.0:%d/slack/events", settings.port)
    with on_stop_signal(server.shutdown, stopping="the HTTP server"):
        server.serve_forever()


def serve_socket_mode(app, settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    stopped = threading.Event()
    with on_stop_signal(stopped.set, stopping="the Socket Mode connection"):
        _connect(handler)
        try:
            # SIGTERM or Ctrl-C sets the event; the answers already acknowledged are then finished by run_bot's
            # BackgroundRunner shutdown.
            stopped.wait()
        finally:
            handler.close()


def _connect(handler) -> None:
    from slack_sdk.errors import SlackApiError

    from services.slack.error_code import slack_error_code

    logger.info("connecting to Slack in Socket Mode")
    try:
        handler.connect()
    except SlackApiError as err:
        raise SettingsError(
            f"Slack refused SLACK_APP_TOKEN ({slack_error_code(err)}): generate an app-level token with the"
            " connections:write scope on the app's Basic Information page, or unset SLACK_APP_TOKEN to serve over HTTP"
        ) from None


def run_bot(settings: Settings) -> int:
    services = build_services(settings)
    app = build_app(settings, services)
    scheduler = start_scheduler(services) if settings.run_scheduler else None
    try:
        if settings.slack_app_token:
            serve_socket_mode(app, settings)
        else:
            serve_http(app, settings)
    finally:
        stop_scheduler(scheduler, services)
        services.background.shutdown(wait=True)
    return 0


def start_scheduler(services):
    """Start the digest scheduler, and the watch poll, in a background thread (services/scheduling/scheduler.py);
    it has `.shutdown(wait)`.

    Only one process may run it: `python bot.py` when RUN_SCHEDULER is true, or the Procfile's clock process.
    """
    from services.scheduling.scheduler import DigestScheduler

    # The scheduler stores DIGEST_CHANNELS as subscriptions itself, and retries that until it works.
    scheduler = DigestScheduler(services.digest, services.digest.subscriptions, services.digest_schedule,
                                watch_poller=services.watch_poller,
                                watch_poll_seconds=getattr(services.watch_poller, "poll_seconds", 60))
    scheduler.start()
    return scheduler


def run_scheduler_process(settings: Settings) -> int:
    """`python bot.py scheduler`: the digest scheduler until SIGTERM or Ctrl-C."""
    services = build_services(settings)
    scheduler = start_scheduler(services)
    try:
        wait_for_stop_signal(stopping="the digest scheduler")
    finally:
        stop_scheduler(scheduler, services)
    return 0


def stop_scheduler(scheduler, services) -> None:
    """A digest that is posting finishes the post in flight (marked) and releases the rest, then the scheduler
    stops: nothing is left claimed until the TTL, and nothing waits for a whole digest."""
    if scheduler is None:
        return
    services.digest.request_stop()
    scheduler.shutdown(wait=True)

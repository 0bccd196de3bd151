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


def serve_http(app, settings: Settings, services=None, scheduler=None) -> None:
    """HTTP on $PORT through the same WSGI app gunicorn serves (web_server.BufferingHTTPServer: idle and slow
    connections time out, and a few threads run complete requests)."""
    from web import create_wsgi_app, make_http_server

    wsgi_app = create_wsgi_app(app, settings.slack_signing_secret.get_secret_value(),
                               metrics=getattr(services, "metrics", None),
                               scheduler_status=getattr(scheduler, "status", None))
    server = make_http_server(wsgi_app, "0.0.0.0", settings.port)
    logger.info("listening for Slack on http://0.0.0.0:%d/slack/events", settings.port)
    with on_stop_signal(server.shutdown, stopping="the HTTP server"):
        server.serve_forever()


def serve_socket_mode(app, settings: Settings, services=None) -> None:
    from runtime.socket_mode import MeteredSocketModeHandler, close_cleanly

    handler = MeteredSocketModeHandler(app, settings.slack_app_token.get_secret_value(),
                                       metrics=getattr(services, "metrics", None))
    stopped = threading.Event()
    with on_stop_signal(stopped.set, stopping="the Socket Mode connection"):
        _connect(handler)
        try:
            # SIGTERM or Ctrl-C sets the event; the answers already acknowledged are then finished by run_bot's
            # BackgroundRunner shutdown.
            stopped.wait()
        finally:
            close_cleanly(handler)


def serve_metrics_port(settings: Settings, services):
    """GET /metrics on METRICS_PORT, for a process with no HTTP server of its own; None when it is not set."""
    if settings.metrics_port is None:
        return None
    from services.metrics import serve_metrics

    server, _thread = serve_metrics(services.metrics, settings.metrics_port)
    logger.info("metrics at http://0.0.0.0:%d/metrics", settings.metrics_port)
    return server


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
    scheduler = start_scheduler(services, lease_seconds=settings.scheduler_lease_seconds) \
        if settings.run_scheduler else None
    metrics_server = None
    try:
        if settings.slack_app_token:
            metrics_server = serve_metrics_port(settings, services)
            serve_socket_mode(app, settings, services)
        else:
            serve_http(app, settings, services, scheduler)
    finally:
        stop_scheduler(scheduler, services)
        if metrics_server is not None:
            metrics_server.shutdown()
        services.background.shutdown(wait=True)
    return 0


def start_scheduler(services, *, lease_seconds: float = 30.0):
    """Start the digest scheduler, and the watch poll, in a background thread (services/scheduling/scheduler.py);
    it has `.shutdown(wait)` and `.status()`.

    Any number of processes may run it (`python bot.py` when RUN_SCHEDULER is true, the Procfile's clock process)
    on any number of machines sharing DATABASE_URL: the one holding the lease runs the jobs, the others stand by.
    """
    from services.scheduling.lease import SchedulerLease
    from services.scheduling.scheduler import DigestScheduler

    # The scheduler stores DIGEST_CHANNELS as subscriptions itself, and retries that until it works.
    lease = SchedulerLease(services.state.engine, lease_seconds=lease_seconds)
    scheduler = DigestScheduler(services.digest, services.digest.subscriptions, services.digest_schedule,
                                watch_poller=services.watch_poller,
                                watch_poll_seconds=getattr(services.watch_poller, "poll_seconds", 60),
                                lease=lease, metrics=services.metrics)
    scheduler.start()
    return scheduler


def run_scheduler_process(settings: Settings) -> int:
    """`python bot.py scheduler`: the digest scheduler until SIGTERM or Ctrl-C."""
    services = build_services(settings)
    metrics_server = serve_metrics_port(settings, services)
    scheduler = start_scheduler(services, lease_seconds=settings.scheduler_lease_seconds)
    try:
        wait_for_stop_signal(stopping="the digest scheduler")
    finally:
        # A digest that is posting finishes its post in flight and releases the rest; then the lease is released,
        # so another scheduler takes over at once.
        stop_scheduler(scheduler, services)
        if metrics_server is not None:
            metrics_server.shutdown()
    return 0


def stop_scheduler(scheduler, services) -> None:
    """A digest that is posting finishes the post in flight (marked) and releases the rest, then the scheduler
    stops: nothing is left claimed until the TTL, and nothing waits for a whole digest."""
    if scheduler is None:
        return
    services.digest.request_stop()
    scheduler.shutdown(wait=True)

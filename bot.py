"""deletion-jobs bot: the entry point. All wiring happens here, in `build_services` and `build_app`.

    python bot.py                 Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP on $PORT)
                                  plus the digest scheduler unless RUN_SCHEDULER=false
    python bot.py scheduler       only the digest scheduler (the Procfile's clock process)
    python bot.py digest          one digest now: [--channel C] [--dry-run]
    python bot.py demo            a local console demo: no Slack or AWS account needed
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from config import Settings, SettingsError, load_settings
from config.logging import configure_logging

logger = logging.getLogger("deletion_jobs.bot")

# One chat.postMessage can take three 10 s timeouts, a capped Retry-After wait and back-off: about 2 minutes.
MIN_SAFE_CLAIM_TTL_MINUTES = 3

# Bolt's own pool only runs ack() and hands work on, so it never waits on AWS.
BOLT_LISTENER_THREADS = 16


def build_web_client(settings: Settings, *, with_token: bool = True):
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

    from services.slack_retry import CappedRateLimitRetryHandler, rate_limit_wait_cap

    kwargs = {"base_url": settings.slack_api_url} if settings.slack_api_url else {}
    return WebClient(
        token=settings.slack_bot_token.get_secret_value() if with_token else None,
        timeout=10,
        # No ConnectionErrorRetryHandler: a post whose connection dropped may have reached Slack, and sending it
        # again would post a digest twice. The ledger releases it instead and the next run offers it again.
        retry_handlers=[
            # Waiting out a long Retry-After would outlive the digest's ledger claims (services/slack_retry.py).
            CappedRateLimitRetryHandler(max_retry_count=2, max_wait_seconds=rate_limit_wait_cap(
                timedelta(minutes=settings.digest_claim_ttl_minutes))),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
        **kwargs,
    )


def build_state(settings: Settings):
    from services.state import StateStore

    store = StateStore.from_url(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    store.create_schema()
    return store


def build_services(settings: Settings, *, state=None, gateway=None):
    """Every service the Slack handlers use, built from settings (clients are made here, after any fork)."""
    from handlers.digest_commands import DigestCommands
    from services.access import AccessPolicy
    from services.audit import AuditLog
    from services.background import BackgroundRunner
    from services.container import Services
    from services.cursor import CursorCodec
    from services.dataset_groups import DatasetGroupResolver
    from services.delivery import ResponseDelivery
    from services.digest import DigestService
    from services.digest_store import DigestLedger, SubscriptionStore
    from services.listing import JobListing
    from services.paging import DeletionJobPager
    from services.personalize import PersonalizeGateway
    from services.scheduling import DigestSchedule
    from services.state import CursorStore

    # services.digest_store is imported above, before build_state creates the schema: its tables are declared
    # on the shared metadata.
    if settings.digest_claim_ttl_minutes < MIN_SAFE_CLAIM_TTL_MINUTES:
        logger.warning(
            "DIGEST_CLAIM_TTL_MINUTES=%s is shorter than one digest post can take (%s minutes with Slack's timeouts"
            " and retries): a slow post could then be repeated by another run", settings.digest_claim_ttl_minutes,
            MIN_SAFE_CLAIM_TTL_MINUTES,
        )
    state = state or build_state(settings)
    gateway = gateway or PersonalizeGateway.from_settings(settings)
    access = AccessPolicy.from_settings(settings)
    ttl = timedelta(hours=settings.cursor_ttl_hours)
    codec = CursorCodec(settings.cursor_secret, CursorStore(state.engine, ttl=ttl), ttl_seconds=ttl.total_seconds())
    pager = DeletionJobPager(
        gateway,
        page_size=settings.page_size,
        max_calls=settings.max_api_calls_per_page,
        visible=access.job_visible if access.restricts_groups else None,
    )
    # One resolver, one cached ListDatasetGroups answer, for the listing and the digest alike.
    resolver = DatasetGroupResolver(gateway, visible=access.group_allowed)
    listing = JobListing(pager, resolver, codec, gateway, access)
    digest_schedule = DigestSchedule.from_settings(settings)
    digest_slack = build_web_client(settings)
    digest = DigestService.from_settings(
        settings,
        gateway=gateway,
        subscriptions=SubscriptionStore(state.engine),
        ledger=DigestLedger(state.engine, claim_ttl=timedelta(minutes=settings.digest_claim_ttl_minutes)),
        slack_client=digest_slack,
        resolver=resolver,
        access=access,
    )
    digest_commands = DigestCommands(
        digest.subscriptions, digest, resolver, access, digest_slack, digest_schedule,
        configured_channels=settings.digest_channels,
    )
    return Services(
        listing=listing,
        access=access,
        audit=AuditLog(gateway),
        background=BackgroundRunner(settings.worker_threads),
        delivery=ResponseDelivery(),
        digest_commands=digest_commands,
        digest=digest,
    )


def build_app(settings: Settings, services):
    """The Bolt app with every listener registered."""
    from slack_bolt import App

    import handlers

    # Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that our client wins; it does, by
    # design (the client carries SLACK_API_URL and the retry handlers), so that start-up warning is noise.
    logging.getLogger("slack_bolt.App").addFilter(_DROP_CLIENT_PRIORITISED_WARNING)
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # The token comes from `authorize` per request; this client only carries SLACK_API_URL and retries.
        client=build_web_client(settings, with_token=False),
        # Without this, Bolt calls auth.test before the first ack() of every process (and on every request
        # while Slack's API is unreachable): a slow or unreachable Slack API would miss the 3-second ack.
        authorize=_configured_token(settings.slack_bot_token.get_secret_value()),
        listener_executor=ThreadPoolExecutor(max_workers=BOLT_LISTENER_THREADS, thread_name_prefix="bolt"),
    )
    handlers.register(app, services)
    return app


def _configured_token(token: str):
    """Bolt `authorize` for a single-workspace app: the configured bot token, with no network call."""
    from slack_bolt.authorization import AuthorizeResult

    def authorize(enterprise_id, team_id, user_id):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    return authorize


class _DropClientPrioritisedWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


# One instance, so building several apps (tests, the demo) adds the filter once: addFilter skips a repeat.
_DROP_CLIENT_PRIORITISED_WARNING = _DropClientPrioritisedWarning()


def serve_http(app, settings: Settings) -> None:
    """HTTP on $PORT through the same WSGI app gunicorn serves, with a threaded server."""
    from web import create_wsgi_app, make_http_server

    server = make_http_server(create_wsgi_app(app), "0.0.0.0", settings.port)
    logger.info("listening for Slack on http://0.0.0.0:%d/slack/events", settings.port)
    _stop_on_sigterm(server.shutdown)
    server.serve_forever()


def serve_socket_mode(app, settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    stopped = threading.Event()
    _stop_on_sigterm(stopped.set)
    logger.info("connecting to Slack in Socket Mode")
    try:
        handler.connect()
    except SlackApiError as err:
        code = err.response.get("error") if isinstance(err.response.data, dict) else err.response.status_code
        raise SettingsError(
            f"Slack refused SLACK_APP_TOKEN ({code}): generate an app-level token with the connections:write scope"
            " on the app's Basic Information page, or unset SLACK_APP_TOKEN to serve over HTTP"
        ) from None
    try:
        # Ctrl-C raises KeyboardInterrupt here; SIGTERM sets the event. Either way the answers already
        # acknowledged are finished by run_bot's BackgroundRunner shutdown.
        while not stopped.wait(1.0):
            pass
    finally:
        handler.close()


def _stop_on_sigterm(stop) -> None:
    def handler(_signum, _frame):
        logger.info("SIGTERM received, shutting down")
        threading.Thread(target=stop, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def run_bot(settings: Settings) -> int:
    services = build_services(settings)
    app = build_app(settings, services)
    scheduler = start_scheduler(settings, services) if settings.run_scheduler else None
    try:
        if settings.slack_app_token:
            serve_socket_mode(app, settings)
        else:
            serve_http(app, settings)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        services.background.shutdown(wait=True)
    return 0


def start_scheduler(settings: Settings, services):
    """Start the digest scheduler in a background thread (see services/scheduling.py); it has `.shutdown(wait)`.

    Only one process may run it: `python bot.py` when RUN_SCHEDULER is true, or the Procfile's clock process.
    """
    from services.scheduling import DigestSchedule, DigestScheduler

    if services.digest is None:
        return None
    # The scheduler stores DIGEST_CHANNELS as subscriptions itself, and retries that until it works.
    scheduler = DigestScheduler(services.digest, services.digest.subscriptions, DigestSchedule.from_settings(settings))
    scheduler.start()
    return scheduler


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot.py", description="deletion-jobs bot for Slack")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the Slack app (the default)")
    sub.add_parser("scheduler", help="run only the digest scheduler (the Procfile's clock process)")
    digest = sub.add_parser("digest", help="post one digest now, for every subscription, and exit")
    digest.add_argument("--channel", metavar="C", help="only this channel's subscription (a channel id)")
    digest.add_argument("--dry-run", action="store_true",
                        help="print the messages as JSON instead of posting them; marks nothing as reported")
    demo = sub.add_parser("demo", help="local console demo: the real bot, a Personalize emulator, no accounts")
    demo.add_argument("--script", nargs="*", metavar="INPUT",
                      help='inputs to run in order, then exit (e.g. "/deletion-jobs failed" next)')
    demo.add_argument("--verbose", action="store_true", help="show the bot's INFO log (default: warnings only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "demo":
        # Before settings: the demo makes its own, so it runs with no Slack or AWS account configured.
        from devtools.demo import run_demo

        return run_demo(args.script, verbose=args.verbose)
    try:
        settings = load_settings()
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    from services.state import StateStoreUnavailable

    try:
        if args.command in (None, "serve"):
            return run_bot(settings)
        if args.command == "scheduler":
            from digest_cli import wait_for_stop_signal

            services = build_services(settings)
            scheduler = start_scheduler(settings, services)
            try:
                wait_for_stop_signal()
            finally:
                # Lets a digest that is posting finish, so its claims are marked rather than left to expire.
                scheduler.shutdown(wait=True)
            return 0
        if args.command == "digest":
            from digest_cli import run_digest_once

            return run_digest_once(build_services(settings).digest, channel=args.channel, dry_run=args.dry_run)
    except SettingsError as err:
        # DIGEST_SCHEDULE or DIGEST_DATASET_GROUP that cannot be used: found when the digest is built.
        print(err, file=sys.stderr)
        return 2
    except StateStoreUnavailable as err:
        logger.error("%s. Check DATABASE_URL and that the database is running.", err)
        print(f"deletion-jobs bot cannot start: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

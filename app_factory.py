"""The app and service factory: every entry point (bot.py, web.py, devtools/, bench/) builds the bot here.

`build_services(settings)` makes the clients (after any fork) and every service; `build_app(settings, services)`
makes the Bolt app with every listener registered. Nothing here reads the environment: settings come in.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

import handlers
from blocks.digest import render_digest, render_no_failures
from blocks.home import (
    render_details_modal,
    render_error_modal,
    render_home,
    render_home_unavailable,
    render_home_unreadable,
    render_loading_modal,
)
from blocks.watch import render_watch_notice
from config import Settings
from services.access import AccessPolicy
from services.audit import AuditLog
from services.aws.dataset_groups import DatasetGroupResolver
from services.aws.personalize import PersonalizeGateway
from services.background import RELEASED_AFTER_RESPONSE, BackgroundRunner, release_handoff
from services.container import Services
from services.digest.attention import AttentionRules
from services.digest.commands import DigestCommands
from services.digest.post import ChannelPacer
from services.digest.render import DigestRenderer
from services.digest.service import DigestService
from services.export.service import ExportService
from services.export.upload import DirectMessageUploader
from services.home.service import HomeRenderers, HomeTab
from services.home.snapshot import SharedSnapshot, SnapshotReader
from services.home.view_model import HomeModelBuilder
from services.listing.cursor import CursorCodec
from services.listing.listing import JobListing
from services.listing.paging import DeletionJobPager
from services.metrics import Metrics
from services.scheduling.scheduler import DigestSchedule
from services.slack.dedupe import RequestDeduplicator
from services.slack.delivery import ResponseDelivery
from services.slack.retry import CappedRateLimitRetryHandler, rate_limit_wait_cap
from services.storage.coordination import DeliveryLog
from services.storage.export_leases import ExportLeases
from services.storage.home_store import HomeSnapshotStore
from services.storage.ledger import DigestLedger
from services.storage.store import CursorStore, StateStore
from services.storage.subscriptions import SubscriptionStore
from services.storage.watches import WatchStore
from services.watches.poller import WatchPoller
from services.watches.service import WatchService

logger = logging.getLogger("deletion_jobs.factory")

# One chat.postMessage can take three 10 s timeouts, a capped Retry-After wait and back-off: about 2 minutes.
MIN_SAFE_CLAIM_TTL_MINUTES = 3


def build_web_client(settings: Settings, *, with_token: bool = True, server_retries: bool = True):
    """The Slack client. `server_retries=False` (watch messages): a 500 may come after Slack posted, so it is
    not retried blindly; the watch poller looks for the message in the DM first."""
    kwargs = {"base_url": settings.slack_api_url} if settings.slack_api_url else {}
    # Waiting out a long Retry-After would outlive the digest's ledger claims (services/slack/retry.py).
    retry_handlers = [CappedRateLimitRetryHandler(max_retry_count=2, max_wait_seconds=rate_limit_wait_cap(
        timedelta(minutes=settings.digest_claim_ttl_minutes)))]
    if server_retries:
        retry_handlers.append(ServerErrorRetryHandler(max_retry_count=2))
    return WebClient(
        token=settings.slack_bot_token.get_secret_value() if with_token else None,
        timeout=10,
        # No ConnectionErrorRetryHandler: a post whose connection dropped may have reached Slack, and sending it
        # again would post a digest twice. The ledger releases it instead and the next run offers it again.
        retry_handlers=retry_handlers,
        **kwargs,
    )


def build_state(settings: Settings):

    store = StateStore.from_url(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    store.create_schema()
    return store


def build_services(settings: Settings, *, state=None, gateway=None, metrics=None):
    """Every service the Slack handlers use, built from settings (clients are made here, after any fork)."""
    if settings.digest_claim_ttl_minutes < MIN_SAFE_CLAIM_TTL_MINUTES:
        logger.warning(
            "DIGEST_CLAIM_TTL_MINUTES=%s is shorter than one digest post can take (%s minutes with Slack's timeouts"
            " and retries): a slow post could then be repeated by another run", settings.digest_claim_ttl_minutes,
            MIN_SAFE_CLAIM_TTL_MINUTES,
        )
    state = state or build_state(settings)
    metrics = metrics or Metrics()
    gateway = gateway or PersonalizeGateway.from_settings(settings, metrics=metrics)
    access = AccessPolicy.from_settings(settings)
    # One resolver, one cached ListDatasetGroups answer, for the listing and the digest alike.
    resolver = DatasetGroupResolver(gateway, visible=access.group_allowed)
    # One schedule for the subscribe answers and the scheduler; it validates DIGEST_SCHEDULE once.
    schedule = DigestSchedule.from_settings(settings)
    digest, digest_commands = build_digest(settings, state, gateway, resolver, access, schedule, metrics=metrics)
    audit = AuditLog(gateway, metrics=metrics)
    watches, watch_poller = build_watches(settings, state, gateway, resolver, access, audit)
    listing = build_listing(settings, state, gateway, resolver, access)
    return Services(
        listing=listing,
        access=access,
        audit=audit,
        background=BackgroundRunner(settings.worker_threads),
        delivery=ResponseDelivery(),
        digest_commands=digest_commands,
        digest=digest,
        digest_schedule=schedule,
        home=build_home(settings, state, gateway, resolver, access, listing, digest.subscriptions, schedule,
                        watches),
        watches=watches,
        watch_poller=watch_poller,
        metrics=metrics,
        dedupe=RequestDeduplicator(DeliveryLog(state.engine), metrics=metrics),
        state=state,
        export=build_export(settings, gateway, resolver, access, leases=ExportLeases(state.engine)),
        export_uploader=DirectMessageUploader(build_web_client(settings)),
    )


def build_watches(settings: Settings, state, gateway, resolver, access, audit) -> tuple[WatchService, WatchPoller]:
    """Watches share the digest's claim TTL: both hold a claim across one Slack post."""
    store = WatchStore(state.engine, claim_ttl=timedelta(minutes=settings.digest_claim_ttl_minutes))
    poller = WatchPoller(
        gateway, store, build_web_client(settings, server_retries=False), access, render_watch_notice, audit=audit,
        max_calls=settings.watch_max_calls_per_poll, max_age=timedelta(days=settings.watch_max_days),
        pacer=ChannelPacer(), poll_seconds=settings.watch_poll_seconds,
    )
    return WatchService(gateway, resolver, access, store), poller


def build_export_command_line(settings: Settings) -> tuple[ExportService, AuditLog]:
    """`python bot.py export`: the export service and an audit log, with no database and no Slack client."""
    gateway = PersonalizeGateway.from_settings(settings)
    return build_export(settings, gateway), AuditLog(gateway)


def build_export(settings: Settings, gateway=None, resolver=None, access=None, *, leases=None) -> ExportService:
    """The export service; `python bot.py export` builds it alone (no database, no Slack), Slack with leases."""
    gateway = gateway or PersonalizeGateway.from_settings(settings)
    access = access or AccessPolicy.from_settings(settings)
    resolver = resolver or DatasetGroupResolver(gateway, visible=access.group_allowed)
    return ExportService.from_settings(settings, gateway=gateway, resolver=resolver, access=access, leases=leases)


def build_listing(settings: Settings, state, gateway, resolver, access) -> JobListing:
    ttl = timedelta(hours=settings.cursor_ttl_hours)
    codec = CursorCodec(settings.cursor_secret, CursorStore(state.engine, ttl=ttl), ttl_seconds=ttl.total_seconds())
    pager = DeletionJobPager(
        gateway,
        page_size=settings.page_size,
        max_calls=settings.max_api_calls_per_page,
        visible=access.job_visible if access.restricts_groups else None,
    )
    return JobListing(pager, resolver, codec, gateway, access)


def build_digest(settings: Settings, state, gateway, resolver, access, schedule: DigestSchedule, *,
                 metrics=None) -> tuple[DigestService, DigestCommands]:
    digest_slack = build_web_client(settings)
    digest = DigestService.from_settings(
        settings,
        gateway=gateway,
        subscriptions=SubscriptionStore(state.engine),
        ledger=DigestLedger(state.engine, claim_ttl=timedelta(minutes=settings.digest_claim_ttl_minutes)),
        slack_client=digest_slack,
        # services never import blocks/: the digest's Block Kit is handed in here.
        renderer=DigestRenderer(render_digest, render_no_failures),
        resolver=resolver,
        access=access,
        metrics=metrics,
    )
    digest_commands = DigestCommands(
        digest.subscriptions, digest, resolver, access, digest_slack, schedule,
        configured_channels=settings.digest_channels,
    )
    return digest, digest_commands


def build_home(settings: Settings, state, gateway, resolver, access, listing, subscriptions,
               schedule: DigestSchedule, watches: WatchService) -> HomeTab:
    """The Home tab: one read of the account per HOME_REFRESH_SECONDS, shared through the state store; the
    digest's stuck-job and full-queue rules; each person's watches."""
    rules = AttentionRules.from_settings(settings)
    reader = SnapshotReader(gateway, resolver.groups, window=timedelta(days=settings.home_window_days),
                            max_calls=settings.home_max_api_calls, read_back=rules.lookback)
    store = HomeSnapshotStore(state.engine, key=f"{settings.aws_region}:{settings.home_window_days}d")
    # The lease outlives a read: the AWS deadline, one attempt started just before it, and a margin.
    snapshot = SharedSnapshot(store, reader, refresh_after=timedelta(seconds=settings.home_refresh_seconds),
                              lease_for=timedelta(seconds=settings.aws_deadline_seconds + 30))
    builder = HomeModelBuilder(access, subscriptions, schedule.describe, refresh_seconds=settings.home_refresh_seconds,
                               details_value=listing.details_value, watches=watches.watching, rules=rules)
    renderers = HomeRenderers(home=render_home, unavailable=render_home_unavailable, unreadable=render_home_unreadable,
                              loading_modal=render_loading_modal, details_modal=render_details_modal,
                              error_modal=render_error_modal)
    return HomeTab(snapshot, builder, build_web_client(settings), renderers, access, listing, watches=watches)


def build_app(settings: Settings, services):
    """The Bolt app with every listener registered, acknowledging inline (see InlineAckApp)."""
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that our client wins; it does, by
    # design (the client carries SLACK_API_URL and the retry handlers), so that start-up warning is noise.
    logging.getLogger("slack_bolt.App").addFilter(_DROP_CLIENT_PRIORITISED_WARNING)
    app = InlineAckApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # The token comes from `authorize` per request; this client only carries SLACK_API_URL and retries.
        client=build_web_client(settings, with_token=False),
        # Without this, Bolt calls auth.test before the first ack() of every process (and on every request
        # while Slack's API is unreachable): a slow or unreachable Slack API would miss the 3-second ack.
        authorize=_configured_token(settings.slack_bot_token.get_secret_value()),
        process_before_response=True,
    )
    handlers.register(app, services)
    return app


class InlineAckApp(App):
    """Bolt acknowledging in the request's own thread, at the cost of parsing and the signature check alone.

    Bolt's default runs each listener on a pool and polls for its ack() every 10 ms: an ack took 11-12 ms whatever
    the listener did. With `process_before_response=True` the listener runs in the request's thread and its
    ack() is the answer; every listener acks, then hands its slow half to the request's Handoff, which holds it
    until the acknowledgement is written. Servers that write it themselves (web.py, Socket Mode) mark the
    request and release the Handoff afterwards; for any other caller of `dispatch` it is released here, as
    dispatch returns. Lazy listeners were the other way: Bolt starts them before the listener's answer is
    returned, on the app's listener pool, so their work still competes with the ack.
    """

    def dispatch(self, req):
        try:
            return super().dispatch(req)
        finally:
            if not req.context.get(RELEASED_AFTER_RESPONSE):
                release_handoff(req.context)


def _configured_token(token: str):
    """Bolt `authorize` for a single-workspace app: the configured bot token, with no network call."""

    def authorize(enterprise_id, team_id, user_id):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    return authorize


class _DropClientPrioritisedWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


# One instance, so building several apps (tests, the demo) adds the filter once: addFilter skips a repeat.
_DROP_CLIENT_PRIORITISED_WARNING = _DropClientPrioritisedWarning()

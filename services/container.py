"""Services: what the handlers and processes need, built once by `app_factory.build_services`."""

from __future__ import annotations

from dataclasses import dataclass

from services.access import AccessPolicy
from services.audit import AuditLog
from services.background import BackgroundRunner
from services.digest.commands import DigestCommands
from services.digest.service import DigestService
from services.export.service import ExportService
from services.export.upload import DirectMessageUploader
from services.home.service import HomeTab
from services.listing.listing import JobListing
from services.metrics import Metrics
from services.scheduling.scheduler import DigestSchedule
from services.slack.dedupe import RequestDeduplicator
from services.slack.delivery import ResponseDelivery
from services.storage.store import StateStore
from services.watches.poller import WatchPoller
from services.watches.service import WatchService


@dataclass
class Services:
    listing: JobListing
    access: AccessPolicy
    audit: AuditLog
    background: BackgroundRunner
    delivery: ResponseDelivery
    # `/deletion-jobs digest …`: subscriptions from Slack, and `digest now`.
    digest_commands: DigestCommands
    # The digest itself, for the scheduler and `bot.py digest`.
    digest: DigestService
    # When digests run: the subscribe answers and the scheduler.
    digest_schedule: DigestSchedule
    # Watches (services.watches): the service for the handlers, the poller for the scheduler.
    watches: WatchService | None = None
    watch_poller: WatchPoller | None = None
    # Prometheus metrics, served at GET /metrics.
    metrics: Metrics | None = None
    # Every Slack request processed once; None checks nothing.
    dedupe: RequestDeduplicator | None = None
    # The state store: the scheduler's lease lives there.
    state: StateStore | None = None
    # CSV exports, and their upload to the requester's DM (app_factory always wires them; tests that build
    # Services by hand for other features may leave them out).
    export: ExportService | None = None
    export_uploader: DirectMessageUploader | None = None
    # The Home tab.
    home: HomeTab | None = None

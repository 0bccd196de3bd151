"""Services: what the handlers and processes need, built once by `app_factory.build_services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.access import AccessPolicy
from services.audit import AuditLog
from services.background import BackgroundRunner
from services.listing.listing import JobListing
from services.slack.delivery import ResponseDelivery


@dataclass
class Services:
    listing: JobListing
    access: AccessPolicy
    audit: AuditLog
    background: BackgroundRunner
    delivery: ResponseDelivery
    # Digest subscriptions from Slack; None until the digest is wired.
    digest_commands: Any = None
    # The digest itself (services.digest.DigestService), for the scheduler and `bot.py digest`.
    digest: Any = None
    # When digests run (services.scheduling.scheduler.DigestSchedule): the subscribe answers and the scheduler.
    digest_schedule: Any = None
    # Prometheus metrics (services.metrics.Metrics), served at GET /metrics.
    metrics: Any = None
    # Every Slack request processed once (services.slack.dedupe.RequestDeduplicator); None checks nothing.
    dedupe: Any = None
    # The state store (services.storage.store.StateStore): the scheduler's lease lives there.
    state: Any = None

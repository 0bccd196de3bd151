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
    # The Home tab (services.home.service.HomeTab).
    home: Any = None

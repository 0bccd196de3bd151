"""Plain data of an export: what was asked (ExportFilter), how far it got (ExportProgress), what it made
(ExportFile)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time


def start_of_day(day: date) -> datetime:
    """00:00 UTC of `day`."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class ExportFilter:
    """Jobs of one dataset group (None: every one the allowlist shows) and status (None: any), created in
    [since, until) UTC.

    `until` None means up to the moment of the export.
    """

    dataset_group_arn: str | None
    status: str | None
    since: date
    until: date | None = None
    # No dataset group asked for, and ALLOWED_DATASET_GROUPS limits which the file holds.
    allowed_groups_only: bool = False

    @property
    def since_moment(self) -> datetime:
        return start_of_day(self.since)

    @property
    def until_moment(self) -> datetime | None:
        return start_of_day(self.until) if self.until else None

    def as_audit(self) -> dict:
        return {"dataset_group": self.dataset_group_arn, "status": self.status, "since": self.since.isoformat(),
                "until": self.until.isoformat() if self.until else None}


@dataclass(frozen=True)
class ExportProgress:
    """`described` of `total` jobs have their DescribeDataDeletionJob details."""

    described: int
    total: int


@dataclass(frozen=True)
class ExportFile:
    """A finished export: the CSV bytes, their SHA-256, and what the message that comes with them states."""

    filter: ExportFilter
    filename: str
    data: bytes
    sha256: str
    by_status: tuple[tuple[str, int], ...]
    generated_at: datetime
    # A Slack user id, or the operating-system user of `python bot.py export`.
    generated_by: str
    # "Slack" or "the command line".
    generated_via: str
    scanned: int
    list_calls: int
    describe_calls: int

    @property
    def rows(self) -> int:
        return sum(count for _, count in self.by_status)

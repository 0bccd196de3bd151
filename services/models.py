"""Plain data the services pass around and `blocks/` renders: dataclasses and pure functions, no I/O.

Deletion jobs and dataset groups as Personalize describes them; the listing's queries, cursors and pages; the
digest's subscriptions and windows; an export's filter, progress and file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")
# Who made a digest subscription: a person in Slack, or the DIGEST_CHANNELS setting.
ORIGIN_SLACK = "slack"
ORIGIN_SETTINGS = "settings"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """An aware datetime: naive ones (SQLite hands them back even for timezone-aware columns) are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def dataset_group_name(arn: str) -> str:
    """`arn:…:dataset-group/media-feed` → `media-feed` (the ARN itself when it has no such part)."""
    _, sep, name = arn.rpartition("dataset-group/")
    return name if sep and name else arn


@dataclass(frozen=True)
class DeletionJob:
    arn: str
    name: str
    dataset_group_arn: str
    status: str
    created: datetime | None
    updated: datetime | None
    failure_reason: str | None = None

    @property
    def dataset_group_name(self) -> str:
        return dataset_group_name(self.dataset_group_arn)

    @classmethod
    def from_api(cls, item: dict) -> DeletionJob:
        return cls(
            arn=item.get("dataDeletionJobArn", ""),
            name=item.get("jobName", ""),
            dataset_group_arn=item.get("datasetGroupArn", ""),
            status=item.get("status", ""),
            created=item.get("creationDateTime"),
            updated=item.get("lastUpdatedDateTime"),
            failure_reason=item.get("failureReason"),
        )


@dataclass(frozen=True)
class DeletionJobDetails:
    job: DeletionJob
    num_deleted: int | None
    data_location: str | None
    role_arn: str | None

    @classmethod
    def from_api(cls, item: dict) -> DeletionJobDetails:
        return cls(
            job=DeletionJob.from_api(item),
            num_deleted=item.get("numDeleted"),
            data_location=(item.get("dataSource") or {}).get("dataLocation"),
            role_arn=item.get("roleArn"),
        )


@dataclass(frozen=True)
class DatasetGroup:
    name: str
    arn: str


@dataclass(frozen=True)
class JobsPage:
    """One `ListDataDeletionJobs` answer, and when it arrived (UTC; None when not known, e.g. a test's fake)."""

    jobs: list[DeletionJob]
    next_token: str | None
    read_at: datetime | None = None


# ---- the listing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """What the user asked to list."""

    dataset_group_arn: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Position:
    """A job's place in the listing (newest created first): its creation time, in microseconds, and its ARN."""

    created_us: int
    arn: str

    @classmethod
    def of(cls, job) -> Position:
        created = job.created if job.created.tzinfo else job.created.replace(tzinfo=UTC)
        return cls(created_us=(created - _EPOCH) // timedelta(microseconds=1), arn=job.arn)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: right after the job at `after` (None: the top), looked for from the API page `api_token`.

    `api_token` is the nextToken of the API page the walk was in (None for the first). New jobs shift an
    offset-based page; a position does not move, so the next page never repeats or skips a job.
    """

    query: ListQuery
    api_token: str | None = None
    after: Position | None = None
    page: int = 1
    shown: int = 0

    @classmethod
    def start(cls, query: ListQuery) -> Cursor:
        return cls(query=query)

    def advance(self, *, api_token: str | None, after: Position | None, shown_now: int) -> Cursor:
        return replace(self, api_token=api_token, after=after, page=self.page + 1, shown=self.shown + shown_now)


@dataclass(frozen=True)
class Page:
    """One page as the user sees it, and where the next one starts."""

    cursor: Cursor
    jobs: list[DeletionJob]
    next_cursor: Cursor | None
    scanned: int
    api_calls: int
    # True when the page stopped early (call budget or deadline): the button says Continue, not Next page.
    partial: bool = False
    # When the oldest API page it was built from was read from AWS, and when it was built (pages may be shared
    # between requests for LIST_CACHE_SECONDS); None when not known.
    read_at: datetime | None = None
    built_at: datetime | None = None

    @property
    def data_age(self) -> timedelta | None:
        """How old its data was when the page was built."""
        if self.read_at is None or self.built_at is None:
            return None
        return as_utc(self.built_at) - as_utc(self.read_at)

    @property
    def first_number(self) -> int:
        return self.cursor.shown + 1

    @property
    def last_number(self) -> int:
        return self.cursor.shown + len(self.jobs)


# ---- the digest -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A channel that gets the digest, of one dataset group (None: all), at its own time or the bot's schedule."""

    channel_id: str
    dataset_group_arn: str | None
    at_time: str | None
    timezone: str | None
    origin: str
    created_by: str | None
    created_at: datetime
    last_digest_at: datetime | None

    @classmethod
    def from_row(cls, row) -> Subscription:
        """From a row of the subscriptions table (anything with these attributes)."""
        return cls(
            channel_id=row.channel_id,
            dataset_group_arn=row.dataset_group_arn,
            at_time=row.at_time,
            timezone=row.timezone,
            origin=row.origin,
            created_by=row.created_by,
            created_at=as_utc(row.created_at),
            last_digest_at=as_utc(row.last_digest_at) if row.last_digest_at else None,
        )


def failure_time(job: DeletionJob) -> datetime | None:
    """When a FAILED job failed: its lastUpdatedDateTime (its creation time when AWS gives no update time)."""
    moment = job.updated or job.created
    return as_utc(moment) if moment else None


@dataclass(frozen=True)
class DigestWindow:
    """`since` is what the digest says ("failed since …"); failures in [read_from, until] are offered."""

    since: datetime
    until: datetime
    read_from: datetime
    first: bool

    def includes(self, job: DeletionJob) -> bool:
        moment = failure_time(job)
        return moment is not None and self.read_from <= moment <= self.until


# ---- watches (issue 11) ---------------------------------------------------------------------------------

# A job in these is still running; one in FINISHED_STATUSES will not change again.
RUNNING_STATUSES = ("PENDING", "IN_PROGRESS")
FINISHED_STATUSES = ("COMPLETED", "FAILED")
# How a watch ends with a message: the job finished, the watch outlived WATCH_MAX_DAYS, or AWS lost the job.
OUTCOME_EXPIRED = "EXPIRED"
OUTCOME_VANISHED = "VANISHED"


@dataclass(frozen=True)
class Watch:
    """One person watching one deletion job, as the state store keeps it.

    `outcome` is set once the watcher is owed a message: COMPLETED or FAILED (with `num_deleted`,
    `failure_reason`, `data_location` and `finished_at` from DescribeDataDeletionJob), EXPIRED or VANISHED.
    """

    id: int
    user_id: str
    job_arn: str
    job_name: str
    dataset_group_arn: str
    started_at: datetime
    last_status: str
    job_created_at: datetime | None = None
    last_checked_at: datetime | None = None
    outcome: str | None = None
    num_deleted: int | None = None
    failure_reason: str | None = None
    data_location: str | None = None
    finished_at: datetime | None = None

    @property
    def dataset_group_name(self) -> str:
        return dataset_group_name(self.dataset_group_arn)


# ---- what needs attention in a digest besides failures (issue 11; rules in services/digest/attention.py) -----


@dataclass(frozen=True)
class StuckJob:
    job: DeletionJob
    running_for: timedelta


@dataclass(frozen=True)
class FullQueue:
    dataset_group_arn: str
    pending: int


@dataclass(frozen=True)
class Attention:
    """A scope's stuck jobs (longest running first) and its groups with a full PENDING queue (fullest first)."""

    stuck: list[StuckJob] = field(default_factory=list)
    full_queues: list[FullQueue] = field(default_factory=list)
    stuck_after: timedelta = timedelta(hours=24)
    max_pending: int = 5

    def __bool__(self) -> bool:
        return bool(self.stuck or self.full_queues)


# ---- the Home tab ------------------------------------------------------------------------------------------

# Personalize accepts at most this many PENDING deletion jobs per dataset group (FACTS.md).
MAX_PENDING_JOBS = 5


@dataclass(frozen=True)
class GroupActivity:
    """One dataset group in a read of the account: its deletion jobs created in the window, by status; how many
    are PENDING now; when the last one failed; its recent failures (newest first, capped) and running jobs (oldest
    first, capped, for the stuck rule)."""

    arn: str
    name: str
    counts: dict[str, int]
    pending: int = 0
    last_failed_at: datetime | None = None
    recent_failures: tuple[DeletionJob, ...] = ()
    recent_failure_count: int = 0
    running: tuple[DeletionJob, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class HomeFailure:
    """A recent failure on someone's Home tab, with the value of its Details button (None: no button)."""

    job: DeletionJob
    failed_at: datetime | None
    details_value: str | None = None


@dataclass(frozen=True)
class HomeSubscription:
    subscription: Subscription
    schedule: str


@dataclass(frozen=True)
class HomeModel:
    """What one person's Home tab shows: the shared read of the account (as of `read_at`), filtered by the
    dataset group allowlist, and their own part (watches) with the workspace's digest subscriptions.

    `groups` come those needing attention first; `failures` newest first, `failure_count` of them in all over the
    last `failure_days`; `stuck` longest running first (`stuck_after` None: no stuck rule on this bot); `watches`
    None when watches are not set up. `complete` False: the read stopped early, at jobs created `covers_since`.
    `refresh_failure` names the error (a `services.errors` class) of a read that failed after `read_at`.
    """

    read_at: datetime
    window_days: int
    refresh_seconds: int
    groups: tuple[GroupActivity, ...]
    failures: tuple[HomeFailure, ...] = ()
    failure_count: int = 0
    failure_days: int = 7
    stuck: tuple[StuckJob, ...] = ()
    stuck_count: int = 0
    stuck_after: timedelta | None = None
    max_pending: int = MAX_PENDING_JOBS
    subscriptions: tuple[HomeSubscription, ...] = ()
    watches: tuple[Watch, ...] | None = None
    complete: bool = True
    covers_since: datetime | None = None
    refresh_failure: str | None = None
    refresh_failed_at: datetime | None = None

    @property
    def full_queues(self) -> tuple[GroupActivity, ...]:
        return tuple(group for group in self.groups if group.pending >= self.max_pending)


# ---- exports (services/export) ---------------------------------------------------------------------------


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

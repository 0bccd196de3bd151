"""Stand-ins for the Home tab's unit tests: an account of deletion jobs paged like ListDataDeletionJobs, and a
reader that counts (and can hold up) its reads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from services.errors import AwsTimeout
from services.home.snapshot import AccountSnapshot
from services.models import DatasetGroup, DeletionJob, GroupActivity, JobsPage

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def group_arn(name: str) -> str:
    return f"arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-group/{name}"


def job(name: str, group: str, status: str, *, created: datetime, updated: datetime | None = None,
        reason: str | None = None) -> DeletionJob:
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:{ACCOUNT}:data-deletion-job/{name}", name=name,
                       dataset_group_arn=group_arn(group), status=status, created=created,
                       updated=updated or created + timedelta(minutes=30), failure_reason=reason)


class FakeAccount:
    """`list_jobs_page` over `jobs` (sorted newest created first), `page_size` a page; counts the calls.
    `time_out_after` makes every call after that many raise AwsTimeout (the request's deadline)."""

    def __init__(self, jobs: list[DeletionJob], groups: list[str], *, page_size: int = 100,
                 time_out_after: int | None = None):
        self.jobs = sorted(jobs, key=lambda j: j.created, reverse=True)
        self.groups = [DatasetGroup(name, group_arn(name)) for name in groups]
        self.page_size = page_size
        self.time_out_after = time_out_after
        self.calls = 0

    def list_jobs_page(self, *, dataset_group_arn=None, next_token=None, max_results=100, shared=True) -> JobsPage:
        if self.time_out_after is not None and self.calls >= self.time_out_after:
            raise AwsTimeout("deadline")
        self.calls += 1
        start = int(next_token or 0)
        end = start + self.page_size
        return JobsPage(self.jobs[start:end], str(end) if end < len(self.jobs) else None)

    def dataset_groups(self) -> list[DatasetGroup]:
        return list(self.groups)


def snapshot(groups: list[GroupActivity], *, read_at: datetime = NOW, window_days: int = 30) -> AccountSnapshot:
    return AccountSnapshot(read_at=read_at, window_days=window_days, groups=tuple(groups))


class CountingReader:
    """A SnapshotReader stand-in: each read returns a snapshot read at the clock's time. `hold` (an Event) keeps
    every read waiting until it is set; `fail` is raised instead while set."""

    def __init__(self, clock, *, hold: threading.Event | None = None):
        self.clock = clock
        self.hold = hold
        self.fail: Exception | None = None
        self.reads = 0
        self._lock = threading.Lock()

    def read(self) -> AccountSnapshot:
        with self._lock:
            self.reads += 1
        if self.hold is not None:
            assert self.hold.wait(60), "the test never let the read finish"
        if self.fail is not None:
            raise self.fail
        return snapshot([GroupActivity(group_arn("media-feed"), "media-feed", {"COMPLETED": self.reads})],
                        read_at=self.clock())


class Clock:
    """A settable clock for the snapshot's ages and leases."""

    def __init__(self, start: datetime = NOW):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta) -> None:
        with self._lock:
            self.now += timedelta(**delta)

"""The account snapshot behind every Home tab: one read of the account's deletion jobs, shared by every person and
every process through the state store, so that what Home costs in AWS calls does not grow with its readers.

- `SnapshotReader` reads it: the dataset groups (the resolver's cached ListDatasetGroups) and ListDataDeletionJobs,
  newest created first, back to the window start (HOME_WINDOW_DAYS, and never less than the 7 days of recent
  failures), at most HOME_MAX_API_CALLS pages; a read stopped by that budget or the AWS deadline says so.
- `SharedSnapshot` hands it out: a snapshot younger than HOME_REFRESH_SECONDS is served from the state store as it
  is. An older one is read again by the one process that takes the row's lease (one thread per process asks);
  the others wait for its result. Refresh accepts a snapshot up to 30 s old. A failed read is recorded and
  nobody reads again for 30 s: when AWS throttles, Home does not multiply the calls by the people looking.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.errors import AwsError, AwsTimeout
from services.models import DeletionJob, GroupActivity, as_utc, dataset_group_name, failure_time
from services.storage.home_store import HomeSnapshotStore, SnapshotRow
from services.storage.store import utcnow

logger = logging.getLogger(__name__)

# "Needs attention" lists the failures of this many days; the read always goes back at least this far.
FAILURE_DAYS = 7
# Home shows the newest 10 failures of all allowed groups: 10 per group is enough whatever the allowlist.
FAILURES_PER_GROUP = 10
# Running jobs kept per group for the stuck rule, oldest first (a group holds at most 5 PENDING).
RUNNING_PER_GROUP = 25
# Failure reasons are shown cut far shorter than this; the snapshot need not carry more.
REASON_LIMIT = 1000
# Refresh re-reads the account only when the snapshot is older than this.
REFRESH_FLOOR = timedelta(seconds=30)
# After a failed read, nobody reads again for this long (the failure is shown instead).
FAILURE_BACKOFF = timedelta(seconds=30)


# ---- the snapshot -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSnapshot:
    """One read of the account: every dataset group's activity. `complete` False: the read stopped at the call
    budget or the deadline, having read back to jobs created `covers_since`."""

    read_at: datetime
    window_days: int
    groups: tuple[GroupActivity, ...]
    complete: bool = True
    covers_since: datetime | None = None
    jobs_read: int = 0
    api_calls: int = 0

    def to_json(self) -> str:
        return json.dumps({
            "read_at": _iso(self.read_at), "window_days": self.window_days, "complete": self.complete,
            "covers_since": _iso(self.covers_since), "jobs_read": self.jobs_read, "api_calls": self.api_calls,
            "groups": [_group_json(group) for group in self.groups],
        }, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AccountSnapshot:
        data = json.loads(text)
        return cls(read_at=_from_iso(data["read_at"]), window_days=data["window_days"],
                   groups=tuple(_group_from_json(group) for group in data["groups"]), complete=data["complete"],
                   covers_since=_from_iso(data["covers_since"]), jobs_read=data["jobs_read"],
                   api_calls=data["api_calls"])


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


def _from_iso(text: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(text)) if text else None


def _job_json(job: DeletionJob) -> list:
    reason = job.failure_reason[:REASON_LIMIT] if job.failure_reason else job.failure_reason
    return [job.arn, job.name, job.dataset_group_arn, job.status, _iso(job.created), _iso(job.updated), reason]


def _job_from_json(item: list) -> DeletionJob:
    arn, name, group, status, created, updated, reason = item
    return DeletionJob(arn, name, group, status, _from_iso(created), _from_iso(updated), reason)


def _group_json(group: GroupActivity) -> dict:
    return {"arn": group.arn, "name": group.name, "counts": group.counts, "pending": group.pending,
            "last_failed_at": _iso(group.last_failed_at), "failures": [_job_json(j) for j in group.recent_failures],
            "failure_count": group.recent_failure_count, "running": [_job_json(j) for j in group.running]}


def _group_from_json(data: dict) -> GroupActivity:
    return GroupActivity(
        arn=data["arn"], name=data["name"], counts=dict(data["counts"]), pending=data["pending"],
        last_failed_at=_from_iso(data["last_failed_at"]),
        recent_failures=tuple(_job_from_json(j) for j in data["failures"]),
        recent_failure_count=data["failure_count"], running=tuple(_job_from_json(j) for j in data["running"]))


# ---- reading it from AWS ----------------------------------------------------------------------------------


@dataclass
class _Tally:
    """One group's activity while the read goes on."""

    arn: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    last_failed_at: datetime | None = None
    failures: list[tuple[datetime, DeletionJob]] = field(default_factory=list)
    running: list[DeletionJob] = field(default_factory=list)

    def add(self, job: DeletionJob, *, window_start: datetime, failures_since: datetime) -> None:
        if as_utc(job.created) >= window_start:
            self.counts[job.status] = self.counts.get(job.status, 0) + 1
        if job.status == "PENDING":
            self.pending += 1
        if job.status in ("PENDING", "IN_PROGRESS"):
            # Newest created first: each running job is older than those kept, so keep the last ones seen.
            self.running = (self.running + [job])[-RUNNING_PER_GROUP:]
        failed_at = failure_time(job) if job.status == "FAILED" else None
        if failed_at is None:
            return
        if as_utc(job.created) >= window_start and (self.last_failed_at is None or failed_at > self.last_failed_at):
            self.last_failed_at = failed_at
        if failed_at >= failures_since:
            self.failures.append((failed_at, job))

    def freeze(self) -> GroupActivity:
        newest = sorted(self.failures, key=lambda pair: (pair[0], pair[1].arn), reverse=True)
        return GroupActivity(arn=self.arn, name=self.name, counts=dict(self.counts), pending=self.pending,
                             last_failed_at=self.last_failed_at,
                             recent_failures=tuple(job for _, job in newest[:FAILURES_PER_GROUP]),
                             recent_failure_count=len(newest), running=tuple(reversed(self.running)))


@dataclass
class _Progress:
    calls: int = 0
    jobs: int = 0
    complete: bool = True
    oldest: datetime | None = None


class SnapshotReader:
    """Reads the account once: `groups()` (ListDatasetGroups, cached by the resolver) and ListDataDeletionJobs,
    back to the window start, and at least 7 days (recent failures) and `read_back` (the stuck rule's look-back)."""

    def __init__(self, gateway, groups: Callable[[], list], *, window: timedelta, max_calls: int,
                 read_back: timedelta = timedelta(0), clock=utcnow):
        self._gateway = gateway
        self._groups = groups
        self._window = window
        self._read_back = read_back
        self._max_calls = max_calls
        self._clock = clock

    @property
    def window_days(self) -> int:
        return round(self._window / timedelta(days=1))

    def read(self) -> AccountSnapshot:
        now = self._clock()
        window_start = now - self._window
        failures_since = now - timedelta(days=FAILURE_DAYS)
        tallies = {group.arn: _Tally(group.arn, group.name) for group in self._groups()}
        progress = _Progress()
        for job in self._jobs(min(window_start, failures_since, now - self._read_back), progress):
            tally = tallies.get(job.dataset_group_arn)
            if tally is None:  # a group created or deleted since ListDatasetGroups was cached
                tally = tallies[job.dataset_group_arn] = _Tally(job.dataset_group_arn,
                                                                 dataset_group_name(job.dataset_group_arn))
            tally.add(job, window_start=window_start, failures_since=failures_since)
        logger.info("home: read the account: %d jobs in %d ListDataDeletionJobs calls%s", progress.jobs,
                    progress.calls, "" if progress.complete else " (stopped early)")
        return AccountSnapshot(
            read_at=now, window_days=self.window_days,
            groups=tuple(sorted((t.freeze() for t in tallies.values()), key=lambda g: (g.name.casefold(), g.arn))),
            complete=progress.complete, covers_since=None if progress.complete else progress.oldest,
            jobs_read=progress.jobs, api_calls=progress.calls)

    def _jobs(self, read_back_to: datetime, progress: _Progress) -> Iterator[DeletionJob]:
        """Every job created since `read_back_to`, newest first; `progress` says how far the read got."""
        token = None
        while True:
            if progress.calls >= self._max_calls:
                progress.complete = False
                return
            try:
                page = self._gateway.list_jobs_page(next_token=token)
            except AwsTimeout:
                if progress.calls == 0:
                    raise
                logger.warning("home: the read of the account stopped at the AWS deadline after %d calls",
                               progress.calls)
                progress.complete = False
                return
            progress.calls += 1
            for job in page.jobs:
                if as_utc(job.created) < read_back_to:
                    return
                progress.jobs += 1
                progress.oldest = as_utc(job.created)
                yield job
            if not page.next_token:
                return
            token = page.next_token


# ---- sharing it -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotState:
    """What Home can show: the latest snapshot (None before any read succeeded) and, when the latest read failed
    after it, that failure (the name of its services.errors class) and when."""

    snapshot: AccountSnapshot | None
    failure: str | None = None
    failed_at: datetime | None = None


def _owner_id() -> str:
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


class SharedSnapshot:
    def __init__(self, store: HomeSnapshotStore, reader: SnapshotReader, *, refresh_after: timedelta,
                 lease_for: timedelta = timedelta(seconds=60), poll_seconds: float = 0.25, clock=utcnow,
                 monotonic=time.monotonic, sleep=time.sleep):
        self._store = store
        self._reader = reader
        self._refresh_after = refresh_after
        self._lease_for = lease_for
        self._poll = poll_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._owner = _owner_id()
        # One thread per process goes for the lease; the others wait here and then find the new snapshot.
        self._lock = threading.Lock()
        self._parsed: tuple[datetime, AccountSnapshot] | None = None

    @property
    def refresh_after(self) -> timedelta:
        return self._refresh_after

    def current(self) -> SnapshotState:
        """The snapshot, read again first when it is older than HOME_REFRESH_SECONDS."""
        return self._get(self._refresh_after)

    def refreshed(self) -> SnapshotState:
        """For the Refresh button: read again when the snapshot is older than 30 s."""
        return self._get(min(REFRESH_FLOOR, self._refresh_after))

    def _get(self, max_age: timedelta) -> SnapshotState:
        row = self._store.row()
        if self._usable(row, max_age):
            return self._state(row)
        with self._lock:
            return self._refresh_or_wait(max_age)

    def _usable(self, row: SnapshotRow | None, max_age: timedelta) -> bool:
        """Fresh enough, or a read failed so recently that nobody should try again yet."""
        if row is None:
            return False
        now = self._clock()
        if row.read_at is not None and now - row.read_at < max_age:
            return True
        return row.failed_at is not None and now - row.failed_at < FAILURE_BACKOFF

    def _refresh_or_wait(self, max_age: timedelta) -> SnapshotState:
        give_up = self._monotonic() + self._lease_for.total_seconds()
        while True:
            row = self._store.row()
            if self._usable(row, max_age):
                return self._state(row)
            now = self._clock()
            if self._store.take_lease(self._owner, now=now, lease_for=self._lease_for, read_before=now - max_age,
                                      failed_before=now - FAILURE_BACKOFF):
                return self._read_and_save()
            if self._monotonic() >= give_up:
                # The holder is taking longer than its lease: show what there is.
                return self._state(row)
            self._sleep(self._poll)

    def _read_and_save(self) -> SnapshotState:
        try:
            snapshot = self._reader.read()
        except AwsError as err:
            logger.warning("home: could not read the account (%s); the Home tab shows the last snapshot",
                           type(err).__name__)
            self._store.record_failure(self._owner, type(err).__name__, at=self._clock())
            return self._state(self._store.row())
        except BaseException:
            self._store.release(self._owner)
            raise
        self._store.save(self._owner, snapshot.to_json(), snapshot.read_at)
        return self._state(self._store.row())

    def _state(self, row: SnapshotRow | None) -> SnapshotState:
        snapshot = self._snapshot(row)
        if row is None or row.failed_at is None or (row.read_at is not None and row.read_at >= row.failed_at):
            return SnapshotState(snapshot)
        return SnapshotState(snapshot, failure=row.failure, failed_at=row.failed_at)

    def _snapshot(self, row: SnapshotRow | None) -> AccountSnapshot | None:
        """The stored snapshot, parsed once per read: most openings only read the row's times."""
        if row is None or row.read_at is None:
            return None
        parsed = self._parsed
        if parsed is not None and parsed[0] == row.read_at:
            return parsed[1]
        stored = self._store.payload()
        if stored is None:
            return None
        snapshot = AccountSnapshot.from_json(stored[0])
        self._parsed = (stored[1], snapshot)
        return snapshot

"""ExportService: the jobs an export holds, their DescribeDataDeletionJob details (bounded), and the CSV file.

Reads `ListDataDeletionJobs` newest created first and stops at the first job created before `since`; refuses an
export over `max_jobs` before any Describe call; describes the jobs with at most `concurrency` calls in flight in
this process (across every export); fails the whole export on the first failed call, never writing a file with
gaps. One export at a time per person, through `leases` (services/storage/export_leases.py) when given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.aws.token_walk import TokenWalk
from services.errors import AwsError, ExportAlreadyRunning, ExportIncomplete, ExportTooLarge
from services.export.csv_export import sha256_hex, write_csv
from services.listing.command_parser import ExportCommand
from services.models import DeletionJob, DeletionJobDetails, ExportFile, ExportFilter, ExportProgress

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 30
# How often a running export pushes its lease on (the lease itself lasts ten minutes).
LEASE_RENEW_SECONDS = 60.0

Progress = Callable[[ExportProgress], None]


@dataclass(frozen=True)
class Selection:
    jobs: list[DeletionJob]
    scanned: int


class CallTally:
    """Counts an export's AWS calls, each made in its own call scope (one request deadline per call, since an
    export outlives any one deadline), and adds them to the scope of the thread that started the export, so the
    audit line counts them too. Thread-safe: Describe calls run on the service's pool."""

    def __init__(self, gateway):
        self._gateway = gateway
        self._outer = gateway.current_scope()
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def call(self, kind: str, fn, /, *args, **kwargs):
        with self._gateway.scope() as scope:
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(kind, scope)

    def _add(self, kind: str, scope) -> None:
        with self._lock:
            self.calls[kind] += scope.calls
            if self._outer is not None:
                self._outer.calls += scope.calls
                self._outer.attempts += scope.attempts
                self._outer.request_ids[:] = (self._outer.request_ids + scope.request_ids)[-3:]


class ExportService:
    def __init__(self, gateway, resolver, access, *, concurrency: int = 4, max_jobs: int = 10_000, leases=None,
                 clock=lambda: datetime.now(UTC), monotonic=time.monotonic):
        self._gateway = gateway
        self._resolver = resolver
        self._access = access
        self._concurrency = concurrency
        self._max_jobs = max_jobs
        self._leases = leases
        self._clock = clock
        self._monotonic = monotonic
        # Shared by every export in this process: at most `concurrency` Describe calls in flight, whoever asked.
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="export-describe")

    @classmethod
    def from_settings(cls, settings, *, gateway, resolver, access, leases=None) -> ExportService:
        return cls(gateway, resolver, access, concurrency=settings.export_describe_concurrency,
                   max_jobs=settings.export_max_jobs, leases=leases)

    def filter_for(self, command: ExportCommand, *, user_id: str | None = None) -> ExportFilter:
        """The command's filter: its dataset group resolved and allowed; `since` defaults to 30 days back."""
        arn = None
        if command.group:
            arn = self._resolver.resolve(command.group).arn
            self._access.check_group(arn, user_id=user_id)
        since = command.since or (command.until or self._clock().date()) - timedelta(days=DEFAULT_DAYS)
        return ExportFilter(dataset_group_arn=arn, status=command.status, since=since, until=command.until,
                            allowed_groups_only=arn is None and self._access.restricts_groups)

    @contextmanager
    def reserved(self, user_id: str | None) -> Iterator[object | None]:
        """Hold the person's one export slot for the block (yields the lease to pass to `export`, which renews
        it); ExportAlreadyRunning while another of their exports holds it. No slot without leases or a user."""
        if self._leases is None or user_id is None:
            yield None
            return
        lease = self._leases.claim(user_id)
        if lease is None:
            raise ExportAlreadyRunning(self._leases.started_at(user_id))
        try:
            yield lease
        finally:
            self._leases.release(lease)

    def export(self, export_filter: ExportFilter, *, generated_by: str, generated_via: str,
               progress: Progress | None = None, lease=None) -> ExportFile:
        """Read, describe and write; ExportTooLarge or ExportIncomplete (or an AwsError from listing) otherwise."""
        tally = CallTally(self._gateway)
        keep_alive = self._keep_alive(lease)
        selection = self.select(export_filter, tally, keep_alive)
        details = self.describe_all(selection.jobs, tally, progress, keep_alive)
        data = write_csv(details)
        generated_at = self._clock().astimezone(UTC).replace(microsecond=0)
        counts = Counter(item.job.status for item in details)
        return ExportFile(
            filter=export_filter, filename=f"deletion-jobs-{generated_at:%Y%m%dT%H%M%SZ}.csv", data=data,
            sha256=sha256_hex(data), by_status=tuple(sorted(counts.items())), generated_at=generated_at,
            generated_by=generated_by, generated_via=generated_via, scanned=selection.scanned,
            list_calls=tally.calls["list"], describe_calls=tally.calls["describe"],
        )

    def select(self, export_filter: ExportFilter, tally: CallTally, keep_alive=lambda: None) -> Selection:
        """The matching jobs, newest created first; ExportTooLarge (with the exact count) over `max_jobs`."""
        since, until = export_filter.since_moment, export_filter.until_moment
        visible = self._access.job_visible if self._access.restricts_groups else None
        jobs: list[DeletionJob] = []
        matched = scanned = 0
        token = None
        walk = TokenWalk("list_data_deletion_jobs")
        while True:
            page = tally.call("list", self._gateway.list_jobs_page,
                              dataset_group_arn=export_filter.dataset_group_arn, next_token=token)
            keep_alive()
            for job in page.jobs:
                if job.created < since:
                    # Newest created first: every job after this one is older still.
                    return self._selected(jobs, matched, scanned)
                scanned += 1
                if until is not None and job.created >= until:
                    continue
                if export_filter.status and job.status != export_filter.status:
                    continue
                if visible is not None and not visible(job):
                    continue
                matched += 1
                if matched <= self._max_jobs:
                    jobs.append(job)
            token = walk.follow(page.next_token)
            if token is None:
                return self._selected(jobs, matched, scanned)

    def _selected(self, jobs: list[DeletionJob], matched: int, scanned: int) -> Selection:
        if matched > self._max_jobs:
            raise ExportTooLarge(matched, self._max_jobs)
        return Selection(jobs, scanned)

    def describe_all(self, jobs: list[DeletionJob], tally: CallTally, progress: Progress | None = None,
                     keep_alive=lambda: None) -> list[DeletionJobDetails]:
        """Details of every job, in the jobs' order; at most `concurrency` calls in flight for this export.

        The first failed call fails the export: calls not yet started are cancelled, those in flight are waited
        for, and ExportIncomplete says how far it got.
        """
        results: list[DeletionJobDetails | None] = [None] * len(jobs)
        queue = iter(enumerate(jobs))
        pending: dict[Future, int] = {}
        described = 0
        self._fill(pending, queue, tally)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                try:
                    results[index] = future.result()
                except BaseException as err:
                    self._abandon(pending)
                    if isinstance(err, AwsError):
                        raise ExportIncomplete(described, len(jobs), err) from err
                    raise
                described += 1
            keep_alive()
            if progress is not None:
                progress(ExportProgress(described, len(jobs)))
            self._fill(pending, queue, tally)
        return results  # type: ignore[return-value] - every slot filled, or the loop raised

    def _fill(self, pending: dict[Future, int], queue, tally: CallTally) -> None:
        while len(pending) < self._concurrency:
            item = next(queue, None)
            if item is None:
                return
            index, job = item
            pending[self._pool.submit(tally.call, "describe", self._gateway.describe_job, job.arn)] = index

    @staticmethod
    def _abandon(pending: dict[Future, int]) -> None:
        for future in pending:
            future.cancel()
        # Calls already on the wire finish (each within its own deadline), so none outlives the export.
        wait(pending)

    def _keep_alive(self, lease):
        if lease is None or self._leases is None:
            return lambda: None
        last = [self._monotonic()]

        def renew() -> None:
            now = self._monotonic()
            if now - last[0] >= LEASE_RENEW_SECONDS:
                last[0] = now
                self._leases.renew(lease)

        return renew

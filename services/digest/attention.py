"""What in a digest's scope needs attention besides new failures: stuck jobs and full PENDING queues.

Pure functions of the jobs a digest read and the clock. Both are states, not events: they are shown in every
digest for as long as they last, and never enter the failure ledger.

- A job is *stuck* when it is PENDING or IN_PROGRESS and was created more than DIGEST_STUCK_HOURS ago.
- A dataset group's PENDING queue is *full* when it holds PERSONALIZE_MAX_PENDING_JOBS (5) or more PENDING jobs:
  Personalize then refuses new deletion jobs there ("The number of PENDING data deletion jobs for this dataset
  group exceeds the limit of 5") until one starts.

The digest reads back DIGEST_STUCK_LOOKBACK_DAYS to find them (`read_back_to`); an older stuck job is not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.models import RUNNING_STATUSES, Attention, DeletionJob, FullQueue, StuckJob, as_utc


@dataclass(frozen=True)
class AttentionRules:
    stuck_after: timedelta = timedelta(hours=24)
    lookback: timedelta = timedelta(days=7)
    max_pending: int = 5

    @classmethod
    def from_settings(cls, settings) -> AttentionRules:
        return cls(stuck_after=timedelta(hours=settings.digest_stuck_hours),
                   lookback=timedelta(days=settings.digest_stuck_lookback_days),
                   max_pending=settings.personalize_max_pending_jobs)


def read_back_to(now: datetime, rules: AttentionRules) -> datetime:
    """The digest reads jobs created at least back to here (and further when its failure window needs it)."""
    return as_utc(now) - rules.lookback


def stuck_jobs(jobs: Iterable[DeletionJob], *, now: datetime, stuck_after: timedelta) -> list[StuckJob]:
    now = as_utc(now)
    stuck = [
        StuckJob(job, now - as_utc(job.created))
        for job in jobs
        if job.status in RUNNING_STATUSES and job.created is not None and now - as_utc(job.created) > stuck_after
    ]
    return sorted(stuck, key=lambda s: (-s.running_for.total_seconds(), s.job.arn))


def full_pending_queues(jobs: Iterable[DeletionJob], *, max_pending: int) -> list[FullQueue]:
    pending: dict[str, int] = {}
    for job in jobs:
        if job.status == "PENDING":
            pending[job.dataset_group_arn] = pending.get(job.dataset_group_arn, 0) + 1
    full = [FullQueue(group, count) for group, count in pending.items() if count >= max_pending]
    return sorted(full, key=lambda q: (-q.pending, q.dataset_group_arn))


def attention_for(jobs: Iterable[DeletionJob], rules: AttentionRules, *, now: datetime,
                  dataset_group_arn: str | None = None,
                  visible: Callable[[DeletionJob], bool] | None = None) -> Attention:
    """Stuck jobs and full queues among `jobs` in one subscription's scope (one group, or all that are visible)."""
    scoped = [job for job in jobs
              if (dataset_group_arn is None or job.dataset_group_arn == dataset_group_arn)
              and (visible is None or visible(job))]
    return Attention(stuck=stuck_jobs(scoped, now=now, stuck_after=rules.stuck_after),
                     full_queues=full_pending_queues(scoped, max_pending=rules.max_pending),
                     stuck_after=rules.stuck_after, max_pending=rules.max_pending)

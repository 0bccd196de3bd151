"""HomeModelBuilder: one person's Home tab as a plain `services.models.HomeModel`.

The shared snapshot filtered by ALLOWED_DATASET_GROUPS (groups, failures, stuck jobs), then the person's own part,
read from the database on every opening: their watches, and the workspace's digest subscriptions (those scoped to
a hidden group left out, as `digest list` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.digest.attention import AttentionRules, stuck_jobs
from services.home.snapshot import FAILURE_DAYS, AccountSnapshot, SnapshotState
from services.models import (
    MAX_PENDING_JOBS,
    DeletionJob,
    GroupActivity,
    HomeFailure,
    HomeModel,
    HomeSubscription,
    StuckJob,
    failure_time,
)
from services.storage.store import utcnow

logger = logging.getLogger(__name__)

# Home shows this many of the newest failures and longest-running stuck jobs, and says how many more there are.
MAX_FAILURES = 10
MAX_STUCK = 10

class HomeModelBuilder:
    """`details_value(job)` makes a failure's Details button value; `watches(user_id)` lists a person's watches
    (None: watches are not set up); `rules` are the digest's stuck-job and full-queue rules (DIGEST_STUCK_HOURS,
    PERSONALIZE_MAX_PENDING_JOBS; None: no stuck rule, and Personalize's 5 PENDING slots)."""

    def __init__(self, access, subscriptions, describe_schedule: Callable, *, refresh_seconds: int,
                 details_value: Callable[[DeletionJob], str | None] | None = None,
                 watches: Callable[[str], list] | None = None, rules: AttentionRules | None = None, clock=utcnow):
        self._access = access
        self._subscriptions = subscriptions
        self._describe = describe_schedule
        self._refresh_seconds = refresh_seconds
        self._details_value = details_value
        self._watches = watches
        self._rules = rules
        self._max_pending = rules.max_pending if rules else MAX_PENDING_JOBS
        self._clock = clock

    def build(self, user_id: str, state: SnapshotState) -> HomeModel:
        snapshot = state.snapshot
        if snapshot is None:
            raise ValueError("no snapshot to build a Home tab from")
        groups = [group for group in snapshot.groups if self._access.group_allowed(group.arn)]
        failures, failure_count = self._failures(groups)
        stuck = self._stuck_jobs(groups)
        return HomeModel(
            read_at=snapshot.read_at, window_days=snapshot.window_days, refresh_seconds=self._refresh_seconds,
            groups=tuple(sorted(groups, key=self._attention_first)), failures=failures, failure_count=failure_count,
            failure_days=FAILURE_DAYS, stuck=tuple(stuck[:MAX_STUCK]), stuck_count=len(stuck),
            stuck_after=self._rules.stuck_after if self._rules else None, max_pending=self._max_pending,
            subscriptions=self._subscriptions_shown(), watches=self._watches_of(user_id),
            complete=snapshot.complete, covers_since=snapshot.covers_since,
            refresh_failure=state.failure, refresh_failed_at=state.failed_at,
        )

    def _attention_first(self, group: GroupActivity) -> tuple:
        return (group.pending < self._max_pending, group.recent_failure_count == 0, -group.total,
                group.name.casefold(), group.arn)

    def _failures(self, groups: list[GroupActivity]) -> tuple[tuple[HomeFailure, ...], int]:
        jobs = [job for group in groups for job in group.recent_failures]
        jobs.sort(key=lambda job: (failure_time(job), job.arn), reverse=True)
        shown = tuple(HomeFailure(job, failure_time(job), self._value_for(job)) for job in jobs[:MAX_FAILURES])
        return shown, sum(group.recent_failure_count for group in groups)

    def _value_for(self, job: DeletionJob) -> str | None:
        if self._details_value is None:
            return None
        try:
            return self._details_value(job)
        except ValueError:  # a button value that would not fit Slack's 2000 characters: no button
            return None

    def _stuck_jobs(self, groups: list[GroupActivity]) -> list[StuckJob]:
        """The digest's rule (services.digest.attention) on the snapshot's running jobs, at this moment."""
        if self._rules is None:
            return []
        running = [job for group in groups for job in group.running]
        return stuck_jobs(running, now=self._clock(), stuck_after=self._rules.stuck_after)

    def _subscriptions_shown(self) -> tuple[HomeSubscription, ...]:
        return tuple(
            HomeSubscription(sub, self._describe(sub)) for sub in self._subscriptions.list()
            if sub.dataset_group_arn is None or self._access.group_allowed(sub.dataset_group_arn)
        )

    def _watches_of(self, user_id: str) -> tuple | None:
        if self._watches is None:
            return None
        return tuple(watch for watch in self._watches(user_id) if self._access.group_allowed(watch.dataset_group_arn))


def snapshot_age(snapshot: AccountSnapshot, now: datetime) -> float:
    """Seconds since the snapshot was read, for the audit line."""
    return round((now - snapshot.read_at).total_seconds(), 1)

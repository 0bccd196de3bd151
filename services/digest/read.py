"""Reading for a digest run: `ListDataDeletionJobs` once per scope, newest created first, back to the cutoff.

A scope is one dataset group, or all of them; any subscription to all groups means reading everything anyway,
so the group subscriptions are served from that one read too. A page that reaches jobs created before the
earliest window start minus DIGEST_MAX_JOB_HOURS (or before DIGEST_STUCK_LOOKBACK_DAYS ago, when that is further
back: stuck jobs, `attention.py`) is the last one read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.aws.personalize import MAX_RESULTS
from services.aws.token_walk import TokenWalk
from services.digest.attention import AttentionRules, attention_for
from services.digest.outcome import StopRequested
from services.digest.window import created_before, read_cutoff
from services.errors import AwsError
from services.models import Attention, DeletionJob, DigestWindow, Subscription

logger = logging.getLogger(__name__)

# A digest may read many pages; the gateway's per-request deadline is sized for a Slack click, not this.
READ_DEADLINE_SECONDS = 600.0

Visible = Callable[[DeletionJob], bool]


@dataclass(frozen=True)
class Reads:
    """The jobs read for each scope (None: all groups), or the AWS error that stopped that read."""

    by_scope: dict[str | None, list[DeletionJob] | AwsError]
    calls: int
    visible: Visible | None = None

    def failures_for(self, subscription: Subscription) -> list[DeletionJob] | AwsError:
        """The FAILED jobs this subscription may see (its group, and ALLOWED_DATASET_GROUPS), or the read's error."""
        source = self.by_scope[None] if None in self.by_scope else self.by_scope[subscription.dataset_group_arn]
        if isinstance(source, AwsError):
            return source
        group = subscription.dataset_group_arn
        return [
            job for job in source
            if job.status == "FAILED"
            and (group is None or job.dataset_group_arn == group)
            and (self.visible is None or self.visible(job))
        ]

    def attention_for(self, subscription: Subscription, rules: AttentionRules, *, now: datetime) -> Attention | None:
        """Stuck jobs and full PENDING queues this subscription may see; None when its read failed."""
        source = self.by_scope[None] if None in self.by_scope else self.by_scope[subscription.dataset_group_arn]
        if isinstance(source, AwsError):
            return None
        return attention_for(source, rules, now=now, dataset_group_arn=subscription.dataset_group_arn,
                             visible=self.visible)


class DigestReader:
    """Reads the deletion jobs a run's subscriptions need, each scope once."""

    def __init__(self, gateway, *, max_job_age: timedelta, visible: Visible | None = None,
                 stopping: Callable[[], bool] = lambda: False, stuck_lookback: timedelta | None = None):
        self._gateway = gateway
        self._max_job_age = max_job_age
        self._stuck_lookback = stuck_lookback
        self._visible = visible
        self._stopping = stopping

    def read(self, subscriptions: Sequence[Subscription], windows: dict[str, DigestWindow]) -> Reads:
        """Every scope the subscriptions need, read once; StopRequested when a stop is requested between pages."""
        scopes = {s.dataset_group_arn for s in subscriptions}
        read_scopes = [None] if None in scopes else sorted(scopes)
        by_scope: dict[str | None, list[DeletionJob] | AwsError] = {}
        calls = 0
        for scope in read_scopes:
            served = [windows[s.channel_id] for s in subscriptions if scope is None or s.dataset_group_arn == scope]
            try:
                jobs, scope_calls = self._read(scope, self._cutoff(served))
            except StopRequested:
                raise StopRequested(calls) from None
            except AwsError as err:
                logger.error("digest: reading deletion jobs of %s failed (%s); those channels get no digest this run",
                             scope or "all dataset groups", type(err).__name__)
                by_scope[scope] = err
                continue
            calls += scope_calls
            by_scope[scope] = jobs
        return Reads(by_scope, calls, self._visible)

    def _cutoff(self, served: Sequence[DigestWindow]) -> datetime:
        cutoff = read_cutoff(served, self._max_job_age)
        if self._stuck_lookback is not None:  # stuck jobs may be older than any failure window
            cutoff = min(cutoff, min(window.until for window in served) - self._stuck_lookback)
        return cutoff

    def _read(self, dataset_group_arn: str | None, cutoff: datetime) -> tuple[list[DeletionJob], int]:
        """Pages newest created first, until a page reaches jobs created before `cutoff` (or the end)."""
        jobs: dict[str, DeletionJob] = {}
        token = None
        walk = TokenWalk("list_data_deletion_jobs")
        with self._gateway.scope(READ_DEADLINE_SECONDS) as scope:
            while True:
                if self._stopping():
                    raise StopRequested
                # Read now (the gateway's default), never a page another request read: a failure must be reported in
                # the run whose window it falls in.
                page = self._gateway.list_jobs_page(
                    dataset_group_arn=dataset_group_arn, next_token=token, max_results=MAX_RESULTS
                )
                for job in page.jobs:
                    # Jobs created while we page shift older ones onto the next page: keep the first sighting.
                    jobs.setdefault(job.arn, job)
                if not page.next_token or any(created_before(job, cutoff) for job in page.jobs):
                    break
                token = walk.follow(page.next_token)
            calls = scope.calls
        logger.info("digest: read %d deletion jobs of %s in %d call(s), back to jobs created %s",
                    len(jobs), dataset_group_arn or "all dataset groups", calls, cutoff.isoformat())
        return list(jobs.values()), calls

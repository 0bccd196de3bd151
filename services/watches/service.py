"""WatchService: start, stop and list a person's watches; a job name becomes an ARN; limits and access.

`/deletion-jobs watch <job name or ARN>` and the Watch button both come here, after the handler has checked the
person and the channel against the allowlists. The job's dataset group is checked here, when the watch starts,
and again by the poller before any message is sent.

A job name is turned into `arn:<partition>:personalize:<region>:<account>:data-deletion-job/<name>`: partition
and region are the client's, the account is the one the dataset group ARNs of ListDatasetGroups name (the
resolver caches that answer; the bot has no STS client). DescribeDataDeletionJob then says whether it exists.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from services.errors import (
    AwsResourceNotFound,
    ForeignJobArn,
    JobAccountUnknown,
    MalformedJobArn,
    NotWatching,
    WatchedJobNotFound,
    WatchLimitReached,
)
from services.listing.command_parser import NAME_PATTERN, is_arn
from services.models import FINISHED_STATUSES, DeletionJobDetails, Watch
from services.storage.watches import LIMIT, STARTED, WatchStore

logger = logging.getLogger(__name__)

MAX_WATCHES_PER_USER = 20
JOB_ARN_PATTERN = re.compile(
    r"^arn:(aws[a-z-]*):personalize:([a-z0-9-]+):(\d{12}):data-deletion-job/([A-Za-z0-9][A-Za-z0-9_-]{0,62})$")


@dataclass(frozen=True)
class WatchStart:
    """What `watch` did: `watch` is None when the job had already finished (then `details` is the answer)."""

    details: DeletionJobDetails
    watch: Watch | None
    already: bool = False


class WatchService:
    def __init__(self, gateway, resolver, access, store: WatchStore, *, max_per_user: int = MAX_WATCHES_PER_USER):
        self._gateway = gateway
        self._resolver = resolver
        self._access = access
        self._store = store
        self._max_per_user = max_per_user

    @property
    def max_per_user(self) -> int:
        return self._max_per_user

    def job_arn(self, job: str) -> str:
        """The ARN of a job given by name or ARN; MalformedJobArn, ForeignJobArn or JobAccountUnknown otherwise."""
        if is_arn(job):
            match = JOB_ARN_PATTERN.match(job)
            if not match:
                raise MalformedJobArn(job)
            partition, region, account, _ = match.groups()
            for part, given, expected in (("partition", partition, self._gateway.partition),
                                          ("region", region, self._gateway.region)):
                if given != expected:
                    raise ForeignJobArn(job, part, given, expected)
            accounts = self._accounts()
            if accounts and account not in accounts:
                raise ForeignJobArn(job, "account", account, ", ".join(sorted(accounts)))
            return job
        if not NAME_PATTERN.match(job):
            raise WatchedJobNotFound(job)
        accounts = self._accounts()
        if len(accounts) != 1:
            raise JobAccountUnknown(job)
        account = next(iter(accounts))
        return f"arn:{self._gateway.partition}:personalize:{self._gateway.region}:{account}:data-deletion-job/{job}"

    def _accounts(self) -> set[str]:
        return {group.arn.split(":")[4] for group in self._resolver.groups() if group.arn.count(":") >= 5}

    def describe(self, job: str, *, user_id: str | None) -> DeletionJobDetails:
        """DescribeDataDeletionJob of a job by name or ARN, for someone allowed to see its dataset group."""
        try:
            details = self._gateway.describe_job(self.job_arn(job))
        except AwsResourceNotFound as err:
            raise WatchedJobNotFound(job) from err
        self._access.check_group(details.job.dataset_group_arn, user_id=user_id)
        return details

    def start(self, job: str, *, user_id: str, team_id: str | None = None) -> WatchStart:
        """Watch `job` for `user_id`; a job that has already finished is answered with its result, unwatched."""
        details = self.describe(job, user_id=user_id)
        if details.job.status in FINISHED_STATUSES:
            return WatchStart(details, None)
        watch, result = self._store.start(user_id, details.job, team_id=team_id, limit=self._max_per_user)
        if result == LIMIT:
            raise WatchLimitReached(self._max_per_user)
        assert watch is not None
        if result == STARTED:
            logger.info("watch %s: %s watches %s", watch.id, user_id, details.job.arn)
        return WatchStart(details, watch, already=result != STARTED)

    def stop(self, job: str, *, user_id: str) -> Watch:
        """End the person's watch of `job` (name or ARN, as listed by `watching`); NotWatching when there is none."""
        ended = self._store.stop(user_id, job_arn=job) if is_arn(job) else self._store.stop(user_id, job_name=job)
        if ended is None:
            raise NotWatching(job)
        logger.info("watch %s: %s stopped watching %s", ended.id, user_id, ended.job_arn)
        return ended

    def watching(self, user_id: str) -> list[Watch]:
        return self._store.of_user(user_id)

"""Plain data the services pass around: deletion jobs and dataset groups as Personalize describes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")


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
    """One `ListDataDeletionJobs` answer."""

    jobs: list[DeletionJob]
    next_token: str | None


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

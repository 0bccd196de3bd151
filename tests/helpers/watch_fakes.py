"""Test doubles for the watch tests: Personalize with Describe as well as List, and Slack DMs with history."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from services.errors import AwsResourceNotFound, AwsThrottled
from services.models import DatasetGroup, DeletionJob, DeletionJobDetails
from tests.helpers.digest_fakes import FakeGateway, slack_error

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
MEDIA = f"arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-group/media-feed"
RETAIL = f"arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-group/retail"


def job_arn(name: str) -> str:
    return f"arn:aws:personalize:us-east-1:{ACCOUNT}:data-deletion-job/{name}"


def make_job(name: str, *, group: str = MEDIA, status: str = "PENDING", hours_ago: float = 1,
             reason: str | None = None) -> DeletionJob:
    created = NOW - timedelta(hours=hours_ago)
    return DeletionJob(arn=job_arn(name), name=name, dataset_group_arn=group, status=status, created=created,
                       updated=created, failure_reason=reason)


class WatchGateway(FakeGateway):
    """List (100 per page, newest first), Describe and ListDatasetGroups over an in-memory account, counted."""

    def __init__(self, jobs=()):
        super().__init__(jobs)
        self.describe_calls: list[str] = []
        self.num_deleted: dict[str, int] = {}
        self.throttle_after: int | None = None
        self._lock = threading.Lock()

    @contextmanager
    def scope(self, deadline_seconds=None):
        # Two pollers run at once in some tests: each scope is found again by identity, under a lock.
        scope = SimpleNamespace(calls=0, attempts=0, request_ids=[])
        with self._lock:
            self._scopes.append(scope)
        try:
            yield scope
        finally:
            with self._lock:
                self._scopes[:] = [s for s in self._scopes if s is not scope]

    def move(self, name: str, status: str, *, num_deleted: int | None = None, reason: str | None = None,
             at: datetime | None = None) -> None:
        arn = job_arn(name)
        for index, existing in enumerate(self.jobs):
            if existing.arn == arn:
                self.jobs[index] = replace(existing, status=status, updated=at or NOW, failure_reason=reason)
        if num_deleted is not None:
            self.num_deleted[arn] = num_deleted

    def calls(self) -> int:
        return self.list_calls + len(self.describe_calls)

    def _count(self) -> None:
        if self.throttle_after is not None and self.calls() >= self.throttle_after:
            raise AwsThrottled("Rate exceeded", code="ThrottlingException")

    def list_jobs_page(self, **kwargs):
        self._count()
        return super().list_jobs_page(**kwargs)

    def describe_job(self, arn: str) -> DeletionJobDetails:
        self._count()
        with self._lock:
            self.describe_calls.append(arn)
        for scope in self._scopes:
            scope.calls += 1
        for job in self.jobs:
            if job.arn == arn:
                return DeletionJobDetails(job, num_deleted=self.num_deleted.get(arn),
                                          data_location=f"s3://acme-gdpr/{job.name}.csv", role_arn=None)
        raise AwsResourceNotFound(f"Could not find resource with ARN {arn}", code="ResourceNotFoundException")

    def list_dataset_groups(self):
        return [DatasetGroup("media-feed", MEDIA), DatasetGroup("retail", RETAIL)]


class DmSlack:
    """chat.postMessage to user ids, recorded per DM with its metadata; conversations.open and .history read them.

    `refuse(user, code)` makes the next post to that user fail with `code`; `lose_answer(user)` makes Slack take
    the next post and the client then time out (the post is in the DM, the poller does not know it).
    """

    def __init__(self, clock=None):
        self._clock = clock or (lambda: datetime.now(UTC))
        self.posts: list[dict] = []
        self.dms: dict[str, list[dict]] = {}
        self.history_calls = 0
        self.history_error: str | None = None
        self._refusals: dict[str, list[tuple[str, int]]] = {}
        self._lost: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ts = 0.0

    def refuse(self, user: str, code: str, *, status: int = 200, times: int = 1) -> None:
        self._refusals.setdefault(user, []).extend([(code, status)] * times)

    def lose_answer(self, user: str, times: int = 1) -> None:
        self._lost[user] = self._lost.get(user, 0) + times

    def chat_postMessage(self, **params):  # noqa: N802 - slack_sdk's name
        user = params["channel"]
        with self._lock:
            self.posts.append(params)
            queue = self._refusals.get(user)
            if queue:
                code, status = queue.pop(0)
                raise slack_error("chat.postMessage", code, status)
            # Slack stamps messages with its own clock: here the test's, so they fall after the post began.
            self._ts = max(self._ts + 0.001, self._clock().timestamp())
            message = {"type": "message", "ts": f"{self._ts:.6f}", "text": params["text"],
                       "blocks": params.get("blocks"), "metadata": params.get("metadata")}
            self.dms.setdefault(user, []).append(message)
            if self._lost.get(user):
                self._lost[user] -= 1
                raise TimeoutError("The read operation timed out")
        return {"ok": True, "channel": "D" + user, "ts": message["ts"]}

    def conversations_open(self, *, users: str):
        return {"ok": True, "channel": {"id": "D" + users}}

    def conversations_history(self, *, channel: str, oldest: str, limit: int, include_all_metadata: bool,
                              cursor=None):
        self.history_calls += 1
        if self.history_error:
            raise slack_error("conversations.history", self.history_error)
        messages = [m for m in reversed(self.dms.get(channel.removeprefix("D"), [])) if float(m["ts"]) > float(oldest)]
        return {"ok": True, "messages": messages, "has_more": False}

    def told(self, user: str) -> list[dict]:
        """Messages that reached the user's DM."""
        return list(self.dms.get(user, []))

"""Test doubles for the digest's unit tests: a Slack client that records posts, a pacer, a gateway; and the real
renderer, as app_factory injects it (the clock is tests/helpers/clock.py)."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from blocks.digest import render_digest, render_no_failures
from services.digest.render import DigestRenderer
from services.models import JobsPage

# What app_factory hands DigestService: blocks.digest's renderers.
DIGEST_RENDERER = DigestRenderer(render_digest, render_no_failures)


def slack_error(method: str, code: str, status: int = 200) -> SlackApiError:
    response = SlackResponse(client=None, http_verb="POST", api_url=f"https://slack.test/api/{method}", req_args={},
                             data={"ok": False, "error": code}, headers={}, status_code=status)
    return SlackApiError(f"The request to the Slack API failed. (error: {code})", response)


class FakeSlack:
    """`chat_postMessage` and `conversations_info`, recorded; `refuse(channel, code, times)` scripts errors."""

    def __init__(self):
        self.posts: list[dict] = []
        self.info_calls: list[str] = []
        self._refusals: dict[str, list[str]] = {}
        self.channel_info: dict[str, dict] = {}
        self.info_error: str | None = None

    def refuse(self, channel: str, code: str, times: int = 1) -> None:
        self._refusals.setdefault(channel, []).extend([code] * times)

    def chat_postMessage(self, **params):  # noqa: N802 - slack_sdk's name
        self.posts.append(params)
        queue = self._refusals.get(params["channel"])
        if queue:
            raise slack_error("chat.postMessage", queue.pop(0))
        return {"ok": True, "channel": params["channel"], "ts": f"{len(self.posts)}.000100"}

    def conversations_info(self, *, channel: str):
        self.info_calls.append(channel)
        if self.info_error:
            raise slack_error("conversations.info", self.info_error)
        return {"ok": True, "channel": {"id": channel, "is_member": True, **self.channel_info.get(channel, {})}}

    def posted_to(self, channel: str) -> list[dict]:
        return [p for p in self.posts if p["channel"] == channel]


class FakePacer:
    """Records the channels it was asked to pace, never sleeps."""

    def __init__(self):
        self.waits: list[str] = []

    def wait(self, channel_id: str) -> None:
        self.waits.append(channel_id)


def context_texts(message: dict) -> list[str]:
    return [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]


def posted_arns(messages: list[dict]) -> list[str]:
    """Job ARNs shown in digest messages (each job's ARN is a context line of its own)."""
    return [t for m in messages for t in context_texts(m) if ":data-deletion-job/" in t]


class FakeGateway:
    """PersonalizeGateway's listing half over an in-memory account, newest created first, 100 per page."""

    region = "us-east-1"
    partition = "aws"

    def __init__(self, jobs=()):
        self.jobs = list(jobs)
        self.list_calls = 0
        self._scopes: list[SimpleNamespace] = []

    def add(self, job) -> None:
        self.jobs.append(job)

    @contextmanager
    def scope(self, deadline_seconds=None):
        scope = SimpleNamespace(calls=0, attempts=0, request_ids=[])
        self._scopes.append(scope)
        try:
            yield scope
        finally:
            self._scopes.remove(scope)

    def list_jobs_page(self, *, dataset_group_arn=None, next_token=None, max_results=100, shared=True):
        self.list_calls += 1
        for scope in self._scopes:
            scope.calls += 1
        jobs = sorted((j for j in self.jobs if dataset_group_arn is None or j.dataset_group_arn == dataset_group_arn),
                      key=lambda j: j.created, reverse=True)
        start = int(next_token or 0)
        end = start + max_results
        return JobsPage(jobs=jobs[start:end], next_token=str(end) if end < len(jobs) else None)

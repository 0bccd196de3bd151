"""CappedRateLimitRetryHandler through a real WebClient and the Slack slack: which 429s are waited out, how long."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from services.slack.retry import CappedRateLimitRetryHandler, rate_limit_wait_cap
from tests.helpers.credentials import BOT_TOKEN


def client_for(slack, sleeps: list[float], *, cap: float = 60, retries: int = 2) -> WebClient:
    handler = CappedRateLimitRetryHandler(max_retry_count=retries, max_wait_seconds=cap, sleep=sleeps.append)
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[handler])


def test_a_short_retry_after_is_waited_out_and_retried(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "5"})
    assert client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")["ok"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert len(sleeps) == 1 and 5 <= sleeps[0] < 6


def test_a_retry_after_above_the_cap_is_not_waited_for(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "61"})
    with pytest.raises(SlackApiError) as raised:
        client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")
    assert raised.value.response["error"] == "ratelimited"
    assert sleeps == [] and len(slack.calls("chat.postMessage")) == 1


def test_the_cap_bounds_the_total_wait_of_one_request(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "40"}, times=2)
    with pytest.raises(SlackApiError):
        client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")
    assert len(sleeps) == 1 and len(slack.calls("chat.postMessage")) == 2
    assert sum(sleeps) <= 60


def test_the_jitter_never_pushes_a_wait_past_the_cap(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "60"})
    assert client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")["ok"]
    assert sleeps == [60]


def test_an_unreadable_retry_after_is_not_waited_for(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with pytest.raises(SlackApiError):
        client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")
    assert sleeps == [] and len(slack.calls("chat.postMessage")) == 1


def test_other_errors_are_left_to_the_other_handlers(slack):
    sleeps: list[float] = []
    slack.queue_response("chat.postMessage", status=503)
    with pytest.raises(SlackApiError):
        client_for(slack, sleeps).chat_postMessage(channel="C1", text="hi")
    assert sleeps == [] and len(slack.calls("chat.postMessage")) == 1


@pytest.mark.parametrize(("ttl_minutes", "cap"), [(15, 60), (1.5, 30), (0.02, 0.4)])
def test_the_cap_is_sixty_seconds_and_never_more_than_a_third_of_the_claim_ttl(ttl_minutes, cap):
    assert rate_limit_wait_cap(timedelta(minutes=ttl_minutes)) == pytest.approx(cap)

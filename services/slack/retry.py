"""Slack 429 retries that never wait longer than a cap: a long Retry-After fails the request instead.

slack_sdk's `RateLimitErrorRetryHandler` sleeps whatever `Retry-After` says, with no upper bound. A digest post
waits while holding its ledger claims; if the wait outlasts DIGEST_CLAIM_TTL_MINUTES, another run takes the
claims over and posts the same failures, and then the sleeping post goes through too. Failing fast instead lets
the digest release its claims, so the next run offers those failures again.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

logger = logging.getLogger(__name__)

# Longest a post waits out rate limits, in all, whatever the claim TTL.
MAX_RATE_LIMIT_WAIT_SECONDS = 60.0
# Share of the claim TTL a post may spend waiting out rate limits: the rest covers the HTTP attempts themselves.
CLAIM_TTL_SHARE = 1 / 3
# Slack sends no Retry-After on some 429s; slack_sdk waits about a second then.
_DEFAULT_RETRY_AFTER = 1.0
_WAITED = "rate_limit_waited_seconds"


def rate_limit_wait_cap(claim_ttl: timedelta, *, ceiling: float = MAX_RATE_LIMIT_WAIT_SECONDS) -> float:
    """Seconds one Slack request may spend waiting out 429s: the ceiling, and never more than a third of the TTL."""
    return max(0.0, min(ceiling, claim_ttl.total_seconds() * CLAIM_TTL_SHARE))


def retry_after_seconds(response: HttpResponse | None) -> float | None:
    """The 429's Retry-After in seconds; the default when absent; None when unreadable (an HTTP date, garbage)."""
    if response is None:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list | tuple) else values
            try:
                seconds = float(str(value).strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return _DEFAULT_RETRY_AFTER


class CappedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 after Retry-After only while the request's total wait stays within `max_wait_seconds`.

    A longer (or unreadable) Retry-After is not waited for: the 429 goes back to the caller as a SlackApiError
    (`ratelimited`), which the digest treats like any failed post.
    """

    def __init__(self, max_retry_count: int = 1, *, max_wait_seconds: float, sleep=None):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds
        self._sleep = sleep

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after_seconds(response)
        waited = (state.custom_values or {}).get(_WAITED, 0.0)
        if wait is None or waited + wait > self.max_wait_seconds:
            logger.warning(
                "Slack rate-limited %s and asked to wait %s s; not waiting more than %.0f s in all (waited %.0f s"
                " already), so the request fails now and is tried again later",
                _method(request), "an unreadable time" if wait is None else f"{wait:.0f}", self.max_wait_seconds,
                waited,
            )
            return False
        return True

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        wait = retry_after_seconds(response)
        if response is None or wait is None:  # _can_retry refused these already
            raise error  # type: ignore[misc]
        waited = (state.custom_values or {}).get(_WAITED, 0.0)
        # A little jitter, as slack_sdk adds, so clients told the same Retry-After do not all return at once;
        # never past the cap.
        duration = min(wait + random.random(), max(wait, self.max_wait_seconds - waited))
        state.custom_values = {**(state.custom_values or {}), _WAITED: waited + duration}
        state.next_attempt_requested = True
        (self._sleep or time.sleep)(duration)
        state.increment_current_attempt()


def _method(request: HttpRequest) -> str:
    return request.url.rsplit("/", 1)[-1] if request.url else "a Slack API call"

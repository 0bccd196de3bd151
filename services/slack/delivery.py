"""ResponseDelivery: posts a message through a `response_url`, retrying Slack's transient failures within the URL's
budget of 5 posts.

Slack accepts at most 5 posts per response_url within its 30 minutes, and one interaction may post several
messages through the same URL. Every POST is made here, once per attempt: the webhook client gets no retry
handlers of its own (slack_sdk's default `ConnectionErrorRetryHandler` doubled each attempt, unseen), and a
`ResponseUrlBudget` counts the posts per URL in this process.

A response URL lets whoever holds it post as the app, so none of these lines ever names it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict

from slack_sdk.webhook import WebhookClient

logger = logging.getLogger(__name__)
# slack_sdk's webhook client logs each failed attempt with the URL's neighbours; our own lines say the same without.
_WEBHOOK_LOGGER = logging.getLogger(f"{__name__}.webhook")
_WEBHOOK_LOGGER.setLevel(logging.CRITICAL)

# Slack allows 5 posts per response_url within 30 minutes (FACTS.md).
POSTS_PER_RESPONSE_URL = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60
# Attempts for one message; a later message through the same URL gets whatever the budget has left.
MAX_ATTEMPTS = 3
TIMEOUT_SECONDS = 30


class ResponseUrlBudget:
    """How many posts each response_url has had in this process, over its 30-minute life. Thread-safe.

    Counts every POST attempted, delivered or not: a post that timed out may still have reached Slack.
    Keeps a digest of each URL, never the URL, and forgets URLs older than their lifetime.
    """

    def __init__(self, *, posts: int = POSTS_PER_RESPONSE_URL, lifetime_seconds: float = RESPONSE_URL_LIFETIME_SECONDS,
                 clock=time.monotonic):
        self._posts = posts
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # digest -> (first use, posts so far); oldest first, so expired entries are dropped from the front.
        self._used: OrderedDict[bytes, tuple[float, int]] = OrderedDict()

    def take(self, url: str) -> bool:
        """Reserve one post to `url`; False when it has had all of its posts."""
        key = hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            first, used = self._used.get(key, (now, 0))
            if used >= self._posts:
                return False
            self._used[key] = (first, used + 1)
            return True

    def used(self, url: str) -> int:
        key = hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            self._forget_expired(self._clock())
            return self._used.get(key, (0.0, 0))[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._used)

    def _forget_expired(self, now: float) -> None:
        while self._used:
            first, _ = next(iter(self._used.values()))
            if now - first < self._lifetime:
                return
            self._used.popitem(last=False)


class ResponseDelivery:
    def __init__(self, *, max_attempts: int = MAX_ATTEMPTS, backoff_seconds: float = 0.5, sleep=time.sleep,
                 budget: ResponseUrlBudget | None = None, timeout: int = TIMEOUT_SECONDS):
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._timeout = timeout
        self.budget = budget or ResponseUrlBudget()

    def send(self, respond, message: dict, *, replace_original: bool = False, max_attempts: int | None = None) -> bool:
        """Post `message` (text + blocks) through Bolt's `respond` (its response_url); True when Slack took it.

        `max_attempts` lowers the retries for a message that may be skipped (a progress update), so it cannot
        spend the posts a later answer needs. Never raises: failures are logged, without the URL.
        """
        url = getattr(respond, "response_url", None)
        if not url:
            logger.error("no response_url to answer through: the user saw no answer")
            return False
        payload = dict(message)
        if replace_original:
            payload["replace_original"] = True
        else:
            payload.setdefault("response_type", "ephemeral")
        client = WebhookClient(url=url, proxy=getattr(respond, "proxy", None), ssl=getattr(respond, "ssl", None),
                               timeout=self._timeout, logger=_WEBHOOK_LOGGER, retry_handlers=[])
        return self._post(client, url, payload, min(max_attempts or self._max_attempts, self._max_attempts))

    def _post(self, client: WebhookClient, url: str, payload: dict, max_attempts: int) -> bool:
        status, body = None, "not attempted"
        for attempt in range(1, max_attempts + 1):
            if not self.budget.take(url):
                logger.error("response_url has had its %d posts; the user's message was not updated (last: %s %s)",
                             POSTS_PER_RESPONSE_URL, status, body)
                return False
            status, body = _attempt(client, payload, url)
            if status is not None and 200 <= status < 300:
                return True
            if status == 404:
                logger.warning("response_url expired or used up (HTTP 404 %s): the user's message was not updated",
                               body)
                return False
            if status is not None and status != 429 and status < 500:
                logger.error("response_url refused the message: HTTP %s %s", status, body)
                return False
            if attempt < max_attempts:
                logger.warning("response_url attempt %d failed (%s %s), retrying", attempt, status, body)
                self._sleep(self._backoff * attempt)
        logger.error("response_url failed %d times (last: %s %s); the user saw no answer",
                     max_attempts, status, body)
        return False


def _attempt(client: WebhookClient, payload: dict, url: str) -> tuple[int | None, str]:
    """One POST: (HTTP status, start of the body), or (None, the error) when no answer came; never the URL."""
    try:
        response = client.send_dict(dict(payload))
    except Exception as err:  # noqa: BLE001 - connection errors, timeouts: the caller retries or gives up
        # Some errors quote the URL (`Invalid URL detected: …`, `unknown url type: …`).
        return None, f"{type(err).__name__}: {err}".replace(url, "[response_url]")
    return response.status_code, (response.body or "")[:200].replace(url, "[response_url]")

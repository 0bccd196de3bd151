"""ResponseDelivery: posts a message through a `response_url`, retrying Slack's transient failures."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

# Slack allows 5 posts per response_url; keep retries well inside that.
MAX_ATTEMPTS = 3


class ResponseDelivery:
    def __init__(self, *, max_attempts: int = MAX_ATTEMPTS, backoff_seconds: float = 0.5, sleep=time.sleep):
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def send(self, respond, message: dict, *, replace_original: bool = False) -> bool:
        """Post `message` (text + blocks); True when Slack took it. Never raises: failures are logged."""
        payload = dict(message)
        if replace_original:
            payload["replace_original"] = True
        else:
            payload.setdefault("response_type", "ephemeral")
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = respond(**payload)
            except Exception as err:  # noqa: BLE001 - connection errors after slack_sdk's own retries
                status, body = None, f"{type(err).__name__}: {err}"
            else:
                status, body = response.status_code, (response.body or "")[:200]
                if 200 <= status < 300:
                    return True
                if status == 404:
                    logger.warning("response_url expired or unknown (HTTP 404): the user's message was not updated")
                    return False
                if status not in (429,) and status < 500:
                    logger.error("response_url refused the message: HTTP %s %s", status, body)
                    return False
            if attempt < self._max_attempts:
                logger.warning("response_url attempt %d failed (%s %s), retrying", attempt, status, body)
                self._sleep(self._backoff * attempt)
        logger.error("response_url failed %d times (last: %s %s); the user saw no answer",
                     self._max_attempts, status, body)
        return False

"""Every Slack request processed once, whichever copy arrives first.

Slack retries Events API requests it did not see acknowledged in 3 s (same `event_id`, with `X-Slack-Retry-Num`);
a proxy that retries, or a replay inside the 5-minute signature window, can deliver a command or click twice (same
`trigger_id`). The first copy to reach any process takes the key in the state store (`DeliveryLog`); later copies
are acknowledged and not processed. A copy is never dropped for carrying a retry header: the first copy may never
have reached the bot. Two clicks of one button are two interactions with two `trigger_id`s and both run.

The check runs after the acknowledgement, on the background pool, before the request's work (the request's
Handoff gate, handlers/deliveries.py): a slow database never delays an ack. Its wait is bounded by the database's
own (DATABASE_TIMEOUT_SECONDS); when the database fails, the request is processed anyway, as before this check
existed. A request answered twice is better than one not answered at all.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


def delivery_key(body: dict) -> str | None:
    """What stays the same across deliveries of one request: `event:<event_id>` or `trigger:<trigger_id>`."""
    event_id = body.get("event_id")
    if isinstance(event_id, str) and event_id:
        return f"event:{event_id}"
    trigger_id = body.get("trigger_id")
    if isinstance(trigger_id, str) and trigger_id:
        return f"trigger:{trigger_id}"
    return None


def delivery_kind(body: dict) -> str:
    """For log lines and metrics: `command`, `click`, `event` or `other` (never an id)."""
    if body.get("command"):
        return "command"
    if body.get("type") == "block_actions":
        return "click"
    if body.get("type") == "event_callback":
        return "event"
    return "other"


class RequestDeduplicator:
    """`first_copy(body)`: True when this delivery should be processed, False for a copy already taken."""

    def __init__(self, log, *, metrics=None):
        self._log = log
        self._metrics = metrics

    def first_copy(self, body: dict, *, retry_num: str | None = None) -> bool:
        key = delivery_key(body)
        if key is None:
            return True
        kind = delivery_kind(body)
        if self._take(key, kind) is False:
            logger.info("a repeated delivery of a %s%s was acknowledged and not processed again: an earlier copy"
                        " was", kind, f" (Slack retry {retry_num})" if retry_num else "")
            if self._metrics is not None:
                self._metrics.duplicate_delivery(kind)
            return False
        return True

    def _take(self, key: str, kind: str) -> bool | None:
        """True or False from the state store; None when it could not say (the request is processed)."""
        try:
            return self._log.take(key)
        except SQLAlchemyError as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()
            logger.warning("could not check whether this %s was already processed (the database does not answer:"
                           " %s); processing it", kind, reason[0] if reason else type(err).__name__)
        return None

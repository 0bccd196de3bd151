"""How a failed command or click is answered: one audit outcome, one log line, one message for the user."""

from __future__ import annotations

import logging

from blocks.errors import render_error
from services.errors import AccessRefused, BotError, ListExpired

logger = logging.getLogger(__name__)


def failure_answer(err: Exception, audit, listing, *, what: str, buttons: list[dict] | None = None) -> dict:
    """The message for `err`. A BotError is the user's to act on; anything else is logged with its traceback."""
    if isinstance(err, BotError):
        audit.note(outcome="refused" if isinstance(err, AccessRefused) else "user_error", error=type(err).__name__)
        restart_value = listing.restart_value(err.query) if isinstance(err, ListExpired) else None
        return render_error(err, restart_value=restart_value, buttons=buttons)
    logger.exception("%s failed unexpectedly", what)
    audit.note(outcome="error", error=type(err).__name__)
    return render_error(err)


def answer_listener_error(error: Exception, context):
    """Bolt's error handler: a listener (or middleware) raised. Listeners ack first, and the app acknowledges
    only once the listener has returned (`process_before_response`), so the HTTP answer is still an ack: never a
    500, which Slack shows as "dispatch_failed" and, for events, retries. The person gets the usual failure answer
    through the response_url, sent on the background pool like any answer."""
    from slack_bolt import BoltResponse

    from handlers.handoff import hand_off

    logger.error("a Slack listener failed: %s", type(error).__name__, exc_info=error)
    services, respond = context.get("services"), context.get("respond")
    if services is not None and respond is not None:
        hand_off(context, _answer_failure, services, error, respond)
    acked = context.ack.response if context.get("ack") is not None else None
    return acked or BoltResponse(status=200, body="")


def _answer_failure(services, error: Exception, respond) -> None:
    services.delivery.send(respond, render_error(error))

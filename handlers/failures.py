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

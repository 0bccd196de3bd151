"""TokenWalk: the nextTokens of one walk through a paged AWS list; a token seen before in it is a malformed answer.

An answer whose nextToken repeats a token already used would have the walk re-read the same pages forever (or until a
deadline). Personalize never does this; a broken proxy or endpoint can, so it is a failed call, never more pages.
"""

from __future__ import annotations

import logging

from services.errors import AwsMalformedResponse

logger = logging.getLogger(__name__)


class TokenWalk:
    """Follow `nextToken`s of `operation`; `follow` raises AwsMalformedResponse on a repeat or past `max_pages`."""

    def __init__(self, operation: str, start: str | None = None, *, max_pages: int | None = None):
        self._operation = operation
        self._seen: set[str] = {start} if start else set()
        self._pages = 0
        self._max_pages = max_pages

    def follow(self, token: str | None) -> str | None:
        """The token to ask for next (None: the walk is over), after one more page answered with `token`."""
        self._pages += 1
        if not token:
            return None
        if token in self._seen:
            raise self._malformed(f"its nextToken repeats one already used in this walk (after {self._pages} pages)")
        if self._max_pages is not None and self._pages >= self._max_pages:
            raise self._malformed(f"it still has a nextToken after {self._pages} pages")
        self._seen.add(token)
        return token

    def _malformed(self, problem: str) -> AwsMalformedResponse:
        logger.error("personalize %s: an answer the bot cannot use (%s): counted as a failed call, not as more pages",
                     self._operation, problem)
        return AwsMalformedResponse(problem, code="MalformedResponse")

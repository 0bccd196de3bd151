"""Text helpers for mrkdwn: escaping what we did not write, date tokens, truncation within Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Slack's Block Kit limits, in characters (FACTS.md; slack_sdk's validators agree where they check).
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
CONTEXT_TEXT_LIMIT = 3000
# Slack takes up to 40,000 characters of top-level `text`; notifications show far less, and 3000 is plenty.
FALLBACK_TEXT_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
# A button's value (2000) is filled only by the cursor codec, which owns that limit (services/listing/cursor.py).

ELLIPSIS = "…"
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_LONGEST_ENTITY = len("&amp;")


def escape(text: object) -> str:
    """Escape &, < and > so text from AWS (or a user) cannot ping, link or format as a Slack token."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut plain text (plain_text objects: no entities, no tokens) to at most `limit` characters."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ellipsis), 0)] + ellipsis[:limit]


def truncate_mrkdwn(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut escaped mrkdwn to at most `limit` characters, ellipsis included, never inside an entity (`&amp;`)
    or a Slack token (`<!date^…|…>`, `<#C123>`, `<url|label>`): those are dropped whole instead."""
    if len(text) <= limit:
        return text
    cut = max(limit - len(ellipsis), 0)
    opening = text.rfind("<", 0, cut)
    if opening != -1 and text.find(">", opening, cut) == -1:
        cut = opening
    amp = text.rfind("&", max(cut - _LONGEST_ENTITY + 1, 0), cut)
    entity = _ENTITY.match(text, amp) if amp != -1 else None
    if entity and entity.end() > cut:
        cut = amp
    return text[:cut] + ellipsis[:limit]


def escape_truncated(text: object, limit: int) -> str:
    """Escape, then cut to `limit` characters without splitting an entity such as `&amp;`."""
    return truncate_mrkdwn(escape(text), limit)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def date_token(moment: datetime | None, style: str = "{date_short_pretty} {time}") -> str:
    """`<!date^…>`: each reader sees the time in their own zone; the fallback is UTC."""
    if moment is None:
        return "—"
    moment = as_utc(moment)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{style}|{fallback}>"


def plain_date(moment: datetime | None) -> str:
    return "—" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def plain_text(text: str, limit: int) -> dict:
    """A plain_text object (headers, buttons): no mrkdwn, so no escaping, only the length limit."""
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict:
    """A mrkdwn text object of escaped text, cut to `limit` (a section's by default) whatever it was given."""
    return {"type": "mrkdwn", "text": truncate_mrkdwn(text, limit) or " "}


def field(label: str, value: str) -> dict:
    """A section field: `*label*` over `value` (escaped mrkdwn), within a field's 2000 characters."""
    return mrkdwn(f"*{label}*\n{value}", FIELD_TEXT_LIMIT)


def fallback(text: str) -> str:
    """A message's top-level `text` (mrkdwn too; notifications and screen readers use it)."""
    return truncate_mrkdwn(text, FALLBACK_TEXT_LIMIT) or " "


def section_message(text: str, *, extra_blocks: list[dict] | None = None) -> dict:
    """A message of one section of escaped mrkdwn (and any blocks after it), with the same text as its fallback."""
    blocks = [{"type": "section", "text": mrkdwn(text)}] + (extra_blocks or [])
    return {"text": fallback(text), "blocks": blocks}

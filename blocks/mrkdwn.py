"""Text helpers for mrkdwn: escaping what we did not write, date tokens, truncation within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime

SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
CONTEXT_TEXT_LIMIT = 3000
FALLBACK_TEXT_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75


def escape(text: object) -> str:
    """Escape &, < and > so text from AWS (or a user) cannot ping, link or format as a Slack token."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut plain text to at most `limit` characters."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ellipsis), 0)] + ellipsis


def escape_truncated(text: object, limit: int) -> str:
    """Escape, then cut to `limit` characters without splitting an entity such as `&amp;`."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


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


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text or " "}

"""Answers to `/deletion-jobs digest …` (subscribe, unsubscribe, list, now), built by pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from blocks.jobs import scope_text
from blocks.mrkdwn import (
    CONTEXT_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    date_token,
    escape_truncated,
    fallback,
    mrkdwn,
    section_message,
    truncate_mrkdwn,
)
from services.models import ORIGIN_SETTINGS, Subscription

DIGEST_USAGE = (
    "*Digest of failed deletion jobs in this channel:*\n"
    "• `/deletion-jobs digest subscribe [dataset-group] [at HH:MM] [time-zone]`: e.g."
    " `digest subscribe`, `digest subscribe media-feed`, `digest subscribe at 08:30 Europe/Berlin`\n"
    "• `/deletion-jobs digest unsubscribe`: stop this channel's digest\n"
    "• `/deletion-jobs digest list`: every channel that gets a digest\n"
    "• `/deletion-jobs digest now`: post this channel's digest now"
)
# fullmatch, not match: `$` would let a trailing newline into the token.
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{1,30}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
# A list answer keeps clear of the 50-block limit: header text plus a section per few subscriptions.
_LIST_SECTION_LIMIT = SECTION_TEXT_LIMIT - 100
_LIST_MAX_SECTIONS = 45
# A channel id as Slack sends it is short; anything else is shown as typed, cut to this.
_CHANNEL_LIMIT = 100
# Schedules and notes are the bot's sentences around values it did not check (a stored time zone, Slack's
# error code): their backticks stay, their `&`, `<` and `>` are escaped like any other text.
_SCHEDULE_LIMIT = 300
_NOTE_LIMIT = 1000


def channel_mention(channel_id: str | None) -> str:
    """`<#C123>` for a real channel id (Slack shows its name); anything else escaped, as typed."""
    if channel_id and _CHANNEL_ID.fullmatch(channel_id):
        return f"<#{channel_id}>"
    return escape_truncated(channel_id or "this channel", _CHANNEL_LIMIT)


def render_subscribed(
    subscription: Subscription, *, created: bool, schedule_text: str, next_run: datetime | None,
    note: str | None = None,
) -> dict:
    verb = "Subscribed" if created else "Updated the subscription of"
    text = (
        f":white_check_mark: {verb} {channel_mention(subscription.channel_id)}: a digest of failed deletion jobs"
        f" in {scope_text(subscription.dataset_group_arn)}, {escape_truncated(schedule_text, _SCHEDULE_LIMIT)}."
    )
    if next_run is not None:
        text += f"\nNext digest: {date_token(next_run)}."
    if subscription.last_digest_at is None:
        text += " The first one covers the failures of the last look-back period; each failure is posted once."
    if note:
        text += f"\n:warning: {escape_truncated(note, _NOTE_LIMIT)}"
    return section_message(text)


def render_unsubscribed(channel_id: str, removed: Subscription | None, *, still_configured: bool) -> dict:
    if removed is None:
        return section_message(
            f"{channel_mention(channel_id)} has no digest subscription, so there was nothing to stop.")
    text = f":wave: {channel_mention(channel_id)} no longer gets the digest of failed deletion jobs."
    if still_configured or removed.origin == ORIGIN_SETTINGS:
        text += (
            "\n:warning: This channel is listed in the bot's `DIGEST_CHANNELS` setting, so the subscription comes"
            " back when the bot restarts: ask the bot's admin to remove it there."
        )
    return section_message(text)


def render_subscription_list(subscriptions: Sequence[Subscription], describe: Callable[[Subscription], str]) -> dict:
    if not subscriptions:
        return section_message("No channel gets a digest yet. Subscribe one with `/deletion-jobs digest subscribe`.")
    lines = []
    for s in subscriptions:
        last = date_token(s.last_digest_at) if s.last_digest_at else "none yet"
        source = "from `DIGEST_CHANNELS`" if s.origin == ORIGIN_SETTINGS else (
            f"added by <@{s.created_by}>" if s.created_by and _USER_ID.fullmatch(s.created_by) else "")
        line = (f"• {channel_mention(s.channel_id)} · {scope_text(s.dataset_group_arn)}"
                f" · {escape_truncated(describe(s), _SCHEDULE_LIMIT)}"
                f" · last digest {last}" + (f" · {source}" if source else ""))
        lines.append(truncate_mrkdwn(line, _LIST_SECTION_LIMIT))
    title = f"*{_subscription_count(len(subscriptions))}*"
    blocks = [{"type": "section", "text": mrkdwn(title)}]
    chunk = ""
    shown = 0
    for line in lines:
        if chunk and len(chunk) + len(line) + 1 > _LIST_SECTION_LIMIT:
            if len(blocks) >= _LIST_MAX_SECTIONS:
                break
            blocks.append({"type": "section", "text": mrkdwn(chunk)})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
        shown += 1
    if chunk:
        blocks.append({"type": "section", "text": mrkdwn(chunk)})
    if shown < len(lines):
        blocks.append({"type": "context", "elements": [mrkdwn(f"…and {len(lines) - shown} more", CONTEXT_TEXT_LIMIT)]})
    return {"text": fallback(_subscription_count(len(subscriptions))), "blocks": blocks}


def _subscription_count(count: int) -> str:
    return f"{count} digest subscription{'' if count == 1 else 's'}"


def render_digest_now(channel_id: str, *, reported: int, messages: int, since: datetime | None,
                      posted_empty: bool = False) -> dict:
    since_text = f" since {date_token(since)}" if since else ""
    if reported:
        return section_message(
            f":white_check_mark: Posted {reported} failed deletion job{'s' if reported != 1 else ''}{since_text}"
            f" in {messages} message{'s' if messages != 1 else ''} to {channel_mention(channel_id)}."
        )
    tail = " (posted that to the channel)" if posted_empty else "; nothing to post"
    return section_message(f":white_check_mark: No new failed deletion jobs{since_text}{tail}.")

"""The digest posted to a channel: failed deletion jobs grouped by dataset group, split to fit Block Kit's limits.

`pack_digest` decides which jobs go in which message; `render_digest_part` builds one message. Both are pure, so
the service can mark exactly the jobs of each message it managed to post.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from blocks.jobs import NAME_LIMIT, STATUS_EMOJI, job_arn_context, scope_text
from blocks.mrkdwn import (
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    date_token,
    escape_truncated,
    fallback,
    mrkdwn,
    one_line,
    plain_date,
    plain_text,
)
from services.models import DeletionJob, DigestWindow, dataset_group_name, failure_time

MAX_BLOCKS = 50
# Slack documents no total size for a message, but refuses very long ones (msg_too_long); stay far below.
MESSAGE_TEXT_BUDGET = 12_000
REASON_LIMIT = 500
# Header and window line open every message.
_FIXED_BLOCKS = 2


def _sort_key(job: DeletionJob) -> tuple:
    moment = failure_time(job)
    return (job.dataset_group_name.casefold(), job.dataset_group_arn, moment.timestamp() if moment else 0, job.arn)


def sort_for_digest(jobs: Sequence[DeletionJob]) -> list[DeletionJob]:
    """By dataset group name, then oldest failure first."""
    return sorted(jobs, key=_sort_key)


def job_blocks(job: DeletionJob) -> list[dict]:
    """Name, failure time, escaped and truncated reason; the ARN in a context line."""
    name = escape_truncated(one_line(job.name), NAME_LIMIT) if job.name else "(no name)"
    reason = escape_truncated(one_line(job.failure_reason or "no reason given"), REASON_LIMIT)
    text = f"{STATUS_EMOJI['FAILED']} *{name}* · failed {date_token(failure_time(job))}\n> {reason}"
    return [{"type": "section", "text": mrkdwn(text)}, job_arn_context(job)]


def group_heading(group_arn: str, count: int, *, continued: bool) -> dict:
    name = escape_truncated(one_line(dataset_group_name(group_arn) or "unknown dataset group"), NAME_LIMIT)
    suffix = " (continued)" if continued else ""
    return {"type": "section", "text": mrkdwn(f"*{name}* · {count} failed{suffix}")}


def _size(blocks: list[dict]) -> int:
    total = 0
    for block in blocks:
        if "text" in block:
            total += len(block["text"]["text"])
        total += sum(len(element["text"]) for element in block.get("elements", []))
    return total


def pack_digest(jobs: Sequence[DeletionJob]) -> list[list[DeletionJob]]:
    """Jobs per message: whole jobs only, a group heading never alone at the end, ≤ 50 blocks and a text budget."""
    parts: list[list[DeletionJob]] = []
    current: list[DeletionJob] = []
    used_blocks, used_text = _FIXED_BLOCKS, 0
    for _group_arn, members in groupby(sort_for_digest(jobs), key=lambda job: job.dataset_group_arn):
        heading_due = True
        for job in members:
            cost = job_blocks(job)
            blocks = len(cost) + (1 if heading_due else 0)
            text = _size(cost) + (200 if heading_due else 0)
            if current and (used_blocks + blocks > MAX_BLOCKS or used_text + text > MESSAGE_TEXT_BUDGET):
                parts.append(current)
                current, used_blocks, used_text = [], _FIXED_BLOCKS, 0
                heading_due = True
                blocks = len(cost) + 1
                text = _size(cost) + 200
            current.append(job)
            used_blocks += blocks
            used_text += text
            heading_due = False
    if current:
        parts.append(current)
    return parts


def _group_totals(jobs: Sequence[DeletionJob]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for job in jobs:
        totals[job.dataset_group_arn] = totals.get(job.dataset_group_arn, 0) + 1
    return totals


def _count(n: int) -> str:
    return f"{n} failed deletion job" + ("" if n == 1 else "s")


def shown_since(window: DigestWindow, jobs: Sequence[DeletionJob]) -> datetime:
    """The window's start, or an earlier failure offered again (a post refused or lost in an earlier run)."""
    moments = [m for m in (failure_time(job) for job in jobs) if m is not None]
    return min([window.since, *moments])


def render_digest_part(
    jobs: Sequence[DeletionJob],
    *,
    window: DigestWindow,
    total: int,
    since: datetime,
    part: int = 1,
    parts: int = 1,
    dataset_group_arn: str | None = None,
    groups_started: frozenset[str] = frozenset(),
    group_totals: dict[str, int] | None = None,
) -> dict:
    """One message of a digest. `total` and `group_totals` count the whole digest; `groups_started` were headed
    in earlier parts."""
    suffix = f" · part {part} of {parts}" if parts > 1 else ""
    header = f"{_count(total)}{suffix}"
    window_line = (
        f"Failed between {date_token(since)} and {date_token(window.until)} · {scope_text(dataset_group_arn)}"
    )
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(f":rotating_light: {header}", HEADER_TEXT_LIMIT)},
        {"type": "context", "elements": [mrkdwn(window_line, CONTEXT_TEXT_LIMIT)]},
    ]
    ordered = sort_for_digest(jobs)
    if group_totals is None:
        group_totals = _group_totals(ordered)
    for group_arn, members in groupby(ordered, key=lambda job: job.dataset_group_arn):
        blocks.append(group_heading(group_arn, group_totals.get(group_arn, 0), continued=group_arn in groups_started))
        for job in members:
            blocks.extend(job_blocks(job))
    where = f" in {scope_text(dataset_group_arn)}" if dataset_group_arn else ""
    text = f"{_count(total)}{where} since {plain_date(since)}" + (f" (part {part} of {parts})" if parts > 1 else "")
    return {"text": fallback(text), "blocks": blocks}


def render_digest(
    jobs: Sequence[DeletionJob], *, window: DigestWindow, dataset_group_arn: str | None = None
) -> list[tuple[dict, list[DeletionJob]]]:
    """Every message of a digest, each with the jobs it shows (empty list when nothing failed)."""
    packed = pack_digest(jobs)
    since = shown_since(window, jobs)
    messages = []
    started: set[str] = set()
    totals = _group_totals(jobs)
    for index, part_jobs in enumerate(packed, start=1):
        message = render_digest_part(
            part_jobs, window=window, total=len(jobs), since=since, part=index, parts=len(packed),
            dataset_group_arn=dataset_group_arn, groups_started=frozenset(started), group_totals=totals,
        )
        started.update(job.dataset_group_arn for job in part_jobs)
        messages.append((message, part_jobs))
    return messages


def render_no_failures(*, window: DigestWindow, dataset_group_arn: str | None = None) -> dict:
    """DIGEST_POST_EMPTY's one line."""
    text = (
        f":white_check_mark: No failed deletion jobs since {date_token(window.since)}"
        f" · {scope_text(dataset_group_arn)}"
    )
    return {"text": fallback(f"No failed deletion jobs since {plain_date(window.since)}"),
            "blocks": [{"type": "section", "text": mrkdwn(text)}]}


"""The digest posted to a channel: failed deletion jobs grouped by dataset group, split to fit Block Kit's limits.

`pack_digest` decides which jobs go in which message; `render_digest_part` builds one message. Both are pure, so
the service can mark exactly the jobs of each message it managed to post.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from blocks.jobs import NAME_LIMIT, STATUS_EMOJI, STATUS_LABEL, job_arn_context, scope_text
from blocks.mrkdwn import (
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    date_token,
    escape_truncated,
    fallback,
    mrkdwn,
    one_line,
    plain_date,
    plain_text,
)
from blocks.watch import duration_text
from services.models import Attention, DeletionJob, DigestWindow, dataset_group_name, failure_time

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
    jobs: Sequence[DeletionJob], *, window: DigestWindow, dataset_group_arn: str | None = None,
    attention: Attention | None = None,
) -> list[tuple[dict, list[DeletionJob]]]:
    """Every message of a digest, each with the failed jobs it shows (empty list when nothing failed).

    `attention` (stuck jobs, full PENDING queues) closes the last message, or comes as a message of its own (with
    no failed jobs) when it does not fit there."""
    messages = _failure_messages(jobs, window=window, dataset_group_arn=dataset_group_arn)
    if not attention:
        return messages
    extra = attention_blocks(attention)
    if messages:
        last, _ = messages[-1]
        if len(last["blocks"]) + len(extra) <= MAX_BLOCKS and _size(last["blocks"] + extra) <= MESSAGE_TEXT_BUDGET:
            last["blocks"].extend(extra)
            last["text"] = fallback(f"{last['text']}; {attention_summary(attention)}")
            return messages
    alone = render_attention(attention, window=window, dataset_group_arn=dataset_group_arn, no_failures=not messages)
    return [*messages, (alone, [])]


def _failure_messages(
    jobs: Sequence[DeletionJob], *, window: DigestWindow, dataset_group_arn: str | None
) -> list[tuple[dict, list[DeletionJob]]]:
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



# ---- what needs attention besides failures (issue 11): stuck jobs, full PENDING queues ------------------------

# Lines listed in the "Still running" section; the rest are counted.
MAX_STUCK_LINES = 25
_MORE_RESERVE = 80


def attention_summary(attention: Attention) -> str:
    parts = []
    if attention.stuck:
        parts.append(f"{len(attention.stuck)} still running after {duration_text(attention.stuck_after)}")
    if attention.full_queues:
        parts.append(f"{len(attention.full_queues)} dataset group(s) with a full PENDING queue")
    return "; ".join(parts)


def _lines_within(head: str, lines: list[str], total: int) -> str:
    """`head` and as many whole lines as fit one section, then how many were left out."""
    text, shown = head, 0
    for line in lines[:MAX_STUCK_LINES]:
        if len(text) + 1 + len(line) > SECTION_TEXT_LIMIT - _MORE_RESERVE:
            break
        text += "\n" + line
        shown += 1
    if shown < total:
        text += f"\n…and {total - shown} more (`/deletion-jobs in-progress` and `/deletion-jobs pending` list them)."
    return text


def _stuck_line(stuck) -> str:
    job = stuck.job
    name = escape_truncated(one_line(job.name), NAME_LIMIT) if job.name else "(no name)"
    group = escape_truncated(one_line(dataset_group_name(job.dataset_group_arn)), NAME_LIMIT)
    status = escape_truncated(one_line(STATUS_LABEL.get(job.status, job.status)), 40)
    return (f"• *{name}* · {group} · {status} for {duration_text(stuck.running_for)}"
            f" (created {date_token(job.created)})")


def _queue_line(queue, max_pending: int) -> str:
    group = escape_truncated(one_line(dataset_group_name(queue.dataset_group_arn)), NAME_LIMIT)
    return (f"• *{group}* has *{queue.pending}* PENDING deletion jobs (Personalize accepts at most {max_pending}):"
            " new deletion jobs there will fail until one of them starts.")


def attention_blocks(attention: Attention) -> list[dict]:
    """A "Still running" section and a full-queue warning: two sections at most, each within Slack's limits."""
    blocks = []
    if attention.stuck:
        count = len(attention.stuck)
        head = (f":hourglass_flowing_sand: *Still running* · {count} deletion job{'' if count == 1 else 's'}"
                f" created more than {duration_text(attention.stuck_after)} ago")
        lines = [_stuck_line(stuck) for stuck in attention.stuck]
        blocks.append({"type": "section", "text": mrkdwn(_lines_within(head, lines, count))})
    if attention.full_queues:
        head = ":warning: *Full PENDING queue*"
        lines = [_queue_line(queue, attention.max_pending) for queue in attention.full_queues]
        blocks.append({"type": "section", "text": mrkdwn(_lines_within(head, lines, len(lines)))})
    return blocks


def render_attention(attention: Attention, *, window: DigestWindow, dataset_group_arn: str | None = None,
                     no_failures: bool = False) -> dict:
    """What needs attention, as a message: a digest with no new failures, or the part after its failures."""
    when = (f"No failed deletion jobs since {date_token(window.since)}" if no_failures
            else f"As of {date_token(window.until)}")
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(":hourglass: Deletion jobs that need attention", HEADER_TEXT_LIMIT)},
        {"type": "context", "elements": [mrkdwn(f"{when} · {scope_text(dataset_group_arn)}", CONTEXT_TEXT_LIMIT)]},
        *attention_blocks(attention),
    ]
    return {"text": fallback(f"Deletion jobs that need attention: {attention_summary(attention)}"), "blocks": blocks}

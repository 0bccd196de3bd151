"""Building blocks for one deletion job, shared by the listing, the details view and the digest."""

from __future__ import annotations

from blocks.mrkdwn import CONTEXT_TEXT_LIMIT, date_token, escape_truncated, mrkdwn, one_line
from services.models import DeletionJob, dataset_group_name

STATUS_EMOJI = {
    "PENDING": ":hourglass_flowing_sand:",
    "IN_PROGRESS": ":arrows_counterclockwise:",
    "COMPLETED": ":white_check_mark:",
    "FAILED": ":x:",
}
STATUS_LABEL = {
    "PENDING": "Pending",
    "IN_PROGRESS": "In progress",
    "COMPLETED": "Completed",
    "FAILED": "Failed",
}
LIST_REASON_LIMIT = 600
NAME_LIMIT = 200
# AWS's statuses are short words; anything else it sends is shown, cut to this.
STATUS_LIMIT = 40
ARN_LIMIT = 1000


def status_badge(status: str) -> str:
    emoji = STATUS_EMOJI.get(status, ":grey_question:")
    return f"{emoji} *{escape_truncated(one_line(STATUS_LABEL.get(status, status or 'Unknown')), STATUS_LIMIT)}*"


def job_summary_text(job: DeletionJob) -> str:
    """Status, name, group, times and (for FAILED) the reason, all AWS text escaped; ≤ 3000 characters."""
    lines = [
        f"{status_badge(job.status)} · *{escape_truncated(one_line(job.name), NAME_LIMIT)}*"
        f" · {escape_truncated(one_line(job.dataset_group_name), NAME_LIMIT)}",
        f"Created {date_token(job.created)} · Updated {date_token(job.updated)}",
    ]
    if job.status == "FAILED" or job.failure_reason:
        reason = one_line(job.failure_reason or "no reason given")
        lines.append(f"> {escape_truncated(reason, LIST_REASON_LIMIT)}")
    return "\n".join(lines)


def scope_text(dataset_group_arn: str | None) -> str:
    """What a digest or subscription covers: `all dataset groups`, or `dataset group `media-feed``."""
    if not dataset_group_arn:
        return "all dataset groups"
    return f"dataset group `{escape_truncated(dataset_group_name(dataset_group_arn), NAME_LIMIT)}`"


def job_arn_context(job: DeletionJob) -> dict:
    return {"type": "context", "elements": [mrkdwn(escape_truncated(job.arn, ARN_LIMIT), CONTEXT_TEXT_LIMIT)]}

"""One deletion job in full (DescribeDataDeletionJob), with a button back to the page it came from."""

from __future__ import annotations

from blocks.job_list import ACTION_BACK, button, watch_button, watchable
from blocks.jobs import NAME_LIMIT, STATUS_LIMIT, job_arn_context, status_badge
from blocks.mrkdwn import (
    FIELD_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    date_token,
    escape_truncated,
    fallback,
    field,
    mrkdwn,
    one_line,
    plain_text,
)
from services.models import DeletionJobDetails

_REASON_LABEL = "*Failure reason*\n> "
REASON_LIMIT = SECTION_TEXT_LIMIT - len(_REASON_LABEL)
# A field's text is its label, a newline and the value; the longest label is 16 characters.
FIELD_VALUE_LIMIT = FIELD_TEXT_LIMIT - 20


def render_job_details(details: DeletionJobDetails, *, back_value: str | None) -> dict:
    """The job in full; **Back to list** when it came from a list (`back_value`), **Watch** while it runs."""
    job = details.job
    deleted = "—" if details.num_deleted is None else f"{details.num_deleted:,}"
    fields = [
        field("Status", status_badge(job.status)),
        field("Dataset group", escape_truncated(job.dataset_group_name, FIELD_VALUE_LIMIT)),
        field("Records deleted", deleted),
        field("Created", date_token(job.created)),
        field("Last updated", date_token(job.updated)),
        field("Data source", escape_truncated(details.data_location or "—", FIELD_VALUE_LIMIT)),
        field("Role", escape_truncated(details.role_arn or "—", FIELD_VALUE_LIMIT)),
    ]
    title = f"Deletion job · {one_line(job.name) or one_line(job.arn)}"
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(title, HEADER_TEXT_LIMIT)},
        {"type": "section", "fields": fields},
    ]
    if job.failure_reason:
        reason = escape_truncated(one_line(job.failure_reason), REASON_LIMIT)
        blocks.append({"type": "section", "text": mrkdwn(_REASON_LABEL + reason)})
    blocks.append(job_arn_context(job))
    buttons = [button("Back to list", ACTION_BACK, back_value)] if back_value else []
    if watchable(job):
        buttons.append(watch_button(job))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    name = escape_truncated(one_line(job.name), NAME_LIMIT)
    return {"text": fallback(f"Deletion job {name}: {escape_truncated(one_line(job.status), STATUS_LIMIT)}"),
            "blocks": blocks}

"""One deletion job in full (DescribeDataDeletionJob), with a button back to the page it came from."""

from __future__ import annotations

from blocks.job_list import ACTION_BACK, button
from blocks.jobs import status_badge
from blocks.mrkdwn import date_token, escape_truncated, mrkdwn, one_line, plain_text
from services.models import DeletionJobDetails

REASON_LIMIT = 2800


def render_job_details(details: DeletionJobDetails, *, back_value: str) -> dict:
    job = details.job
    deleted = "—" if details.num_deleted is None else f"{details.num_deleted:,}"
    fields = [
        mrkdwn(f"*Status*\n{status_badge(job.status)}"),
        mrkdwn(f"*Dataset group*\n{escape_truncated(job.dataset_group_name, 1900)}"),
        mrkdwn(f"*Records deleted*\n{deleted}"),
        mrkdwn(f"*Created*\n{date_token(job.created)}"),
        mrkdwn(f"*Last updated*\n{date_token(job.updated)}"),
        mrkdwn(f"*Data source*\n{escape_truncated(details.data_location or '—', 1900)}"),
        mrkdwn(f"*Role*\n{escape_truncated(details.role_arn or '—', 1900)}"),
    ]
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(f"Deletion job · {one_line(job.name) or job.arn}", 150)},
        {"type": "section", "fields": fields},
    ]
    if job.failure_reason:
        blocks.append({"type": "section", "text": mrkdwn(
            "*Failure reason*\n> " + escape_truncated(one_line(job.failure_reason), REASON_LIMIT))})
    blocks.append({"type": "context", "elements": [mrkdwn(escape_truncated(job.arn, 1000))]})
    blocks.append({"type": "actions", "elements": [button("Back to list", ACTION_BACK, back_value)]})
    text = f"Deletion job {escape_truncated(one_line(job.name), 200)}: {escape_truncated(job.status, 100)}"
    return {"text": text, "blocks": blocks}

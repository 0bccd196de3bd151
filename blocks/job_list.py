"""The `/deletion-jobs` answer: a header, one section per job, a footer and the paging button."""

from __future__ import annotations

from blocks.jobs import STATUS_LABEL, job_arn_context, job_summary_text
from blocks.mrkdwn import (
    BUTTON_TEXT_LIMIT,
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    escape,
    fallback,
    mrkdwn,
    plain_text,
)
from services.models import Page, dataset_group_name

ACTION_NEXT = "deletion_jobs.next"
ACTION_CONTINUE = "deletion_jobs.continue"
ACTION_DETAILS = "deletion_jobs.details"
ACTION_BACK = "deletion_jobs.back"
ACTION_RESTART = "deletion_jobs.restart"


def list_title(status: str | None, dataset_group_arn: str | None) -> str:
    """`Failed deletion jobs · media-feed`, `Deletion jobs · all dataset groups`."""
    what = f"{STATUS_LABEL.get(status, status)} deletion jobs" if status else "Deletion jobs"
    where = dataset_group_name(dataset_group_arn) if dataset_group_arn else "all dataset groups"
    return f"{what} · {where}"


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict:
    element = {"type": "button", "text": plain_text(text, BUTTON_TEXT_LIMIT), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def render_job_page(
    page: Page,
    *,
    next_value: str | None,
    details_values: list[str] | None = None,
) -> dict:
    """The message for one page. `details_values[i]` is the Details button value of `page.jobs[i]`."""
    query = page.cursor.query
    title = list_title(query.status, query.dataset_group_arn)
    blocks: list[dict] = [{"type": "header", "text": plain_text(title, HEADER_TEXT_LIMIT)}]

    for index, job in enumerate(page.jobs):
        section = {"type": "section", "text": mrkdwn(job_summary_text(job))}
        if details_values:
            section["accessory"] = button("Details", ACTION_DETAILS, details_values[index])
        blocks.append(section)
        blocks.append(job_arn_context(job))

    if page.jobs:
        footer = f"Page {page.cursor.page} · jobs {page.first_number}–{page.last_number}"
    elif page.partial:
        footer = f"Page {page.cursor.page} · no matching jobs yet"
    elif page.cursor.page == 1:
        footer = "No deletion jobs match." if query.status or query.dataset_group_arn else "No deletion jobs yet."
    else:
        # The previous page ended where AWS still had jobs, none of which matched.
        footer = f"Page {page.cursor.page} · no more matching jobs"
    if page.partial:
        footer += (
            f" · scanned {page.scanned} jobs in {page.api_calls} AWS calls and stopped there;"
            " press Continue to look further"
        )
    elif page.next_cursor is None and page.jobs:
        footer += " · end of list"
    blocks.append({"type": "context", "elements": [mrkdwn(footer, CONTEXT_TEXT_LIMIT)]})

    if next_value:
        label, action = ("Continue", ACTION_CONTINUE) if page.partial else ("Next page", ACTION_NEXT)
        blocks.append({"type": "actions", "elements": [button(label, action, next_value, style="primary")]})

    return {"text": fallback(f"{escape(title)}: {footer}"), "blocks": blocks}

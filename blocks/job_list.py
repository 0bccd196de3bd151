"""The `/deletion-jobs` answer: a header, one section per job, a footer and the paging button."""

from __future__ import annotations

from datetime import timedelta

from blocks.jobs import STATUS_LABEL, job_arn_context, job_summary_text
from blocks.mrkdwn import (
    BUTTON_TEXT_LIMIT,
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    date_token,
    escape,
    fallback,
    mrkdwn,
    one_line,
    plain_text,
)
from services.models import RUNNING_STATUSES, DeletionJob, Page, dataset_group_name

ACTION_NEXT = "deletion_jobs.next"
ACTION_CONTINUE = "deletion_jobs.continue"
ACTION_DETAILS = "deletion_jobs.details"
ACTION_BACK = "deletion_jobs.back"
ACTION_RESTART = "deletion_jobs.restart"
ACTION_WATCH = "deletion_jobs.watch"
MAX_BLOCKS = 50
# Slack's limit on a button's value: a Watch or Unwatch button carries the job ARN (at most 256 from AWS).
ARN_VALUE_LIMIT = 2000
# A page built from data older than this (pages are shared between requests for LIST_CACHE_SECONDS) says when
# that data was read; a fresher one says nothing.
SHOW_READ_TIME_AFTER = timedelta(seconds=5)


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


def watchable(job: DeletionJob) -> bool:
    """A job still running gets a Watch button (its value is the job ARN, checked again when pressed)."""
    return job.status in RUNNING_STATUSES and 0 < len(job.arn) <= ARN_VALUE_LIMIT


def watch_button(job: DeletionJob, *, named: bool = False) -> dict:
    label = f"Watch {one_line(job.name)}" if named else "Watch"
    return button(label, ACTION_WATCH, job.arn)


def _job_blocks(jobs: list[DeletionJob], details_values: list[str] | None, room: int) -> list[dict]:
    """Each job's section (Details beside it) and ARN line, and a Watch button under each running job: in its own
    actions block when `room` blocks allow, else together in one block after the jobs (20 jobs fit either way)."""
    blocks: list[dict] = []
    running = [job for job in jobs if watchable(job)]
    apart = 2 * len(jobs) + len(running) <= room
    for index, job in enumerate(jobs):
        section = {"type": "section", "text": mrkdwn(job_summary_text(job))}
        if details_values:
            section["accessory"] = button("Details", ACTION_DETAILS, details_values[index])
        blocks += [section, job_arn_context(job)]
        if apart and watchable(job):
            blocks.append({"type": "actions", "elements": [watch_button(job)]})
    if running and not apart:
        blocks.append({"type": "actions", "elements": [watch_button(job, named=True) for job in running[:25]]})
    return blocks


def read_time_note(page: Page) -> str:
    """` · as of <time>` when the page's data was read from AWS more than SHOW_READ_TIME_AFTER before it was built."""
    age = page.data_age
    if age is None or age <= SHOW_READ_TIME_AFTER:
        return ""
    return f" · as of {date_token(page.read_at, '{time_secs}')}"


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

    # Header, footer and the paging button take three blocks.
    blocks += _job_blocks(page.jobs, details_values, MAX_BLOCKS - 3)

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
            # Pages, not calls: some may have come from another request's read (services/aws/page_cache.py).
            f" · scanned {page.scanned} jobs in {page.api_calls} {'page' if page.api_calls == 1 else 'pages'} of"
            " AWS's list and stopped there;"
            " press Continue to look further"
        )
    elif page.next_cursor is None and page.jobs:
        footer += " · end of list"
    footer += read_time_note(page)
    blocks.append({"type": "context", "elements": [mrkdwn(footer, CONTEXT_TEXT_LIMIT)]})

    if next_value:
        label, action = ("Continue", ACTION_CONTINUE) if page.partial else ("Next page", ACTION_NEXT)
        blocks.append({"type": "actions", "elements": [button(label, action, next_value, style="primary")]})

    return {"text": fallback(f"{escape(title)}: {footer}"), "blocks": blocks}

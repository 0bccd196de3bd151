"""Watches in Block Kit: the direct message when a watched job ends, the answers to watch/unwatch/watching, and
the watch errors in words. Pure functions; every AWS string escaped, every text cut to Slack's limits."""

from __future__ import annotations

from datetime import datetime, timedelta

from blocks.job_list import ARN_VALUE_LIMIT, button
from blocks.jobs import NAME_LIMIT, STATUS_LABEL, job_arn_context, status_badge
from blocks.mrkdwn import (
    CONTEXT_TEXT_LIMIT,
    as_utc,
    date_token,
    escape_truncated,
    fallback,
    mrkdwn,
    one_line,
)
from services.models import (
    OUTCOME_EXPIRED,
    OUTCOME_VANISHED,
    DeletionJob,
    DeletionJobDetails,
    Watch,
    dataset_group_name,
)

ACTION_UNWATCH = "deletion_jobs.unwatch"
ACTION_WATCH_DETAILS = "deletion_jobs.watch_details"
REASON_LIMIT = 1500
LOCATION_LIMIT = 500
# A person has at most 20 watches; one block each, plus the opening line and the note.
MAX_LISTED = 45


def duration_text(delta: timedelta | None) -> str:
    """`2 d 3 h`, `1 d`, `3 h 12 min`, `7 min`, `under a minute`; `an unknown time` without both ends."""
    if delta is None:
        return "an unknown time"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return as_utc(end) - as_utc(start) if start and end else None


def _name(name: str, arn: str) -> str:
    return escape_truncated(one_line(name or arn.rpartition("/")[2] or arn), NAME_LIMIT)


def _group(arn: str) -> str:
    return escape_truncated(one_line(dataset_group_name(arn)), NAME_LIMIT)


def _status(status: str) -> str:
    return escape_truncated(one_line(STATUS_LABEL.get(status, status or "Unknown")), 40).lower()


def _arn_context(arn: str) -> dict:
    return job_arn_context(DeletionJob(arn=arn, name="", dataset_group_arn="", status="", created=None, updated=None))


def _details_button(arn: str) -> list[dict]:
    if not 0 < len(arn) <= ARN_VALUE_LIMIT:
        return []
    return [{"type": "actions", "elements": [button("Details", ACTION_WATCH_DETAILS, arn)]}]


# ---- how a job ended: the direct message, and the answer when it had already ended ----------------------------


def _completed_text(name: str, group: str, num_deleted: int | None, took: timedelta | None,
                    created: datetime | None, finished: datetime | None) -> str:
    deleted = "an unknown number of" if num_deleted is None else f"*{num_deleted:,}*"
    return (f":white_check_mark: Deletion job *{name}* has *completed*: {deleted} records deleted from dataset group"
            f" *{group}*.\nIt took {duration_text(took)} (created {date_token(created)}, finished"
            f" {date_token(finished)}).")


def _failed_text(name: str, group: str, reason: str | None, location: str | None, took: timedelta | None) -> str:
    reason_text = escape_truncated(one_line(reason or "no reason given"), REASON_LIMIT)
    where = f" `{escape_truncated(one_line(location), LOCATION_LIMIT)}`" if location else ""
    return (f":x: Deletion job *{name}* has *failed* in dataset group *{group}* after {duration_text(took)}.\n"
            f"> {reason_text}\n"
            f"*What next:* fix what the reason names, then submit a new data deletion job for the same data"
            f" location{where}: it can be submitted again. A dataset group takes at most 5 PENDING deletion jobs.")


def _ended_message(text: str, plain: str, arn: str) -> dict:
    blocks = [{"type": "section", "text": mrkdwn(text)}, _arn_context(arn), *_details_button(arn)]
    return {"text": fallback(plain), "blocks": blocks}


def _finished_message(job: DeletionJob, num_deleted: int | None, location: str | None) -> dict:
    name, group = _name(job.name, job.arn), _group(job.dataset_group_arn)
    took = _between(job.created, job.updated)
    if job.status == "COMPLETED":
        text = _completed_text(name, group, num_deleted, took, job.created, job.updated)
        deleted = "?" if num_deleted is None else f"{num_deleted:,}"
        return _ended_message(text, f"Deletion job {name} completed: {deleted} records deleted", job.arn)
    text = _failed_text(name, group, job.failure_reason, location, took)
    reason = escape_truncated(one_line(job.failure_reason or "no reason given"), 300)
    return _ended_message(text, f"Deletion job {name} failed: {reason}", job.arn)


def render_watch_notice(watch: Watch) -> dict:
    """The one direct message a watcher gets: completed, failed, still running after WATCH_MAX_DAYS, or gone."""
    if watch.outcome in ("COMPLETED", "FAILED"):
        job = DeletionJob(arn=watch.job_arn, name=watch.job_name, dataset_group_arn=watch.dataset_group_arn,
                          status=watch.outcome, created=watch.job_created_at, updated=watch.finished_at,
                          failure_reason=watch.failure_reason)
        return _finished_message(job, watch.num_deleted, watch.data_location)
    name, group = _name(watch.job_name, watch.job_arn), _group(watch.dataset_group_arn)
    if watch.outcome == OUTCOME_EXPIRED:
        text = (f":hourglass: I stopped watching deletion job *{name}* (dataset group *{group}*): it is still"
                f" *{_status(watch.last_status)}* (checked {date_token(watch.last_checked_at)}), running since"
                f" {date_token(watch.job_created_at)}; I watched it from {date_token(watch.started_at)}.\n"
                f"Watch it again with `/deletion-jobs watch {name}`.")
        return _ended_message(text, f"Deletion job {name} is still {_status(watch.last_status)}; watch ended",
                              watch.job_arn)
    if watch.outcome == OUTCOME_VANISHED:
        text = (f":grey_question: AWS no longer knows deletion job *{name}* (dataset group *{group}*), so I stopped"
                " watching it. Its dataset group may have been deleted.")
        return {"text": fallback(f"Deletion job {name} is gone; watch ended"),
                "blocks": [{"type": "section", "text": mrkdwn(text)}, _arn_context(watch.job_arn)]}
    text = f"Deletion job *{name}*: {escape_truncated(one_line(watch.outcome or ''), 40)}"
    return _ended_message(text, text, watch.job_arn)


def render_already_finished(details: DeletionJobDetails) -> dict:
    """`watch` of a job that has already ended: its result now, and no watch."""
    message = _finished_message(details.job, details.num_deleted, details.data_location)
    message["blocks"].insert(1, {"type": "context", "elements": [
        mrkdwn("It has already ended, so there is nothing to watch.", CONTEXT_TEXT_LIMIT)]})
    return message


# ---- answers to watch, unwatch and watching -----------------------------------------------------------------


def render_watch_started(job: DeletionJob, *, already: bool) -> dict:
    name, group = _name(job.name, job.arn), _group(job.dataset_group_arn)
    opening = "You are already watching" if already else ":eyes: Watching"
    text = (f"{opening} deletion job *{name}* (dataset group *{group}*), {_status(job.status)} now, created"
            f" {date_token(job.created)}.\nI will send you a direct message when it completes or fails."
            " `/deletion-jobs watching` lists your watches.")
    return {"text": fallback(f"{'Already watching' if already else 'Watching'} deletion job {name}"),
            "blocks": [{"type": "section", "text": mrkdwn(text)}, _arn_context(job.arn)]}


def watch_section(watch: Watch) -> dict:
    """One watch: its status when last seen, since when, and **Unwatch** (`watching`, the Home tab)."""
    text = (f"{status_badge(watch.last_status)} · *{_name(watch.job_name, watch.job_arn)}* ·"
            f" {_group(watch.dataset_group_arn)}\nLast checked {date_token(watch.last_checked_at)} · watched since"
            f" {date_token(watch.started_at)}")
    section = {"type": "section", "text": mrkdwn(text)}
    if 0 < len(watch.job_arn) <= ARN_VALUE_LIMIT:
        section["accessory"] = button("Unwatch", ACTION_UNWATCH, watch.job_arn)
    return section


def render_watching(watches: list[Watch], *, limit: int, note: str | None = None) -> dict:
    """`/deletion-jobs watching`: each watch with its status when last seen, since when, and **Unwatch**.

    `note` is mrkdwn the bot wrote (e.g. `unwatched_note`, which escapes what it quotes)."""
    blocks: list[dict] = []
    if note:
        blocks.append({"type": "section", "text": mrkdwn(note)})
    if watches:
        count = f"{len(watches)} deletion job" + ("" if len(watches) == 1 else "s")
        head = (f"*You are watching {count}* (at most {limit}). I send you a direct message when each one completes"
                " or fails.")
    else:
        head = ("You are not watching any deletion job. Watch one with"
                " `/deletion-jobs watch &lt;job name or ARN&gt;`, or the *Watch* button beside a pending or running"
                " job in a list.")
    blocks.append({"type": "section", "text": mrkdwn(head)})
    shown = watches[:MAX_LISTED - len(blocks) - 1]
    blocks += [watch_section(watch) for watch in shown]
    if len(shown) < len(watches):
        blocks.append({"type": "context", "elements": [
            mrkdwn(f"…and {len(watches) - len(shown)} more.", CONTEXT_TEXT_LIMIT)]})
    plain = f"Watching {len(watches)} deletion job(s)"
    return {"text": fallback(f"{note}\n{plain}" if note else plain), "blocks": blocks}


def unwatched_note(watch: Watch) -> str:
    return (f"Stopped watching deletion job *{_name(watch.job_name, watch.job_arn)}* (dataset group"
            f" *{_group(watch.dataset_group_arn)}*): no message will come about it.")


# ---- errors, in words (called by blocks.errors.render_error) ---------------------------------------------------


def watch_error_text(err: Exception) -> str | None:
    """Text for the errors of services/watches/errors.py; None for any other error."""
    from services import errors

    def code(text: str, limit: int = 300) -> str:
        return f"`{escape_truncated(one_line(text), limit)}`"

    if isinstance(err, errors.MalformedJobArn):
        return (f":warning: {code(err.arn)} is not a deletion job ARN. It should look like"
                " `arn:aws:personalize:&lt;region&gt;:&lt;account&gt;:data-deletion-job/&lt;name&gt;`.")
    if isinstance(err, errors.ForeignJobArn):
        return (f":no_entry: That ARN is in {err.part} {code(err.given, 100)}; this bot reads {err.part}"
                f" {code(err.expected, 100)}, so it cannot watch {code(err.arn.rpartition('/')[2], 100)}.")
    if isinstance(err, errors.JobAccountUnknown):
        return (f":mag: I cannot tell which AWS account {code(err.name)} is in: no dataset group is listed in this"
                " region yet. Give the job's full ARN instead.")
    if isinstance(err, errors.WatchedJobNotFound):
        return (f":mag: I can't find a deletion job {code(err.job)} in this account and region. Check the name"
                " (`/deletion-jobs` lists the jobs), or give its full ARN.")
    if isinstance(err, errors.WatchLimitReached):
        return (f":no_entry: You are already watching {err.limit} deletion jobs, the most one person can. End one"
                " with its *Unwatch* button in `/deletion-jobs watching` (or `/deletion-jobs unwatch &lt;job&gt;`),"
                " then try again.")
    if isinstance(err, errors.NotWatching):
        return f"You are not watching {code(err.job)}. `/deletion-jobs watching` lists what you watch."
    return None

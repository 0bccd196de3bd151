"""The Home tab and its modals, built by pure functions: every AWS string escaped, every text cut to Slack's
limits, and never more than a Home view's 100 blocks, however many dataset groups, failures or subscriptions
there are (past a limit the rest is summed up in one line that says so)."""

from __future__ import annotations

from datetime import datetime, timedelta

from blocks.details import render_job_details
from blocks.digest_answers import channel_mention
from blocks.errors import render_error
from blocks.job_list import ACTION_DETAILS, button
from blocks.jobs import NAME_LIMIT, STATUS_EMOJI, STATUS_LABEL, scope_text
from blocks.mrkdwn import (
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    date_token,
    escape_truncated,
    mrkdwn,
    one_line,
    plain_text,
    truncate_mrkdwn,
)
from blocks.watch import duration_text, watch_section
from services import errors
from services.models import STATUSES, DeletionJobDetails, GroupActivity, HomeFailure, HomeModel, StuckJob

ACTION_HOME_REFRESH = "deletion_jobs.home_refresh"
# Slack's limit for a Home view (FACTS.md), and a modal's title and button texts.
MAX_BLOCKS = 100
MODAL_TITLE_LIMIT = 24
# At most this many dataset groups get a section of their own; the rest share one summary line.
MAX_GROUPS_SHOWN = 25
# A person has at most 20 watches (services.watches.service); Home shows them all, and never more than this.
MAX_WATCHES_SHOWN = 25
# Subscriptions are listed a few to a section, in at most this many sections.
MAX_SUBSCRIPTION_SECTIONS = 3
REASON_LIMIT = 300
_LINE_LIMIT = 600
TITLE = "Deletion jobs"


def _header(text: str) -> dict:
    return {"type": "header", "text": plain_text(text, HEADER_TEXT_LIMIT)}


def _section(text: str) -> dict:
    return {"type": "section", "text": mrkdwn(text)}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(text, CONTEXT_TEXT_LIMIT)]}


def _name(text: str) -> str:
    return escape_truncated(one_line(text), NAME_LIMIT)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def refresh_button() -> dict:
    return {"type": "actions", "elements": [button("Refresh", ACTION_HOME_REFRESH, "refresh")]}


def _every(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


# ---- the Home tab -------------------------------------------------------------------------------------------


def render_home(model: HomeModel) -> dict:
    """A person's Home tab (`views.publish`'s `view`)."""
    top = _top_blocks(model)
    attention = _attention_blocks(model)
    mine = _watch_blocks(model) + _subscription_blocks(model)
    room = MAX_BLOCKS - len(top) - len(attention) - len(mine)
    blocks = top + attention + _group_blocks(model, room) + mine
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def _top_blocks(model: HomeModel) -> list[dict]:
    lines = [f"As of {date_token(model.read_at)} · deletion jobs created in the last {model.window_days} days ·"
             f" read from AWS at most every {_every(model.refresh_seconds)}, shared by everyone"]
    if model.refresh_failure:
        lines.append(f":warning: The read at {date_token(model.refresh_failed_at)} failed:"
                     f" {_failure_sentence(model.refresh_failure)} This is the read before it.")
    if not model.complete:
        since = date_token(model.covers_since) if model.covers_since else "the newest jobs"
        lines.append(f":warning: The read stopped early (its AWS call budget or deadline): counts cover the jobs"
                     f" created since {since} only.")
    return [_header(TITLE), _context("\n".join(lines)), refresh_button()]


def _attention_blocks(model: HomeModel) -> list[dict]:
    blocks = [{"type": "divider"}, _header("Needs attention")]
    full = model.full_queues
    if not (model.failures or model.stuck or full):
        stuck = ", none is stuck" if model.stuck_after is not None else ""
        blocks.append(_section(f":white_check_mark: Nothing needs attention: no deletion job failed in the last"
                               f" {model.failure_days} days{stuck}, and no dataset group's PENDING queue is full."))
        return blocks
    if full:
        names = ", ".join(f"*{_name(group.name)}*" for group in full)
        blocks.append(_section(f":no_entry: *PENDING queue full* ({model.max_pending} of {model.max_pending}):"
                               f" {names}. Personalize refuses new deletion jobs there until one starts."))
    blocks += [_failure_section(failure) for failure in model.failures]
    if model.failure_count > len(model.failures):
        more = model.failure_count - len(model.failures)
        blocks.append(_context(f"…and {_plural(more, 'more failure')} in the last {model.failure_days} days:"
                               " `/deletion-jobs failed` lists them all."))
    if model.stuck:
        blocks.append(_stuck_section(model.stuck, model.stuck_count, model.stuck_after))
    return blocks


def _failure_section(failure: HomeFailure) -> dict:
    job = failure.job
    reason = escape_truncated(one_line(job.failure_reason or "no reason given"), REASON_LIMIT)
    text = (f"{STATUS_EMOJI['FAILED']} *{_name(job.name or job.arn)}* · {_name(job.dataset_group_name)}"
            f" · failed {date_token(failure.failed_at)}\n> {reason}")
    section = _section(text)
    if failure.details_value:
        section["accessory"] = button("Details", ACTION_DETAILS, failure.details_value)
    return section


def _stuck_section(stuck: tuple[StuckJob, ...], count: int, stuck_after: timedelta | None) -> dict:
    hours = f" (running longer than {duration_text(stuck_after)})" if stuck_after else ""
    lines = [f":hourglass: *{_plural(count, 'stuck job')}*{hours}:"]
    for item in stuck:
        job = item.job
        status = escape_truncated(one_line(STATUS_LABEL.get(job.status, job.status)), 40)
        lines.append(truncate_mrkdwn(f"• *{_name(job.name or job.arn)}* · {_name(job.dataset_group_name)}"
                                     f" · {status} for {duration_text(item.running_for)}", _LINE_LIMIT))
    if count > len(stuck):
        lines.append(f"…and {count - len(stuck):,} more.")
    return _section(_fit_lines(lines, SECTION_TEXT_LIMIT))


def _fit_lines(lines: list[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters."""
    text = ""
    for line in lines:
        candidate = f"{text}\n{line}" if text else line
        if len(candidate) > limit:
            break
        text = candidate
    return text or truncate_mrkdwn(lines[0], limit)


def _counts_text(group: GroupActivity) -> str:
    known = [f"{STATUS_EMOJI[s]} {group.counts.get(s, 0):,} {STATUS_LABEL[s].lower()}" for s in STATUSES]
    other = sum(n for s, n in group.counts.items() if s not in STATUSES)
    return " · ".join(known + ([f"{other:,} other"] if other else []))


def _group_section(group: GroupActivity, model: HomeModel) -> dict:
    last = (f"last failure {date_token(group.last_failed_at)}" if group.last_failed_at
            else f"no failure in the last {model.window_days} days")
    full = " :no_entry:" if group.pending >= model.max_pending else ""
    return _section(f"*{_name(group.name)}* · {_plural(group.total, 'job')}\n{_counts_text(group)}\n"
                    f"PENDING slots: {group.pending} of {model.max_pending} in use{full} · {last}")


def _group_blocks(model: HomeModel, room: int) -> list[dict]:
    """The groups' header and sections, within `room` blocks; those left over summed up in a last line."""
    blocks = [{"type": "divider"}, _header(f"Dataset groups · last {model.window_days} days")]
    if not model.groups:
        return blocks + [_section("No dataset group to show in this account and region.")]
    shown = max(min(MAX_GROUPS_SHOWN, room - len(blocks) - 1, len(model.groups)), 0)
    blocks += [_group_section(group, model) for group in model.groups[:shown]]
    rest = model.groups[shown:]
    if rest:
        jobs = sum(group.total for group in rest)
        failed = sum(group.counts.get("FAILED", 0) for group in rest)
        blocks.append(_context(
            f"…and {_plural(len(rest), 'more dataset group')}, not shown to keep within Slack's {MAX_BLOCKS} blocks:"
            f" {_plural(jobs, 'deletion job')} in the last {model.window_days} days, {failed:,} failed."
            " `/deletion-jobs &lt;dataset-group&gt;` lists any of them."))
    return blocks


def _watch_blocks(model: HomeModel) -> list[dict]:
    """The person's watches, each with **Unwatch**: at most 20 (WatchService's limit), all shown."""
    if model.watches is None:
        return []
    blocks = [{"type": "divider"}, _header("Your watches")]
    if not model.watches:
        return blocks + [_section("You are not watching any deletion job. `/deletion-jobs watch &lt;job name or"
                                  " ARN&gt;`, or the *Watch* button beside a running job in a list, sends you a"
                                  " direct message when it completes or fails.")]
    shown = model.watches[:MAX_WATCHES_SHOWN]
    blocks += [watch_section(watch) for watch in shown]
    if len(shown) < len(model.watches):
        blocks.append(_context(f"…and {len(model.watches) - len(shown):,} more: `/deletion-jobs watching` lists"
                               " them all."))
    return blocks


def _subscription_blocks(model: HomeModel) -> list[dict]:
    blocks = [{"type": "divider"}, _header("Digest subscriptions")]
    if not model.subscriptions:
        return blocks + [_section("No channel gets the digest of failed deletion jobs. Run"
                                  " `/deletion-jobs digest subscribe` in the channel that should get it.")]
    lines = [truncate_mrkdwn(f"• {channel_mention(item.subscription.channel_id)} ·"
                             f" {scope_text(item.subscription.dataset_group_arn)} ·"
                             f" {escape_truncated(item.schedule, 300)}", _LINE_LIMIT) for item in model.subscriptions]
    sections, shown = _chunks(lines, MAX_SUBSCRIPTION_SECTIONS)
    blocks += [_section(text) for text in sections]
    if shown < len(lines):
        blocks.append(_context(f"…and {len(lines) - shown:,} more: `/deletion-jobs digest list` lists them all."))
    return blocks


def _chunks(lines: list[str], max_sections: int) -> tuple[list[str], int]:
    """Lines packed into at most `max_sections` section texts; how many lines made it."""
    sections: list[str] = []
    current, shown = "", 0
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_TEXT_LIMIT:
            sections.append(current)
            current = ""
            if len(sections) == max_sections:
                return sections, shown
        current = f"{current}\n{line}" if current else line
        shown += 1
    return sections + ([current] if current else []), shown


def _failure_sentence(failure: str | None) -> str:
    """What a failed read of AWS means for the reader, in the words `/deletion-jobs` uses for the same error."""
    kind = getattr(errors, failure or "", None)
    if not (isinstance(kind, type) and issubclass(kind, errors.AwsError)):
        kind = errors.AwsError
    return render_error(kind(""))["blocks"][0]["text"]["text"]


# ---- other views ---------------------------------------------------------------------------------------------


def render_home_unavailable() -> dict:
    """The Home tab of someone outside ALLOWED_USER_IDS: no account data at all."""
    return {"type": "home", "blocks": [
        _header(TITLE),
        _section(":no_entry: This bot is not available to you. Ask the bot's admin for access."),
    ]}


def render_home_unreadable(failure: str | None, failed_at: datetime | None) -> dict:
    """The Home tab when there is nothing to show yet: AWS could not be read, or the database does not answer."""
    if failure:
        text = (f":warning: I could not read the deletion jobs from AWS ({date_token(failed_at)}):"
                f" {_failure_sentence(failure)}")
    else:
        text = (":warning: The bot's database does not answer right now, so I cannot show the deletion jobs."
                " The operators have the details in the log. Press Refresh in a minute.")
    return {"type": "home", "blocks": [_header(TITLE), _section(text), refresh_button()]}


def _modal(title: str, blocks: list[dict]) -> dict:
    return {"type": "modal", "title": plain_text(title, MODAL_TITLE_LIMIT),
            "close": plain_text("Close", MODAL_TITLE_LIMIT), "blocks": blocks[:MAX_BLOCKS]}


def render_loading_modal() -> dict:
    return _modal("Deletion job", [_section(":hourglass_flowing_sand: Reading the deletion job from AWS…")])


def render_details_modal(details: DeletionJobDetails) -> dict:
    """A job in full, as the list's Details shows it, without its buttons: the Home tab is the way back."""
    blocks = render_job_details(details, back_value=None)["blocks"]
    return _modal("Deletion job", [block for block in blocks if block["type"] != "actions"])


def render_error_modal(err: Exception) -> dict:
    if isinstance(err, errors.ListExpired):
        blocks = [_section(":hourglass: That Home tab was out of date; it shows the latest now. Press Details"
                           " there again.")]
    else:
        blocks = [block for block in render_error(err)["blocks"] if block["type"] != "actions"]
    return _modal("Deletion job", blocks)

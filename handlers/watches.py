"""Watches from Slack: `/deletion-jobs watch|unwatch|watching` (dispatched by `handlers.commands`), and the
Watch, Unwatch and Details buttons. Ack at once; the rest runs on the background pool."""

from __future__ import annotations

import re

from blocks.details import render_job_details
from blocks.job_list import ACTION_WATCH
from blocks.watch import (
    ACTION_UNWATCH,
    ACTION_WATCH_DETAILS,
    render_already_finished,
    render_watch_started,
    render_watching,
    unwatched_note,
)
from handlers.failures import failure_answer
from handlers.handoff import hand_off
from handlers.requests import Requester
from services.errors import NotWatching
from services.listing.command_parser import CommandError, WatchCommand

WATCH_ACTIONS = re.compile(
    "^(" + "|".join(re.escape(a) for a in (ACTION_WATCH, ACTION_UNWATCH, ACTION_WATCH_DETAILS)) + ")$")


def answer_watch_command(services, command: WatchCommand, requester: Requester, audit) -> dict:
    """The answer to `watch <job>`, `unwatch <job>` or `watching`; errors are raised for the caller to answer."""
    watches = services.watches
    if watches is None:
        raise CommandError("watches are not set up on this bot", command.action)
    if command.action == "watching":
        listed = watches.watching(requester.user_id)
        audit.note(results=len(listed))
        return render_watching(listed, limit=watches.max_per_user)
    if command.action == "unwatch":
        ended = watches.stop(command.job or "", user_id=requester.user_id)
        audit.note(job=ended.job_arn)
        return render_watching(watches.watching(requester.user_id), limit=watches.max_per_user,
                               note=unwatched_note(ended))
    return _start(services, command.job or "", requester, audit)


def _start(services, job: str, requester: Requester, audit) -> dict:
    started = services.watches.start(job, user_id=requester.user_id, team_id=requester.team_id)
    audit.note(job=started.details.job.arn, watch="finished" if started.watch is None else
               "already" if started.already else "started")
    if started.watch is None:
        return render_already_finished(started.details)
    return render_watch_started(started.details.job, already=started.already)


def handle_watch_action(ack, body, action, respond, context):
    ack()
    services = context["services"]
    hand_off(
        context, answer_watch_click, services, Requester.from_action_body(body), action.get("action_id"),
        action.get("value"), respond,
    )


def answer_watch_click(services, requester: Requester, action_id: str, value: str | None, respond) -> None:
    """Watch: a new message saying so (the list stays). Unwatch: the list again, without that watch. Details (in
    a watch's direct message): the job in full."""
    replace = False
    with services.audit.record("click", team=requester.team_id, user=requester.user_id,
                               channel=requester.channel_id) as audit:
        audit.note(action=action_id)
        try:
            if services.watches is None:
                raise CommandError("watches are not set up on this bot", action_id)
            # Details comes from the bot's own direct message to this person: the channel allowlist names where
            # people may use the bot, and that DM is where the bot wrote to them.
            services.access.check_requester(requester.user_id, requester.channel_id,
                                            any_channel=action_id == ACTION_WATCH_DETAILS)
            if action_id == ACTION_WATCH:
                message = _start(services, value or "", requester, audit)
            elif action_id == ACTION_UNWATCH:
                message, replace = _unwatch(services, value or "", requester, audit), True
            else:
                details = services.watches.describe(value or "", user_id=requester.user_id)
                audit.note(job=details.job.arn)
                message = render_job_details(details, back_value=None)
        except Exception as err:  # noqa: BLE001 - every failure is answered; failure_answer logs the unexpected
            message, replace = failure_answer(err, audit, services.listing, what=f"button {action_id}"), False
    services.delivery.send(respond, message, replace_original=replace)


def _unwatch(services, job_arn: str, requester: Requester, audit) -> dict:
    watches = services.watches
    try:
        note = unwatched_note(watches.stop(job_arn, user_id=requester.user_id))
    except NotWatching:
        # A second press, or the watch ended meanwhile: show the list as it is now.
        note = "That watch had already ended."
    audit.note(job=job_arn)
    return render_watching(watches.watching(requester.user_id), limit=watches.max_per_user, note=note)


def register(app) -> None:
    app.action(WATCH_ACTIONS)(handle_watch_action)

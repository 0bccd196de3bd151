"""`/deletion-jobs`: ack at once, then parse, list and answer through the response_url in the background."""

from __future__ import annotations

from blocks.errors import render_help
from blocks.job_list import render_job_page
from handlers.digest import answer_digest
from handlers.exports import answer_export
from handlers.failures import failure_answer
from handlers.handoff import hand_off
from handlers.requests import Requester
from handlers.watches import answer_watch_command
from services.listing.command_parser import DigestCommand, ExportCommand, HelpCommand, WatchCommand, parse_command

COMMAND = "/deletion-jobs"


def handle_deletion_jobs(ack, command, respond, context):
    ack()
    services = context["services"]
    hand_off(context, answer_command, services, Requester.from_command(command), command.get("text"), respond)


def answer_command(services, requester: Requester, text: str | None, respond) -> None:
    with services.audit.record(
        "command", team=requester.team_id, user=requester.user_id, channel=requester.channel_id
    ) as audit:
        try:
            services.access.check_requester(requester.user_id, requester.channel_id)
            parsed = parse_command(text)
            audit.note(command=type(parsed).__name__)
            if isinstance(parsed, HelpCommand):
                message = render_help()
            elif isinstance(parsed, DigestCommand):
                message = answer_digest(services.digest_commands, parsed, requester)
            elif isinstance(parsed, WatchCommand):
                message = answer_watch_command(services, parsed, requester, audit)
            elif isinstance(parsed, ExportCommand):
                # Answers itself: "preparing", progress and the final answer through the same response_url.
                answer_export(services, requester, parsed, respond, audit)
                return
            else:
                query = services.listing.query_for(parsed, user_id=requester.user_id)
                audit.note(filter={"dataset_group": query.dataset_group_arn, "status": query.status})
                view = services.listing.first_page(query)
                audit.note(results=len(view.page.jobs), scanned=view.page.scanned)
                message = render_job_page(view.page, next_value=view.next_value, details_values=view.details_values)
        except Exception as err:  # noqa: BLE001 - every failure is answered; failure_answer logs the unexpected
            message = failure_answer(err, audit, services.listing, what=f"{COMMAND} {text or ''}".strip())
    services.delivery.send(respond, message)


def register(app) -> None:
    app.command(COMMAND)(handle_deletion_jobs)

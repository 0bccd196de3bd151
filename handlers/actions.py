"""Button clicks on a job list: Next page, Continue, Details, Back to list and Run it again."""

from __future__ import annotations

import re

from blocks.details import render_job_details
from blocks.job_list import (
    ACTION_BACK,
    ACTION_CONTINUE,
    ACTION_DETAILS,
    ACTION_NEXT,
    ACTION_RESTART,
    button,
    render_job_page,
)
from handlers.failures import failure_answer
from handlers.handoff import hand_off
from handlers.requests import Requester
from services.errors import AccessRefused, BotError, ListExpired

LIST_ACTIONS = re.compile(
    "^(" + "|".join(re.escape(a) for a in (ACTION_NEXT, ACTION_CONTINUE, ACTION_BACK, ACTION_RESTART, ACTION_DETAILS))
    + ")$"
)


def handle_list_action(ack, body, action, respond, context):
    ack()
    services = context["services"]
    hand_off(
        context, answer_click, services, Requester.from_action_body(body), action.get("action_id"), action.get("value"),
        respond,
    )


def answer_click(services, requester: Requester, action_id: str, value: str | None, respond) -> None:
    listing = services.listing
    with services.audit.record("click", team=requester.team_id, user=requester.user_id,
                               channel=requester.channel_id) as audit:
        audit.note(action=action_id)
        try:
            services.access.check_requester(requester.user_id, requester.channel_id)
            if action_id == ACTION_DETAILS:
                view = listing.details(value or "", user_id=requester.user_id)
                audit.note(job=view.details.job.arn)
                message = render_job_details(view.details, back_value=view.back_value)
            else:
                if action_id == ACTION_RESTART:
                    page_view = listing.restart(value or "", user_id=requester.user_id)
                else:
                    page_view = listing.page_at(value or "", user_id=requester.user_id)
                query = page_view.page.cursor.query
                audit.note(
                    filter={"dataset_group": query.dataset_group_arn, "status": query.status},
                    page=page_view.page.cursor.page,
                    results=len(page_view.page.jobs),
                    scanned=page_view.page.scanned,
                )
                message = render_job_page(
                    page_view.page, next_value=page_view.next_value, details_values=page_view.details_values
                )
        except Exception as err:  # noqa: BLE001 - every failure is answered; failure_answer logs the unexpected
            message = failure_answer(err, audit, listing, what=f"button {action_id}",
                                     buttons=_ways_on(err, listing, action_id, value))
    services.delivery.send(respond, message, replace_original=True)


def _ways_on(err: Exception, listing, action_id: str, value: str | None) -> list[dict]:
    """The answer replaces the list: offer the same click again and, from Details, the way back."""
    if not isinstance(err, BotError) or isinstance(err, AccessRefused | ListExpired) or not value:
        return []
    ways = [button("Try again", action_id, value)]
    if action_id == ACTION_DETAILS:
        back_value = listing.back_value_of(value)
        if back_value:
            ways.append(button("Back to list", ACTION_BACK, back_value))
    return ways


def register(app) -> None:
    app.action(LIST_ACTIONS)(handle_list_action)

"""The Home tab's buttons: Refresh, a failure's Details (answered in a modal: a Home view has no response_url)
and a watch's Unwatch (the Home tab published again). Ack at once; the rest runs on the background pool.
`publish_home` is shared with the `app_home_opened` listener (handlers/events.py)."""

from __future__ import annotations

import logging

from blocks.home import ACTION_HOME_REFRESH
from blocks.job_list import ACTION_DETAILS
from blocks.watch import ACTION_UNWATCH
from handlers.handoff import hand_off
from handlers.requests import Requester

logger = logging.getLogger(__name__)


def from_a_view(body: dict) -> bool:
    """A click on a view (the Home tab) rather than on a message: it carries no response_url."""
    return (body.get("container") or {}).get("type") == "view"


def publish_home(services, requester: Requester, *, refresh: bool = False) -> None:
    """Publish the person's Home tab, writing one audit line (`home`) with what it cost in AWS calls."""
    with services.audit.record("home", team=requester.team_id, user=requester.user_id, channel=None) as audit:
        audit.note(refresh=refresh)
        published = services.home.publish(requester.user_id, refresh=refresh)
        audit.note(view=published.view, published=published.published, groups=published.groups,
                   snapshot_age_s=published.snapshot_age_s)
        if published.view == "unavailable":
            audit.note(outcome="refused")
        elif not published.published or published.view != "home":
            audit.note(outcome="error")


def handle_home_refresh(ack, body, context):
    ack()
    services = context["services"]
    hand_off(context, publish_home, services, Requester.from_action_body(body), refresh=True)


def handle_home_details(ack, body, action, context):
    ack()
    services = context["services"]
    hand_off(context, open_details, services, Requester.from_action_body(body), body.get("trigger_id"),
                               action.get("value") or "")


def open_details(services, requester: Requester, trigger_id: str | None, value: str) -> None:
    with services.audit.record("click", team=requester.team_id, user=requester.user_id, channel=None) as audit:
        audit.note(action=ACTION_DETAILS, surface="home")
        audit.note(outcome=services.home.open_details(requester.user_id, trigger_id, value))


def handle_home_unwatch(ack, body, action, context):
    ack()
    services = context["services"]
    hand_off(context, unwatch, services, Requester.from_action_body(body), action.get("value") or "")


def unwatch(services, requester: Requester, job_arn: str) -> None:
    with services.audit.record("click", team=requester.team_id, user=requester.user_id, channel=None) as audit:
        audit.note(action=ACTION_UNWATCH, surface="home", job=job_arn)
        audit.note(outcome=services.home.unwatch(requester.user_id, job_arn))


def register(app) -> None:
    """Before the listing's and the watches' listeners: a Details or Unwatch click on the Home tab must not reach
    the ones that answer through a response_url."""
    app.action(ACTION_HOME_REFRESH)(handle_home_refresh)
    app.action(ACTION_DETAILS, matchers=[from_a_view])(handle_home_details)
    app.action(ACTION_UNWATCH, matchers=[from_a_view])(handle_home_unwatch)

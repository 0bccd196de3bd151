"""Events API listeners: `app_home_opened` publishes that person's Home tab.

Bolt acknowledges an event itself once the listener has returned; the listener only hands the work to the background
pool. Opening the app's Messages tab sends the same event with `tab: messages`: nothing to publish then.
"""

from __future__ import annotations

import logging

from handlers.handoff import hand_off
from handlers.home import publish_home
from handlers.requests import Requester

logger = logging.getLogger(__name__)


def handle_app_home_opened(event, body, context):
    if event.get("tab", "home") != "home":
        return
    user_id = event.get("user")
    if not isinstance(user_id, str) or not user_id:
        logger.warning("app_home_opened without a user id: nothing to publish")
        return
    services = context["services"]
    if services.home is None:
        return
    hand_off(context, publish_home, services, Requester(body.get("team_id"), user_id, None))


def register(app) -> None:
    app.event("app_home_opened")(handle_app_home_opened)

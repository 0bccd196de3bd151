"""The Home tab's listeners in process (`app_home_opened`, Refresh, Details and Unwatch on the Home view): signed
requests handed to `app.dispatch`, the views read from the Slack stub. No socket to the bot."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from blocks.home import ACTION_HOME_REFRESH
from blocks.job_list import ACTION_DETAILS
from devtools.slack_requests import JSON, app_home_opened_event, event_callback_body
from handlers.events import handle_app_home_opened
from services.background import HANDOFF, Handoff
from tests.helpers.logs import tracebacks


@pytest.fixture
def bot(dispatch_bot, emulator):
    groups = emulator.seed_realistic(seed=3, jobs=120)
    now = datetime.now(UTC)
    emulator.add_job(groups["media-feed"], status="FAILED", created=now - timedelta(hours=3),
                     updated=now - timedelta(hours=2), failure_reason="Access denied")
    return dispatch_bot()


def test_app_home_opened_is_acknowledged_and_publishes_that_persons_home(bot, slack):
    status, body, _ = bot.send_event(app_home_opened_event("U42"))
    assert status == 200 and body == ""
    [view] = slack.wait_for_views(1, user_id="U42")
    assert view["type"] == "home" and view["blocks"][0]["text"]["text"] == "Deletion jobs"


@pytest.mark.parametrize("tab, submitted", [("home", 1), ("messages", 0)])
def test_only_opening_the_home_tab_publishes(tab, submitted):
    handoff = Handoff(runner=None)
    handle_app_home_opened({"type": "app_home_opened", "user": "U1", "tab": tab}, {"team_id": "T1"},
                           {"services": SimpleNamespace(home=object()), HANDOFF: handoff})
    assert handoff.held == submitted


def test_an_event_without_a_user_is_acknowledged_and_publishes_nothing(bot, slack, caplog):
    caplog.set_level(logging.WARNING)
    body = event_callback_body({"type": "app_home_opened", "tab": "home"})
    assert bot.send(body, content_type=JSON)[0] == 200
    bot.home("U1")  # handled after it
    assert [c.params["user_id"] for c in slack.calls("views.publish")] == ["U1"]
    assert not tracebacks(caplog)


def test_refresh_on_home_publishes_it_again(bot, slack):
    bot.home("U1")
    assert bot.click_view(ACTION_HOME_REFRESH, "refresh", user_id="U1")[0] == 200
    slack.wait_for_views(2, user_id="U1")


def test_details_on_home_opens_a_modal_and_posts_to_no_response_url(bot, slack):
    view = bot.home("U1")
    details = next(b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_DETAILS)
    assert bot.click_view(ACTION_DETAILS, details["value"], user_id="U1")[0] == 200
    [modal] = slack.wait_for_views(1, method="views.update")
    assert modal["type"] == "modal" and modal["blocks"][0]["text"]["text"].startswith("Deletion job · ")
    assert len(slack.views("views.open")) == 1 and slack.response_posts() == []


def test_a_tampered_details_value_on_home_is_answered_in_the_modal(bot, slack, caplog):
    bot.home("U1")
    assert bot.click_view(ACTION_DETAILS, "d.forged.value", user_id="U1")[0] == 200
    [modal] = slack.wait_for_views(1, method="views.update")
    assert "out of date" in modal["blocks"][0]["text"]["text"]
    slack.wait_for_views(2, user_id="U1")  # and the Home tab is published afresh, with buttons that work
    assert not tracebacks(caplog)

"""handlers.payloads: which signed payloads the listeners can read, and which get a 400."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from devtools.slack_requests import block_action_body
from handlers.payloads import payload_problem


def click(**changes) -> dict:
    body = block_action_body(action_id="deletion_jobs.next", value="v", response_url="http://127.0.0.1:9/r")
    payload = json.loads(parse_qs(body)["payload"][0])
    payload.update(changes)
    return payload


def test_what_slack_sends_passes():
    assert payload_problem(click()) is None
    assert payload_problem(click(channel=None, team=None)) is None  # Slack sends null for some containers
    assert payload_problem({"command": "/deletion-jobs", "text": "failed"}) is None
    assert payload_problem({"type": "event_callback", "event": {"type": "app_home_opened"}}) is None
    assert payload_problem({"type": "view_submission"}) is None  # not ours: Bolt answers it as unhandled


@pytest.mark.parametrize("payload, problem", [
    (click(user="U1"), "block_actions without a user object"),
    (click(user={"id": ""}), "block_actions without a user object"),
    (click(actions=[]), "block_actions without actions"),
    (click(actions=[{"action_id": 7}]), "block_actions with an action that has no action_id"),
    (click(actions=[{"action_id": "a", "value": ["v"]}]), "block_actions with a value that is not a string"),
    (click(team="T1"), "block_actions whose team is not an object"),
    ({"type": "event_callback", "event": "app_home_opened"}, "event_callback without an event object"),
    ({"type": "event_callback", "event": {"type": None}}, "event_callback without an event object"),
])
def test_malformed_payloads_are_named(payload, problem):
    assert payload_problem(payload) == problem

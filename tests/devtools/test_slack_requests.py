"""Requests built by slack_requests pass Bolt's signature check and parse like Slack's own."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from slack_bolt import App
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context, parse_body
from slack_bolt.request.payload_utils import is_block_actions, is_slash_command, to_action
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from devtools.slack_requests import block_action_body, post, sign, slash_command_body

SECRET = "test-signing-secret"


def test_signature_is_what_slack_sdk_expects():
    body = slash_command_body("failed 7d", response_url="http://127.0.0.1:1/response/x")

    headers = sign(SECRET, body)

    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_signature_with_a_fixed_timestamp():
    headers = sign(SECRET, "a=b", timestamp=1_700_000_000)

    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    assert headers["X-Slack-Signature"] == SignatureVerifier(SECRET).generate_signature(
        timestamp="1700000000", body="a=b"
    )
    # Older than five minutes: Slack's replay window rejects it.
    assert not SignatureVerifier(SECRET).is_valid_request("a=b", headers)


def test_slash_command_parses_like_slack():
    body = slash_command_body("failed media-feed & more", response_url="http://127.0.0.1:1/response/k")

    parsed = parse_body(body, "application/x-www-form-urlencoded")

    assert is_slash_command(parsed)
    assert parsed["command"] == "/deletion-jobs"
    assert parsed["text"] == "failed media-feed & more"
    assert "%2Fdeletion-jobs" in body and "failed+media-feed+%26+more" in body
    context = build_context_for(parsed)
    assert (context["user_id"], context["channel_id"], context["team_id"]) == ("U123", "C123", "T1")
    assert context["response_url"] == "http://127.0.0.1:1/response/k"


def test_block_action_parses_like_slack():
    body = block_action_body(action_id="page_next", value='{"page": 2}', response_url="http://127.0.0.1:1/response/k")

    parsed = parse_body(body, "application/x-www-form-urlencoded")

    assert is_block_actions(parsed)
    action = to_action(parsed)
    assert (action["action_id"], action["value"], action["block_id"]) == ("page_next", '{"page": 2}', "b")
    assert parsed["container"]["is_ephemeral"] is True
    assert "message" not in parsed
    context = build_context_for(parsed)
    assert (context["user_id"], context["channel_id"], context["team_id"]) == ("U123", "C123", "T1")
    assert context["response_url"] == "http://127.0.0.1:1/response/k"


def test_block_action_on_a_channel_message_carries_it():
    message = {"type": "message", "ts": "1700000000.000100", "text": "digest"}

    body = block_action_body(action_id="a", value="v", response_url="u", message=message, container_ephemeral=False)

    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["message"] == message
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C123",
        "is_ephemeral": False,
    }


def build_context_for(body):
    return build_context(BoltContext(), body)


@pytest.fixture
def app(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    return App(client=client, signing_secret=SECRET)


def test_bolt_app_handles_a_signed_slash_command(app, slack):
    @app.command("/deletion-jobs")
    def handle(ack, command, respond):
        ack()
        respond(text=f"you asked for {command['text']}")

    body = slash_command_body("failed", response_url=slack.response_url("cmd"))
    response = app.dispatch(BoltRequest(body=body, headers=sign(SECRET, body)))

    assert response.status == 200
    assert slack.wait_for_responses(1, key="cmd") == [{"text": "you asked for failed"}]


def test_bolt_app_rejects_a_bad_signature(app, slack):
    body = slash_command_body("failed", response_url=slack.response_url())

    response = app.dispatch(BoltRequest(body=body, headers=sign("wrong-secret", body)))

    assert response.status == 401


def test_bolt_app_handles_a_signed_button_click(app, slack):
    @app.action("page_next")
    def handle(ack, action, respond, context):
        ack()
        respond(text=f"page {action['value']} for {context.user_id}", replace_original=True)

    body = block_action_body(action_id="page_next", value="2", response_url=slack.response_url("click"))
    response = app.dispatch(BoltRequest(body=body, headers=sign(SECRET, body)))

    assert response.status == 200
    assert slack.wait_for_responses(1, key="click") == [{"text": "page 2 for U123", "replace_original": True}]


def test_post_sends_and_times_a_signed_request(slack):
    body = slash_command_body("x", response_url="u")

    status, text, elapsed = post(slack.response_url("k"), body, sign(SECRET, body))

    assert (status, text) == (200, "ok")
    assert elapsed >= 0
    headers = slack.response_posts("k")[0].headers
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_post_returns_http_errors_instead_of_raising(slack):
    slack.queue_response_url_reply(500, "boom")

    assert post(slack.response_url(), "x", {})[:2] == (500, "boom")
    assert post(slack.url + "/nowhere", "x", {})[:2] == (404, "not found")


def test_post_times_out(slack):
    slack.latency = 0.5

    with pytest.raises(TimeoutError):
        post(slack.response_url(), "x", {}, timeout=0.1)


def test_an_event_callback_is_signed_json_that_bolt_reads_as_slacks():
    from devtools.slack_requests import JSON, app_home_opened_event, event_callback_body, retry_headers

    body = event_callback_body(app_home_opened_event("U42"), event_id="Ev0123ABC")
    headers = sign(SECRET, body, content_type=JSON) | retry_headers(1)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    request = BoltRequest(body=body, headers={k.lower(): [v] for k, v in headers.items()})
    assert request.body["event_id"] == "Ev0123ABC"
    assert request.body["event"] == {**request.body["event"], "type": "app_home_opened", "user": "U42", "tab": "home"}
    assert request.context.team_id == "T1" and request.context.user_id == "U42"


def test_a_click_on_a_view_carries_no_channel_and_no_response_url():
    from devtools.slack_requests import view_action_body

    parsed = parse_body(view_action_body(action_id="a", value="v", user_id="U7"),
                        "application/x-www-form-urlencoded")
    assert is_block_actions(parsed) and to_action(parsed)["value"] == "v"
    assert parsed["container"]["type"] == "view" and parsed["view"]["type"] == "home"
    assert "response_url" not in parsed and "channel" not in parsed
    context = build_context(BoltContext(), parsed)
    assert context.user_id == "U7" and context.response_url is None

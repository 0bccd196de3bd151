"""slack_error_code: the one reading of a SlackApiError's code, for the digest's posts, subscribe's membership
check and Socket Mode's start-up."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from services.slack.error_code import slack_error_code
from tests.helpers.digest_fakes import slack_error


def test_the_web_apis_error_field():
    assert slack_error_code(slack_error("chat.postMessage", "not_in_channel")) == "not_in_channel"


def test_an_answer_that_is_not_the_web_apis_names_its_http_status():
    for data in ("<html>502 Bad Gateway</html>", {"ok": False}):
        response = SlackResponse(client=None, http_verb="POST", api_url="https://slack.test/api/chat.postMessage",
                                 req_args={}, data=data, headers={}, status_code=503)
        assert slack_error_code(SlackApiError("failed", response)) == "http_503"

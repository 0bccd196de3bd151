"""SlackStub answers a real slack_sdk WebClient and records response_url posts."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

TOKEN = "xoxb-test-token"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*3 failed* jobs"}}]


@pytest.fixture
def client(slack):
    return WebClient(token=TOKEN, base_url=slack.api_url)


def test_post_message_is_recorded_and_answered(slack, client):
    first = client.chat_postMessage(channel="C1", text="3 failed jobs", blocks=BLOCKS)
    second = client.chat_postMessage(channel="C1", text="again")

    call = slack.calls("chat.postMessage")[0]
    assert call.params == {"channel": "C1", "text": "3 failed jobs", "blocks": BLOCKS}
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.ok
    assert first["channel"] == "C1"
    assert first["message"]["blocks"] == BLOCKS
    assert float(first["ts"]) < float(second["ts"])
    assert slack.messages("C1")[1]["text"] == "again"


def test_form_encoded_blocks_are_decoded(slack, client):
    client.api_call("chat.postEphemeral", params={"channel": "C1", "user": "U1", "blocks": json.dumps(BLOCKS)})

    assert slack.calls("chat.postEphemeral")[0].params["blocks"] == BLOCKS


def test_default_answers(client):
    auth = client.auth_test()
    info = client.conversations_info(channel="C9")

    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    assert info["channel"]["name"] == "privacy-ops"
    assert info["channel"]["is_member"] is True
    assert client.api_call("reactions.add", params={"channel": "C1", "name": "x", "timestamp": "1.2"})["ok"]


def test_a_request_without_token_is_not_authed(slack):
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=slack.api_url).auth_test()

    assert excinfo.value.response["error"] == "not_authed"


def test_rate_limit_is_retried_by_the_retry_handler(slack, monkeypatch):
    # The handler sleeps int(Retry-After) + random() seconds; take the jitter out.
    monkeypatch.setattr(builtin_handlers.random, "random", lambda: 0.0)
    handler = RateLimitErrorRetryHandler(max_retry_count=1)
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[handler])
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "0"})

    response = client.chat_postMessage(channel="C1", text="hi")

    assert response["ok"]
    attempts = slack.calls("chat.postMessage")
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[0].response == {"ok": False, "error": "ratelimited"}
    assert len(slack.messages()) == 1


def test_rate_limit_without_a_retry_handler_raises(slack, client):
    slack.queue_response("chat.postMessage", status=429)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="hi")

    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "1"
    assert excinfo.value.response["error"] == "ratelimited"


def test_server_errors_are_retried_by_the_retry_handler(slack):
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.0))
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[handler])
    slack.queue_response("chat.postMessage", status=503, body="<html>upstream connect error</html>")
    slack.queue_response("*", status=500)

    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert [c.status for c in slack.calls()] == [503, 500, 200]


def test_scripted_error_body(slack, client):
    slack.queue_response("chat.postMessage", body={"ok": False, "error": "invalid_auth"}, times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C1", text="hi")
        assert excinfo.value.response["error"] == "invalid_auth"
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


@pytest.mark.parametrize(
    ("settings", "post_error", "info"),
    [
        ({"exists": False}, "channel_not_found", "channel_not_found"),
        ({"is_member": False}, "not_in_channel", {"is_member": False, "is_archived": False}),
        ({"archived": True}, "is_archived", {"is_member": True, "is_archived": True}),
    ],
)
def test_channel_states(slack, client, settings, post_error, info):
    slack.set_channel("C404", **settings)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C404", text="hi")
    assert excinfo.value.response["error"] == post_error
    assert not slack.calls("chat.postMessage")[0].ok
    assert slack.messages() == []

    if isinstance(info, str):
        with pytest.raises(SlackApiError) as excinfo:
            client.conversations_info(channel="C404")
        assert excinfo.value.response["error"] == info
    else:
        channel = client.conversations_info(channel="C404")["channel"]
        assert {k: channel[k] for k in info} == info


def test_delayed_answer_still_posts(slack):
    client = WebClient(token=TOKEN, base_url=slack.api_url, timeout=0.2)
    slack.queue_response("chat.postMessage", delay=0.6)

    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C1", text="posted, but the answer is late")

    # The stub recorded it on arrival, like Slack posting before the client gave up.
    assert slack.messages()[0]["text"].startswith("posted")


def test_response_url_posts_are_recorded_in_order(slack):
    url = slack.response_url("k1")
    webhook = WebhookClient(url)

    assert webhook.send(text="first", replace_original=True).body == "ok"
    webhook.send(text="second")

    assert url.endswith("/response/k1")
    assert slack.responses("k1") == [{"text": "first", "replace_original": True}, {"text": "second"}]
    assert slack.responses("other") == []
    assert slack.response_url() != slack.response_url()


def test_scripted_response_url_replies(slack):
    url = slack.response_url("k")
    slack.queue_response_url_reply(500, "internal error")
    slack.queue_response_url_reply(404, "expired_url", key="other")
    webhook = WebhookClient(url)

    assert webhook.send(text="a").status_code == 500
    assert webhook.send(text="a").status_code == 200
    assert WebhookClient(slack.response_url("other")).send(text="b").body == "expired_url"

    assert slack.responses("k") == [{"text": "a"}]
    assert [p.status for p in slack.response_posts()] == [500, 200, 404]


def test_response_url_accepts_five_posts(slack):
    webhook = WebhookClient(slack.response_url("k"))

    statuses = [webhook.send(text=str(i)).status_code for i in range(6)]

    assert statuses == [200] * 5 + [404]
    assert len(slack.responses("k")) == 5


def test_wait_for_responses_from_another_thread(slack):
    url = slack.response_url("k")
    threading.Timer(0.05, lambda: WebhookClient(url).send(text="late")).start()

    assert slack.wait_for_responses(1, key="k", timeout=5) == [{"text": "late"}]


def test_wait_for_calls_from_another_thread(slack, client):
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="hi")).start()

    assert slack.wait_for_calls("chat.postMessage", 1, timeout=5)[0].params["text"] == "hi"


def test_wait_timeout_says_what_arrived(slack):
    WebhookClient(slack.response_url("k")).send(text="only one")

    with pytest.raises(AssertionError, match="got 1.*only one"):
        slack.wait_for_responses(2, timeout=0.1)


def test_reset_forgets_everything(slack, client):
    slack.set_channel("C1", exists=False)
    slack.queue_response("auth.test", body={"ok": False, "error": "invalid_auth"})
    WebhookClient(slack.response_url()).send(text="x")

    slack.reset()

    assert slack.calls() == [] and slack.responses() == []
    assert client.auth_test()["ok"]
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


def test_unknown_path_is_404(slack):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(slack.url + "/nope", timeout=5)
    assert excinfo.value.code == 404


def test_direct_messages_are_kept_in_the_dm_and_read_back_newest_first_with_metadata(slack, client):
    metadata = {"event_type": "deletion_job_watch_notice", "event_payload": {"notice": "k1"}}
    first = client.chat_postMessage(channel="U1", text="done", metadata=metadata)
    client.chat_postMessage(channel="U1", text="later")
    client.chat_postMessage(channel="U2", text="someone else")

    channel = client.conversations_open(users="U1")["channel"]["id"]
    assert channel == slack.dm_channel("U1")
    page = client.conversations_history(channel=channel, oldest="0", limit=1, include_all_metadata=True)
    assert [m["text"] for m in page["messages"]] == ["later"] and page["has_more"]
    rest = client.conversations_history(channel=channel, oldest="0", limit=1, include_all_metadata=True,
                                        cursor=page["response_metadata"]["next_cursor"])
    assert rest["messages"][0]["metadata"] == metadata and not rest["has_more"]
    plain = client.conversations_history(channel=channel, oldest="0")
    assert "metadata" not in plain["messages"][1], "metadata only when include_all_metadata is set"
    after = client.conversations_history(channel=channel, oldest=first["ts"])
    assert [m["text"] for m in after["messages"]] == ["later"]
    assert [m["text"] for m in slack.history("U1")] == ["done", "later"]
    fresh = client.conversations_open(users="U3")["channel"]["id"]
    assert client.conversations_history(channel=fresh, oldest="0")["messages"] == []


def test_a_delayed_answer_still_lands_in_the_dm(slack):
    slack.queue_response("chat.postMessage", delay=1.0)
    quick = WebClient(token=TOKEN, base_url=slack.api_url, timeout=0.2)
    with pytest.raises(Exception):  # noqa: B017 - a read timeout, whatever urllib calls it
        quick.chat_postMessage(channel="U1", text="in doubt")
    assert [m["text"] for m in slack.history("U1")] == ["in doubt"]


# ---- files_upload_v2 and conversations.open (issue 12) ---------------------------------------------------


def test_files_upload_v2_into_a_dm_keeps_the_bytes_and_where_they_went(slack, client):
    dm = client.conversations_open(users="U123")["channel"]["id"]
    data = "job_name,status\r\n\"a,b\",FAILED\r\né\r\n".encode()
    response = client.files_upload_v2(channel=dm, filename="jobs.csv", content=data, title="Jobs",
                                      initial_comment="*SHA-256:* `x`")

    assert dm == "DU123"
    assert [c.method for c in slack.calls()] == [
        "conversations.open", "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert slack.calls("files.getUploadURLExternal")[0].params == {"filename": "jobs.csv", "length": str(len(data))}
    [upload] = slack.uploads()
    assert (upload.data, upload.filename, upload.title, upload.channel_id, upload.initial_comment) == (
        data, "jobs.csv", "Jobs", "DU123", "*SHA-256:* `x`")
    assert response["file"]["id"] == upload.file_id
    assert slack.uploads("C1") == []


def test_a_refused_upload_is_not_shared(slack, client):
    slack.queue_upload_reply(500, "boom")
    with pytest.raises(Exception, match="500"):
        client.files_upload_v2(channel="DU1", filename="a.csv", content=b"x", title="a")
    assert slack.uploads() == [] and slack.calls("files.completeUploadExternal") == []


def test_completing_a_file_whose_bytes_never_arrived_fails(slack, client):
    file_id = client.files_getUploadURLExternal(filename="a.csv", length=3)["file_id"]
    with pytest.raises(SlackApiError) as failed:
        client.files_completeUploadExternal(files=[{"id": file_id, "title": "a"}], channel_id="DU1")
    assert failed.value.response["error"] == "file_not_found"


def test_conversations_open_and_uploads_can_be_refused(slack, client):
    slack.queue_response("conversations.open", body={"ok": False, "error": "missing_scope", "needed": "im:write"})
    with pytest.raises(SlackApiError) as refused:
        client.conversations_open(users="U1")
    assert refused.value.response["error"] == "missing_scope"


def test_views_are_recorded_and_refused_like_slack(slack, client):
    view = {"type": "home", "blocks": BLOCKS}
    answer = client.views_publish(user_id="U1", view=view)
    assert answer["view"]["id"].startswith("V")
    opened = client.views_open(trigger_id="1.2.abc", view={"type": "modal", "title": {"type": "plain_text",
                                                                                       "text": "x"}, "blocks": BLOCKS})
    client.views_update(view_id=opened["view"]["id"], view=view)
    assert slack.views(user_id="U1") == [view] and slack.views(user_id="U2") == []
    assert len(slack.views("views.open")) == 1 and slack.views("views.update") == [view]
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": BLOCKS * 101})
    assert refused.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="", view=view)
    assert slack.views(user_id="U1") == [view]
    assert slack.wait_for_views(1, user_id="U1") == [view]

"""ResponseDelivery: every POST to a response_url counted, at most 5 per URL, and the URL in no log line."""

from __future__ import annotations

import logging

import pytest
from slack_bolt.context.respond import Respond

from config.logging import install_redaction
from devtools._http import free_port
from services.slack.delivery import POSTS_PER_RESPONSE_URL, ResponseDelivery, ResponseUrlBudget
from tests.helpers.tcp_proxy import TcpProxy

MESSAGE = {"text": "answer", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "answer"}}]}


@pytest.fixture
def redacting_log(caplog):
    """The bot's redaction installed (as configure_logging does) and caplog at DEBUG for every logger."""
    saved = logging.getLogRecordFactory()
    install_redaction()
    caplog.set_level(logging.DEBUG)
    yield caplog
    logging.setLogRecordFactory(saved)


def delivery(**kwargs) -> ResponseDelivery:
    return ResponseDelivery(backoff_seconds=0, **kwargs)


def refused_url(key: str) -> str:
    """A response_url on a loopback port nobody listens on."""
    return f"http://127.0.0.1:{free_port()}/response/{key}"


# ---- the budget ------------------------------------------------------------------------------------------


def test_budget_gives_each_url_five_posts_over_its_thirty_minutes():
    now = [0.0]
    budget = ResponseUrlBudget(clock=lambda: now[0])
    assert [budget.take("https://hooks.slack.com/commands/T1/1/a") for _ in range(6)] == [True] * 5 + [False]
    assert budget.take("https://hooks.slack.com/commands/T1/1/b")  # another URL has its own five
    now[0] = 29 * 60
    assert not budget.take("https://hooks.slack.com/commands/T1/1/a")
    now[0] = 30 * 60 + 1
    # Past its life Slack refuses the URL anyway; the budget forgets it, so its memory does not grow.
    assert budget.used("https://hooks.slack.com/commands/T1/1/a") == 0 and len(budget) == 0


def test_budget_keeps_no_url():
    budget = ResponseUrlBudget()
    budget.take("https://hooks.slack.com/commands/T1/1/secret-part")
    assert "secret-part" not in repr(budget._used)


# ---- posts per URL, across every retry layer -------------------------------------------------------------


def test_one_message_makes_three_posts_when_connections_drop_not_six():
    """slack_sdk's default ConnectionErrorRetryHandler used to double each of the bot's three attempts."""
    with TcpProxy("127.0.0.1", 9) as proxy:
        proxy.cut()  # every connection is closed as soon as it arrives
        url = f"http://127.0.0.1:{proxy.port}/response/dropped"
        assert delivery().send(Respond(response_url=url), MESSAGE) is False
        assert proxy.refused_while_cut == 3


def test_a_second_message_through_the_same_url_gets_only_what_is_left_of_five(slack):
    slack.queue_response_url_reply(500, "oops", times=100)
    url = slack.response_url("k")
    sender = delivery()
    assert sender.send(Respond(response_url=url), MESSAGE) is False  # three posts, all 500
    assert sender.send(Respond(response_url=url), MESSAGE, replace_original=True) is False
    assert len(slack.response_posts("k")) == POSTS_PER_RESPONSE_URL
    assert sender.send(Respond(response_url=url), MESSAGE) is False
    assert len(slack.response_posts("k")) == POSTS_PER_RESPONSE_URL


def test_five_answers_through_one_url_then_no_sixth_post(slack, redacting_log):
    url = slack.response_url("k")
    sender = delivery()
    assert all(sender.send(Respond(response_url=url), MESSAGE) for _ in range(5))
    assert sender.send(Respond(response_url=url), MESSAGE) is False
    assert len(slack.response_posts("k")) == 5
    assert "has had its 5 posts" in redacting_log.text


def test_a_retried_500_is_one_more_post_each(slack):
    slack.queue_response_url_reply(500, "oops")
    assert delivery().send(Respond(response_url=slack.response_url("k")), MESSAGE) is True
    assert [p.status for p in slack.response_posts("k")] == [500, 200]


def test_no_response_url_is_an_error_line_not_an_exception(redacting_log):
    assert delivery().send(Respond(response_url=None), MESSAGE) is False
    assert "no response_url" in redacting_log.text


# ---- the URL in no log line ------------------------------------------------------------------------------


def test_a_refused_response_url_appears_in_no_log_record_at_debug(redacting_log):
    url = refused_url("refused-key-4f1")
    assert delivery().send(Respond(response_url=url), MESSAGE) is False
    assert "failed 3 times" in redacting_log.text and "Connection refused" in redacting_log.text
    path = url.split("://", 1)[1]
    for record in redacting_log.records:
        text = record.getMessage() + (record.exc_text or "")
        assert "refused-key-4f1" not in text and path.split("/")[0] + "/response" not in text, text


def test_an_invalid_response_url_is_not_quoted_in_the_error(redacting_log):
    assert delivery().send(Respond(response_url="ftp://hooks.example/secret-9c2"), MESSAGE) is False
    assert "secret-9c2" not in redacting_log.text and "[response_url]" in redacting_log.text


@pytest.mark.parametrize("shape", [
    "https://hooks.slack.com/commands/T0ABC/1234567890/s3cr3tPart",
    "https://hooks.slack.com/actions/T0ABC/1234567890/s3cr3tPart",
    "https://hooks.slack-gov.com/actions/T0ABC/1234567890/s3cr3tPart",
    "https:\\/\\/hooks.slack.com\\/actions\\/T0ABC\\/1234567890\\/s3cr3tPart",  # inside a JSON payload
    "https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0ABC%2F1234567890%2Fs3cr3tPart",  # inside a form body
    "http://127.0.0.1:51234/response/s3cr3tPart",  # the Slack stub's
    "http%3A%2F%2F127.0.0.1%3A51234%2Fresponse%2Fs3cr3tPart",
])
def test_any_logger_naming_a_response_url_is_redacted_at_any_level(redacting_log, shape):
    """Defence in depth: slack_sdk's webhook client names the URL when it retries (`for POST <url>`)."""
    logging.getLogger("slack_sdk.webhook.client").info(
        "A retry handler found: ConnectionErrorRetryHandler for POST %s - <urlopen error refused>", shape)
    logging.getLogger("some.library").debug("payload=%s&text=hi", shape)
    try:
        raise ValueError(f"unknown url type: {shape!r}")
    except ValueError:
        logging.getLogger("some.library").exception("posting failed")
    texts = [r.getMessage() + (r.exc_text or "") for r in redacting_log.records] + [redacting_log.text]
    assert len(redacting_log.records) == 3
    assert all("s3cr3tPart" not in text for text in texts)
    assert redacting_log.text.count("[redacted-response-url]") == 3
    assert "for POST [redacted-response-url] - <urlopen error refused>" in redacting_log.text


def test_other_urls_stay_readable(redacting_log):
    logging.getLogger("x").warning("see https://api.slack.com/messaging/webhooks and https://slack.com/api/auth.test")
    assert "https://api.slack.com/messaging/webhooks and https://slack.com/api/auth.test" in redacting_log.text


def test_max_attempts_lowers_the_retries_of_one_message(slack):
    slack.queue_response_url_reply(500, "oops", times=3)
    url = slack.response_url("k")
    sender = delivery()
    assert sender.send(Respond(response_url=url), MESSAGE, max_attempts=1) is False
    assert len(slack.response_posts("k")) == 1
    assert sender.send(Respond(response_url=url), MESSAGE, max_attempts=9) is True  # never more than its own 3
    assert [p.status for p in slack.response_posts("k")] == [500, 500, 500, 200]

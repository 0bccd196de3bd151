"""`/deletion-jobs` in process, as bolt-python's scenario tests do it: the real app (app_factory), a request signed
as Slack signs it and handed to `app.dispatch`, and assertions on what reached the Slack stub (the response_url
posts, the Web API calls) and the Personalize emulator. No socket to the bot.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from devtools.slack_requests import slash_command_body
from tests.helpers.blockkit import assert_within_limits
from tests.helpers.bots import find_button, footer, job_arns
from tests.helpers.digest_fakes import posted_arns
from tests.helpers.logs import audit_lines, tracebacks

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CHANNEL = "C123"


@pytest.fixture
def account(emulator):
    """Four dataset groups and 120 deletion jobs of every status."""
    return emulator.seed_realistic(seed=11, jobs=120, now=NOW)


@pytest.fixture
def bot(dispatch_bot, account):
    return dispatch_bot()


def only_answer(bot, ack) -> dict:
    """The one message posted to the command's response_url (ephemeral, within Slack's limits)."""
    message = bot.answer(ack)
    assert len(bot.slack.response_posts(ack.response_key)) == 1
    assert_within_limits(message)
    return message


def ask(bot, text: str, **kwargs) -> dict:
    return only_answer(bot, bot.command(text, **kwargs))


def listed(emulator, group=None, status=None) -> list[str]:
    return [job["dataDeletionJobArn"] for job in emulator.jobs(group, status)]


def list_calls(emulator) -> list[dict]:
    return [params for operation, params in emulator.calls if operation == "ListDataDeletionJobs"]


# ---- listing ------------------------------------------------------------------------------------------------


def test_the_command_is_acked_with_an_empty_200_then_answered_once_in_private(bot, emulator, slack, submitted):
    ack = bot.command("")
    assert (ack.status, ack.body) == (200, "")
    assert submitted and submitted[0].__name__ == "answer_command", "the slow half runs on the background pool"
    message = only_answer(bot, ack)
    assert message["response_type"] == "ephemeral" and "replace_original" not in message
    assert message["blocks"][0]["text"]["text"] == "Deletion jobs · all dataset groups"
    assert job_arns(message) == listed(emulator)[:10]
    assert footer(message) == "Page 1 · jobs 1–10"
    assert find_button(message, "Next page")["action_id"] == "deletion_jobs.next"
    assert len(find_button(message, "Details")["value"]) <= 2000
    assert slack.calls() == [], "the command path calls no Slack Web API method"


@pytest.mark.parametrize(
    ("text", "group", "status", "title"),
    [
        ("failed", None, "FAILED", "Failed deletion jobs · all dataset groups"),
        ("media-feed", "media-feed", None, "Deletion jobs · media-feed"),
        ("Retail-Recs pending", "retail-recs", "PENDING", "Pending deletion jobs · retail-recs"),
        ("in-progress", None, "IN_PROGRESS", "In progress deletion jobs · all dataset groups"),
        ("COMPLETED {retail-recs}", "retail-recs", "COMPLETED", "Completed deletion jobs · retail-recs"),
    ],
)
def test_filters_by_dataset_group_and_status_in_any_form(bot, emulator, account, text, group, status, title):
    group_arn = account[group] if group else None
    message = ask(bot, text.format(**account))
    assert message["blocks"][0]["text"]["text"] == title
    want = listed(emulator, group_arn, status)
    assert want, "the seed has jobs for this filter"
    assert job_arns(message) == want[:10]
    # The dataset group goes to AWS; the status filter is the bot's own (the API has none).
    assert {params.get("datasetGroupArn") for params in list_calls(emulator)} == {group_arn}


def test_help_is_the_usage_and_costs_no_aws_call(bot, emulator):
    message = ask(bot, "help")
    assert "*Usage:* `/deletion-jobs [dataset-group] [status]`" in message["text"]
    assert "digest subscribe" in message["text"]
    assert emulator.call_count() == 0


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("failedd", ["I can't find a dataset group named `failedd`", "`FAILED`"]),
        ("fa!led", ["I did not understand `fa!led`", "/deletion-jobs help"]),
        ("failed completed", ["`completed`", "give only one status"]),
        ("a b c", ["`c`", "too many words"]),
        ("medai-feed", ["I can't find a dataset group named `medai-feed`", "`media-feed`"]),
        ("arn:aws:personalize:us-east-1:1234:dataset-group/x", ["is not a dataset group ARN"]),
        ("arn:aws:personalize:eu-west-1:123456789012:dataset-group/media-feed", ["region `eu-west-1`"]),
        ("&lt;!channel&gt;", ["`&lt;!channel&gt;`"]),  # as Slack sends `<!channel>`: named, escaped, no ping
    ],
)
def test_a_mistake_is_answered_naming_it_and_lists_nothing(bot, emulator, text, must_contain):
    message = ask(bot, text)
    for part in must_contain:
        assert part in message["text"], message["text"]
    assert job_arns(message) == [] and "<!channel>" not in str(message)
    assert list_calls(emulator) == []


def test_a_command_without_a_text_field_lists_everything(bot, emulator):
    body = urlencode([(k, v) for k, v in parse_qsl(slash_command_body("x", response_url=bot.slack.response_url("k")))
                      if k != "text"])
    assert bot.send(body)[0] == 200
    [message] = bot.slack.wait_for_responses(1, key="k")
    assert job_arns(message) == listed(emulator)[:10]


# ---- failures -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "must_contain"),
    [
        ("AccessDeniedException", 400, "not allowed to read deletion jobs"),
        ("ExpiredTokenException", 400, "credentials are missing or expired"),
        ("InternalFailure", 500, "could not answer"),
    ],
)
def test_aws_refusing_is_answered_in_a_sentence_without_a_traceback(bot, emulator, caplog, code, status,
                                                                    must_contain):
    emulator.inject_error("ListDataDeletionJobs", code, status=status, times=10,
                          message="User arn:aws:iam::123456789012:user/bot is not authorized")
    message = ask(bot, "failed")
    assert must_contain in message["text"]
    assert "arn:aws:iam" not in str(message) and "Traceback" not in str(message)
    assert tracebacks(caplog) == []


def test_an_unexpected_error_is_answered_and_logged_once_with_its_traceback(bot, caplog, monkeypatch):
    caplog.set_level(logging.INFO)

    def broken(query):
        raise RuntimeError("a bug in the listing")

    monkeypatch.setattr(bot.services.listing, "first_page", broken)
    message = ask(bot, "failed")
    assert "Something went wrong on my side" in message["text"]
    assert "a bug in the listing" not in str(message)
    [logged] = tracebacks(caplog)
    assert logged.getMessage() == "/deletion-jobs failed failed unexpectedly"
    assert [(a["outcome"], a["error"]) for a in audit_lines(caplog)] == [("error", "RuntimeError")]


@pytest.mark.parametrize("how", ["wrong secret", "five minutes old"])
def test_a_request_not_signed_with_the_signing_secret_is_401_and_does_nothing(bot, emulator, submitted, how):
    body = slash_command_body("failed", response_url=bot.slack.response_url("forged"))
    if how == "wrong secret":
        status, _, _ = bot.send(body, secret="not-the-signing-secret")
    else:
        status, _, _ = bot.send(body, timestamp=int(datetime.now(UTC).timestamp()) - 301)
    assert status == 401
    assert submitted == [] and emulator.call_count() == 0
    assert bot.slack.response_posts() == []


def test_another_slash_command_is_not_ours(bot, emulator, submitted):
    ack = bot.command("failed", command="/weather")
    assert ack.status == 404
    assert submitted == [] and emulator.call_count() == 0


# ---- access ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["failed", "help", "digest list", "digest subscribe", "media-feed"])
def test_a_user_outside_allowed_user_ids_is_refused_before_any_aws_or_slack_call(dispatch_bot, emulator, slack,
                                                                                  account, text):
    bot = dispatch_bot(allowed_user_ids=("UALLOWED",))
    message = ask(bot, text, user_id="UOUTSIDER")
    assert message["text"].startswith(":no_entry: Sorry, you are not allowed to")
    assert "Ask the bot's admin" in message["text"]
    assert emulator.call_count() == 0 and slack.calls() == []


def test_a_channel_outside_allowed_channel_ids_is_refused_and_an_allowed_one_served(dispatch_bot, emulator, account):
    bot = dispatch_bot(allowed_channel_ids=("CPRIVACY",))
    refused = ask(bot, "failed", channel_id="CRANDOM")
    assert "not allowed to" in refused["text"] and "in this channel" in refused["text"]
    assert emulator.call_count() == 0
    assert job_arns(ask(bot, "failed", channel_id="CPRIVACY")) == listed(emulator, status="FAILED")[:10]


def test_a_dataset_group_outside_allowed_dataset_groups_is_refused_by_name_and_by_arn(dispatch_bot, emulator,
                                                                                      account):
    bot = dispatch_bot(allowed_dataset_groups=("media-feed",))
    for text in ("retail-recs", account["retail-recs"], "retail-recs failed"):
        assert "not allowed to" in ask(bot, text)["text"]
    assert list_calls(emulator) == []
    assert job_arns(ask(bot, "media-feed")) == listed(emulator, account["media-feed"])[:10]


# ---- digest subcommands ------------------------------------------------------------------------------------


@pytest.fixture
def failure(emulator, account):
    """One deletion job that failed an hour ago: what a digest now must post."""
    now = datetime.now(UTC)
    return emulator.add_job(account["media-feed"], status="FAILED", name="erase-ada", created=now - timedelta(hours=2),
                            updated=now - timedelta(hours=1), failure_reason="Access denied to s3://acme/gdpr/ada.csv")


def test_digest_subscribe_checks_the_channel_with_slack_then_subscribes_it(bot, slack):
    message = ask(bot, "digest subscribe media-feed at 08:30 Europe/Berlin")
    assert message["text"].startswith(":white_check_mark: Subscribed <#C123>")
    assert "dataset group `media-feed`" in message["text"] and "08:30 Europe/Berlin" in message["text"]
    [info] = slack.calls("conversations.info")
    assert info.params["channel"] == CHANNEL
    assert "<#C123> · dataset group `media-feed`" in str(ask(bot, "digest list")["blocks"])


def test_digest_subscribe_where_the_bot_is_not_a_member_is_refused_and_stores_nothing(bot, slack):
    slack.set_channel(CHANNEL, is_member=False)
    message = ask(bot, "digest subscribe")
    assert "I am not a member of <#C123>" in message["text"] and "/invite @deletion-jobs" in message["text"]
    assert "No channel gets a digest yet" in ask(bot, "digest list")["text"]


def test_digest_now_posts_the_failures_in_the_channel_and_says_how_many(bot, slack, failure):
    ask(bot, "digest subscribe")
    answer = ask(bot, "digest now")
    assert answer["text"].startswith(":white_check_mark: Posted 1 failed deletion job")
    [post] = slack.calls("chat.postMessage")
    assert post.params["channel"] == CHANNEL and post.ok
    assert failure in str(post.params["blocks"]) and "Access denied to s3://acme/gdpr/ada.csv" in str(post.params)
    again = ask(bot, "digest now")
    assert "No new failed deletion jobs" in again["text"]
    # The second run may still post the jobs that need attention (stuck, full queues), but no failure again.
    assert posted_arns(slack.messages(CHANNEL)) == [failure], "each failure is posted once"


def test_digest_now_without_a_subscription_says_how_to_subscribe(bot, slack):
    message = ask(bot, "digest now")
    assert "<#C123> has no digest subscription yet" in message["text"]
    assert "`/deletion-jobs digest subscribe`" in message["text"]
    assert slack.calls("chat.postMessage") == []


def test_digest_unsubscribe_stops_the_digest(bot):
    ask(bot, "digest subscribe")
    assert "no longer gets the digest" in ask(bot, "digest unsubscribe")["text"]
    assert "nothing to stop" in ask(bot, "digest unsubscribe")["text"]
    assert "No channel gets a digest yet" in ask(bot, "digest list")["text"]


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("digest", "say what to do with the digest"),
        ("digest explode", "I did not understand `explode`"),
        ("digest list everything", "`digest list` takes no more words"),
        ("digest subscribe media-feed 9am", "`9am` is not a time I understand"),
        ("digest subscribe at 09:30 Mars/Olympus", "I don't know the time zone `Mars/Olympus`"),
    ],
)
def test_digest_mistakes_are_answered_naming_the_word(bot, slack, text, must_contain):
    message = ask(bot, text)
    assert must_contain in message["text"], message["text"]
    assert slack.calls("chat.postMessage") == []




def test_the_listener_acks_and_hands_over_in_the_requests_own_thread(bot, monkeypatch):
    """Bolt's default runs listeners on a pool and polls for ack() every 10 ms; inline (process_before_response),
    the ack is the answer: the hand-over has happened on the request's own thread by the time dispatch returns."""
    import threading

    from services.background import Handoff

    threads = []
    submit = Handoff.submit
    monkeypatch.setattr(Handoff, "submit", lambda self, fn, *a, **k: threads.append(threading.current_thread())
                        or submit(self, fn, *a, **k))
    assert bot.command("help").status == 200
    assert threads == [threading.current_thread()]

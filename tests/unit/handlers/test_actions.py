"""The buttons of a job list in process, as bolt-python's scenario tests do it: Next page, Continue, Details, Back to
list, Run it again and Try again, each a signed `block_actions` request handed to `app.dispatch`, and its answer
read from the Slack stub's response URL. No socket to the bot.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode

import pytest

from devtools.slack_requests import block_action_body
from tests.helpers.blockkit import assert_within_limits
from tests.helpers.bots import find_button, footer, job_arns
from tests.helpers.logs import tracebacks

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=11, jobs=120, now=NOW)


@pytest.fixture
def bot(dispatch_bot, account):
    return dispatch_bot()


def listed(emulator, group=None, status=None) -> list[str]:
    return [job["dataDeletionJobArn"] for job in emulator.jobs(group, status)]


def click(bot, message: dict, label: str, **kwargs) -> dict:
    """Press the button `label` of `message`: its one answer, which replaces the message it was pressed on."""
    button = find_button(message, label)
    assert button is not None, f"no {label!r} button"
    ack = bot.click(button["action_id"], button["value"], **kwargs)
    assert (ack.status, ack.body) == (200, "")
    answer = bot.answer(ack)
    assert len(bot.slack.response_posts(ack.response_key)) == 1
    assert answer["replace_original"] is True
    assert_within_limits(answer)
    return answer


def payload_with(bot, key: str, **changes) -> str:
    """A signed-able click whose payload has `changes` applied (None deletes a field)."""
    body = block_action_body(action_id="deletion_jobs.next", value="unused", response_url=bot.slack.response_url(key))
    payload = json.loads(parse_qs(body)["payload"][0])
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return urlencode({"payload": json.dumps(payload)})


# ---- Next page, Continue ------------------------------------------------------------------------------------


def test_next_page_answers_the_following_jobs_in_place_of_the_list(bot, emulator, submitted):
    first = bot.ask("")
    second = click(bot, first, "Next page")
    assert submitted[-1].__name__ == "answer_click"
    assert job_arns(second) == listed(emulator)[10:20]
    assert footer(second) == "Page 2 · jobs 11–20"
    third = click(bot, second, "Next page")
    assert job_arns(third) == listed(emulator)[20:30]


def test_continue_goes_on_scanning_where_the_call_budget_stopped(dispatch_bot, emulator):
    group = emulator.add_dataset_group("sparse")
    emulator.seed_bulk(group, 300, failed_every=0, now=NOW)
    late = emulator.add_job(group, status="FAILED", created=NOW - timedelta(days=30), failure_reason="late")
    bot = dispatch_bot(max_api_calls_per_page=1)
    first = bot.ask("sparse failed")
    assert "scanned 100 jobs in 1 page of AWS's list" in footer(first) and find_button(first, "Next page") is None
    emulator.reset_calls()
    second = click(bot, first, "Continue")
    assert emulator.call_count("ListDataDeletionJobs") == 1, "one more API page, not the first one again"
    third = click(bot, second, "Continue")
    fourth = click(bot, third, "Continue")
    assert job_arns(fourth) == [late]
    assert find_button(fourth, "Continue") is None and find_button(fourth, "Next page") is None


# ---- Details, Back to list ------------------------------------------------------------------------------------


def test_details_describes_the_job_and_back_to_list_returns_to_the_same_page(bot, emulator, account):
    page = bot.ask("media-feed failed")
    emulator.reset_calls()
    details = click(bot, page, "Details")
    first_job = listed(emulator, account["media-feed"], "FAILED")[0]
    assert [params for op, params in emulator.calls] == [{"dataDeletionJobArn": first_job}]
    assert details["blocks"][0]["text"]["text"].startswith("Deletion job · ")
    assert "Records deleted" in str(details) and first_job in str(details)
    back = click(bot, details, "Back to list")
    assert job_arns(back) == job_arns(page)
    assert footer(back) == footer(page)


def test_details_of_a_job_aws_no_longer_knows_says_so_and_keeps_the_way_back(bot, emulator):
    page = bot.ask("media-feed failed")
    emulator.inject_error("DescribeDataDeletionJob", "ResourceNotFoundException")
    answer = click(bot, page, "Details")
    assert "AWS no longer knows the deletion job" in answer["text"]
    assert job_arns(click(bot, answer, "Back to list")) == job_arns(page)


# ---- Run it again, Try again --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["deletion_jobs.next", "deletion_jobs.continue", "deletion_jobs.back",
                                    "deletion_jobs.details", "deletion_jobs.restart"])
@pytest.mark.parametrize("value", ["", "c.garbage.mac", "x" * 2000])
def test_a_value_that_is_not_ours_says_the_list_expired_with_run_it_again(bot, emulator, caplog, action, value):
    answer = bot.answer(bot.click(action, value))
    assert "This list has expired — run the command again." in answer["text"]
    assert find_button(answer, "Try again") is None
    assert emulator.call_count() == 0
    restarted = click(bot, answer, "Run it again")
    assert job_arns(restarted) == listed(emulator)[:10], "Run it again starts the unfiltered list"
    assert tracebacks(caplog) == []


def test_a_tampered_next_page_offers_to_run_the_same_list_again(bot, emulator, account):
    page = bot.ask("media-feed failed")
    button = find_button(page, "Next page") or find_button(page, "Details")
    tampered = button["value"][:-3] + ("AAA" if not button["value"].endswith("AAA") else "BBB")
    expired = bot.answer(bot.click(button["action_id"], tampered))
    assert "expired" in expired["text"]
    assert job_arns(click(bot, expired, "Run it again")) == listed(emulator)[:10]


def test_an_expired_list_runs_its_own_query_again(dispatch_bot, emulator, account):
    bot = dispatch_bot(cursor_ttl_hours=0.00001)  # 36 ms
    page = bot.ask("media-feed")
    time.sleep(0.05)  # past the TTL since the page was made (before its answer arrived): waits, measures nothing
    expired = click(bot, page, "Next page")
    assert "expired" in expired["text"]
    assert job_arns(click(bot, expired, "Run it again")) == job_arns(page)


def test_a_failed_next_page_offers_try_again_which_then_works(dispatch_bot, account, emulator):
    bot = dispatch_bot(list_cache_seconds=0)  # the click must reach AWS to meet the injected error
    first = bot.ask("")
    emulator.inject_error("ListDataDeletionJobs", "AccessDeniedException")
    failed = click(bot, first, "Next page")
    assert "not allowed to read deletion jobs" in failed["text"]
    assert job_arns(click(bot, failed, "Try again")) == listed(emulator)[10:20]


def test_a_failed_details_offers_try_again_and_back_to_list(bot, emulator):
    page = bot.ask("")
    emulator.inject_error("DescribeDataDeletionJob", "AccessDeniedException")
    failed = click(bot, page, "Details")
    assert "not allowed to read deletion jobs" in failed["text"]
    assert find_button(failed, "Back to list") is not None
    details = click(bot, failed, "Try again")
    assert details["blocks"][0]["text"]["text"].startswith("Deletion job · ")


# ---- access -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["Next page", "Details"])
def test_a_refused_user_cannot_press_an_allowed_users_buttons(dispatch_bot, emulator, account, label):
    bot = dispatch_bot(allowed_user_ids=("UALLOWED",))
    page = bot.ask("", user_id="UALLOWED")
    emulator.reset_calls()
    refused = click(bot, page, label, user_id="UOUTSIDER")
    assert refused["text"].startswith(":no_entry: Sorry, you are not allowed to")
    assert job_arns(refused) == [] and find_button(refused, "Try again") is None
    assert emulator.call_count() == 0


def test_the_channel_of_an_ephemeral_click_comes_from_its_container(dispatch_bot, emulator, account):
    """Slack may leave `channel` out of a click on an ephemeral message; `container.channel_id` still names it."""
    bot = dispatch_bot(allowed_channel_ids=("CPRIVACY",))
    page = bot.ask("", channel_id="CPRIVACY")
    button = find_button(page, "Next page")
    for container_channel, allowed in (("CPRIVACY", True), ("CRANDOM", False)):
        body = payload_with(bot, container_channel, channel=None, actions=[
            {"type": "button", "action_id": button["action_id"], "block_id": "b", "value": button["value"]}],
            container={"type": "message", "channel_id": container_channel, "is_ephemeral": True})
        assert bot.send(body)[0] == 200
        [answer] = bot.slack.wait_for_responses(1, key=container_channel)
        assert bool(job_arns(answer)) is allowed, answer["text"]


# ---- malformed clicks ---------------------------------------------------------------------------------------


def test_a_click_without_a_value_says_the_list_expired(bot, emulator):
    body = payload_with(bot, "no-value", actions=[{"type": "button", "action_id": "deletion_jobs.next",
                                                   "block_id": "b"}])
    assert bot.send(body)[0] == 200
    [answer] = bot.slack.wait_for_responses(1, key="no-value")
    assert "This list has expired" in answer["text"] and find_button(answer, "Run it again")
    assert emulator.call_count() == 0


def test_a_button_that_is_not_ours_is_404_and_does_nothing(bot, emulator, submitted):
    ack = bot.click("someone_else.approve", "v")
    assert ack.status == 404
    assert submitted == [] and emulator.call_count() == 0 and bot.slack.response_posts() == []


def test_a_forged_click_is_401_and_does_nothing(bot, emulator, submitted):
    page = bot.ask("")
    button = find_button(page, "Next page")
    emulator.reset_calls()
    submitted.clear()
    body = block_action_body(action_id=button["action_id"], value=button["value"],
                             response_url=bot.slack.response_url("forged"))
    assert bot.send(body, secret="not-the-signing-secret")[0] == 401
    assert submitted == [] and emulator.call_count() == 0 and bot.slack.response_posts("forged") == []

"""/deletion-jobs end to end: signed HTTP requests to the running Bolt app, the Personalize emulator behind it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.blockkit import assert_within_limits
from tests.helpers.bots import find_button, footer, job_arns, walk

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def expected(emulator, group=None, status=None) -> list[str]:
    return [job["dataDeletionJobArn"] for job in emulator.jobs(group, status)]


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=11, jobs=260, now=NOW)


@pytest.mark.parametrize("token_length", [None, 1500])
def test_walking_next_returns_exactly_what_aws_has_in_order(emulator, run_bot, account, token_length):
    emulator.token_length = token_length
    bot = run_bot(page_size=20)
    group = account["media-feed"]
    cases = [
        ("", None, None),
        ("media-feed failed", group, "FAILED"),
        (f"{account['retail-recs']} COMPLETED", account["retail-recs"], "COMPLETED"),
        ("FAILED", None, "FAILED"),
    ]
    for text, group_arn, status in cases:
        shown, messages = walk(bot, text)
        want = expected(emulator, group_arn, status)
        assert want, f"the seed has no jobs for {text!r}"
        assert shown == want, text
        assert len(set(shown)) == len(shown)
        for message in messages:
            assert_within_limits(message)
            for block in message["blocks"]:
                for element in block.get("elements", []):
                    if element.get("type") == "button":
                        assert len(element["value"]) <= 2000


def test_first_page_is_ephemeral_with_header_footer_and_next(emulator, run_bot, account):
    bot = run_bot()
    message = bot.ask("media-feed failed")
    assert message["response_type"] == "ephemeral"
    assert message["blocks"][0]["text"]["text"] == "Failed deletion jobs · media-feed"
    assert message["text"]
    assert footer(message).startswith("Page 1 · jobs 1–")
    second = bot.press(message)
    assert second["replace_original"] is True
    assert footer(second).startswith("Page 2 · jobs 11–")


def test_slow_aws_does_not_delay_the_ack(emulator, run_bot, account):
    bot = run_bot()
    emulator.hold()  # AWS answers nothing until released below
    ack = bot.command("FAILED")
    # The ack came back while AWS was still busy with the first call: nothing had been answered yet.
    assert ack.status == 200
    assert bot.slack.response_posts(ack.response_key) == []
    emulator.release()
    message = bot.answer(ack, timeout=30)
    assert job_arns(message)


def test_filtered_walk_costs_at_most_one_read_per_api_page_plus_one_per_click(emulator, run_bot):
    group = emulator.add_dataset_group("bulk")
    emulator.seed_bulk(group, 1000, failed_every=7, now=NOW)
    bot = run_bot(page_size=20)
    emulator.reset_calls()
    shown, messages = walk(bot, "bulk failed")
    assert shown == expected(emulator, group, "FAILED")
    list_calls = emulator.call_count("ListDataDeletionJobs")
    assert list_calls <= math.ceil(1000 / 100) + len(messages)


def test_call_budget_offers_continue_and_loses_nothing(emulator, run_bot):
    group = emulator.add_dataset_group("sparse")
    emulator.seed_bulk(group, 1000, failed_every=0, now=NOW)
    late = emulator.add_job(group, status="FAILED", created=NOW - timedelta(days=30), failure_reason="late")
    bot = run_bot(max_api_calls_per_page=3)
    first = bot.ask("sparse failed")
    assert "scanned 300 jobs" in footer(first)
    assert find_button(first, "Continue") is not None
    shown, _ = walk(bot, "sparse failed")
    assert shown == [late]


def test_double_click_on_next_answers_both_the_same(emulator, run_bot, account):
    bot = run_bot()
    first = bot.ask("")
    button = find_button(first, "Next page")
    acks = [bot.click(button["action_id"], button["value"]) for _ in range(2)]
    pages = [bot.answer(ack) for ack in acks]
    assert job_arns(pages[0]) == job_arns(pages[1]) == expected(emulator)[10:20]


def test_details_and_back_to_list(emulator, run_bot, account):
    bot = run_bot()
    page = bot.ask("media-feed failed")
    details = bot.press(page, "Details")
    assert details["blocks"][0]["text"]["text"].startswith("Deletion job · ")
    assert "Records deleted" in str(details)
    back = bot.press(details, "Back to list")
    assert job_arns(back) == job_arns(page)


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("failedd", ["`failedd`", "`FAILED`"]),
        ("medai-feed", ["`medai-feed`", "`media-feed`"]),
        ("arn:aws:personalize:us-east-1:1234:dataset-group/x", ["is not a dataset group ARN"]),
        ("failed completed", ["`completed`", "only one status"]),
        ("arn:aws:personalize:us-east-1:123456789012:dataset-group/nope",
         ["`nope` does not exist in region `us-east-1`"]),
        ("help", ["Usage", "Examples"]),
        ("payload", ["`payload`"]),  # Bolt alone would read this form body as an empty interaction
    ],
)
def test_bad_input_gets_an_answer_that_names_the_problem(emulator, run_bot, account, text, must_contain):
    message = run_bot().ask(text)
    for part in must_contain:
        assert part in message["text"], message["text"]
    assert "Traceback" not in str(message) and "botocore" not in str(message)


@pytest.mark.parametrize(
    ("code", "status", "must_contain"),
    [
        ("AccessDeniedException", 400, "not allowed"),
        ("ExpiredTokenException", 400, "credentials"),
        ("ThrottlingException", 400, "throttling"),
        ("InternalFailure", 500, "could not answer"),
    ],
)
def test_aws_errors_get_a_clear_answer(emulator, run_bot, account, code, status, must_contain):
    bot = run_bot()
    emulator.inject_error("ListDataDeletionJobs", code, status=status, times=10,
                          message="User arn:aws:iam::123456789012:user/bot is not authorized")
    message = bot.ask("FAILED")
    assert must_contain in message["text"], message["text"]
    assert "arn:aws:iam" not in str(message) and "botocore" not in str(message)


def test_two_throttles_in_a_row_are_absorbed(emulator, run_bot, account):
    bot = run_bot()
    emulator.inject_error("ListDataDeletionJobs", "ThrottlingException", times=2)
    message = bot.ask("")
    assert job_arns(message) == expected(emulator)[:10]


def test_expired_and_tampered_cursors_say_run_again_with_a_restart_button(emulator, run_bot, account):
    bot = run_bot()
    first = bot.ask("media-feed failed")
    button = find_button(first, "Next page")
    tampered = button["value"][:-3] + ("AAA" if not button["value"].endswith("AAA") else "BBB")
    for value in (tampered, "c.garbage.mac", ""):
        answer = bot.answer(bot.click(button["action_id"], value))
        assert "This list has expired — run the command again." in answer["text"]
        assert find_button(answer, "Run it again") is not None


def test_invalid_next_token_restarts_the_same_list(emulator, run_bot, account):
    bot = run_bot(list_cache_seconds=0)  # the click must reach AWS to meet the injected error, not a shared page
    first = bot.ask("media-feed failed")
    emulator.inject_error("ListDataDeletionJobs", "InvalidNextTokenException")
    expired = bot.press(first)
    assert "expired" in expired["text"]
    again = bot.press(expired, "Run it again")
    assert job_arns(again) == job_arns(first)


def test_failure_reason_reaches_slack_escaped(emulator, run_bot):
    group = emulator.add_dataset_group("escapes")
    emulator.add_job(group, status="FAILED", created=NOW, failure_reason="<!channel> bad <@U1> & <https://x|y>")
    message = run_bot().ask("escapes failed")
    text = message["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in text and "<!channel>" not in str(message)
    assert "&lt;@U1&gt;" in text and "&amp;" in text


@pytest.mark.parametrize("how", ["wrong secret", "old timestamp"])
def test_bad_signatures_get_401(emulator, run_bot, how):
    bot = run_bot()
    from devtools.slack_requests import slash_command_body

    body = slash_command_body("", response_url=bot.slack.response_url("sig"))
    if how == "wrong secret":
        status, _, _ = bot.send(body, secret="not-the-secret")
    else:
        import time

        status, _, _ = bot.send(body, timestamp=int(time.time()) - 600)
    assert status == 401
    assert emulator.call_count() == 0


def test_run_it_again_works_on_an_old_message(emulator, run_bot, account):
    bot = run_bot(cursor_ttl_hours=0.00001)  # 36 ms
    first = bot.ask("media-feed failed")
    import time

    # Past the TTL since the page was made (before its answer arrived): waits for an expiry, measures nothing.
    time.sleep(0.05)
    expired = bot.press(first)
    assert "expired" in expired["text"]
    again = bot.press(expired, "Run it again")
    assert job_arns(again) == job_arns(first)


def test_details_of_a_job_aws_no_longer_knows(emulator, run_bot, account):
    bot = run_bot()
    page = bot.ask("media-feed failed")
    emulator.inject_error("DescribeDataDeletionJob", "ResourceNotFoundException")
    answer = bot.press(page, "Details")
    assert "no longer knows the deletion job" in answer["text"]
    back = bot.press(answer, "Back to list")
    assert job_arns(back) == job_arns(page)


def test_a_failed_next_page_offers_try_again(emulator, run_bot, account):
    bot = run_bot(list_cache_seconds=0)  # the click must reach AWS to meet the injected error, not a shared page
    first = bot.ask("")
    emulator.inject_error("ListDataDeletionJobs", "AccessDeniedException")
    failed = bot.press(first)
    assert "not allowed" in failed["text"]
    again = bot.press(failed, "Try again")
    assert job_arns(again) == expected(emulator)[10:20]


def test_dataset_group_names_are_looked_up_once_for_listing_and_digest(emulator, run_bot, account):
    bot = run_bot()
    emulator.reset_calls()
    bot.ask("media-feed failed")
    bot.ask("retail-recs")
    assert "Subscribed" in bot.ask("digest subscribe media-feed")["text"]
    assert emulator.call_count("ListDatasetGroups") == 1

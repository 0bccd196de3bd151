"""Allowlists end to end: signed commands and clicks from allowed and refused users, channels and dataset groups."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from tests.helpers.bots import find_button, job_arns, walk
from tests.helpers.logs import audit_lines

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALLOWED_USER, OTHER_USER = "UALLOWED1", "UOUTSIDER"
ALLOWED_CHANNEL, OTHER_CHANNEL = "CPRIVACY1", "CRANDOM99"


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=3, jobs=160, now=NOW)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def assert_refused(message: dict, *, replaces: bool = False) -> None:
    """A refusal is one short sentence, with no job and no button in it."""
    text = message["text"]
    assert text.startswith(":no_entry: Sorry, you are not allowed to"), text
    assert len(text) <= 160, text
    assert "Ask the bot's admin" in text
    assert job_arns(message) == []
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert message.get("replace_original", False) is replaces


def refusal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "services.access" and r.levelno == logging.WARNING]


def shown_arns(message: dict) -> list[str]:
    # The context line of each job holds its ARN (as mrkdwn); compare against the emulator's ARNs by inclusion.
    return job_arns(message)


def contains_exactly(lines: list[str], arns: list[str]) -> bool:
    return len(lines) == len(arns) and all(arn in line for line, arn in zip(lines, arns, strict=True))


# ---- users ---------------------------------------------------------------------------------------------


def test_user_outside_allowed_user_ids_is_refused_on_the_command_before_any_aws_call(emulator, run_bot, account,
                                                                                     logs):
    bot = run_bot(allowed_user_ids=(ALLOWED_USER,))
    emulator.reset_calls()
    for text in ("failed", "media-feed", "help", "digest list"):
        assert_refused(bot.ask(text, user_id=OTHER_USER))
    assert emulator.call_count() == 0
    assert len(refusal_lines(logs)) == 4
    assert all(OTHER_USER in line and "ALLOWED_USER_IDS" in line for line in refusal_lines(logs))


def test_a_refused_user_cannot_use_an_allowed_users_buttons(emulator, run_bot, account, logs):
    bot = run_bot(allowed_user_ids=(ALLOWED_USER,))
    page = bot.ask("failed", user_id=ALLOWED_USER)
    assert job_arns(page)
    emulator.reset_calls()
    # Real button values from the allowed user's page, clicked by someone else (a shared screen, a forwarded
    # payload): every kind of click is refused, and none of them reaches AWS.
    for label in ("Next page", "Details"):
        assert_refused(bot.press(page, label, user_id=OTHER_USER), replaces=True)
    details = bot.press(page, "Details", user_id=ALLOWED_USER)
    emulator.reset_calls()
    assert_refused(bot.press(details, "Back to list", user_id=OTHER_USER), replaces=True)
    assert emulator.call_count() == 0
    assert [a["outcome"] for a in audit_lines(logs) if a["user"] == OTHER_USER] == ["refused"] * 3


def test_an_allowed_user_pages_and_opens_details(emulator, run_bot, account):
    bot = run_bot(allowed_user_ids=(ALLOWED_USER, "USECOND2"))
    page = bot.ask("failed", user_id=ALLOWED_USER)
    failed = [job["dataDeletionJobArn"] for job in emulator.jobs(status="FAILED")]
    assert contains_exactly(shown_arns(page), failed[:10])
    # Another allowed user may click the first one's button.
    second = bot.press(page, "Next page", user_id="USECOND2")
    assert contains_exactly(shown_arns(second), failed[10:20])
    details = bot.press(second, "Details", user_id=ALLOWED_USER)
    assert details["blocks"][0]["text"]["text"].startswith("Deletion job · ")


# ---- channels ------------------------------------------------------------------------------------------


def test_channel_allowlist_refuses_commands_and_clicks_elsewhere(emulator, run_bot, account, logs):
    bot = run_bot(allowed_channel_ids=(ALLOWED_CHANNEL,))
    page = bot.ask("", channel_id=ALLOWED_CHANNEL)
    assert len(job_arns(page)) == 10
    emulator.reset_calls()
    refused = bot.ask("", channel_id=OTHER_CHANNEL)
    assert_refused(refused)
    assert "in this channel" in refused["text"]
    assert_refused(bot.press(page, "Next page", channel_id=OTHER_CHANNEL), replaces=True)
    assert emulator.call_count() == 0
    assert len(refusal_lines(logs)) == 2
    assert all(OTHER_CHANNEL in line and "ALLOWED_CHANNEL_IDS" in line for line in refusal_lines(logs))
    # In the allowed channel the same button still works.
    assert len(job_arns(bot.press(page, "Next page", channel_id=ALLOWED_CHANNEL))) == 10


def test_user_and_channel_allowlists_both_apply(run_bot, account):
    bot = run_bot(allowed_user_ids=(ALLOWED_USER,), allowed_channel_ids=(ALLOWED_CHANNEL,))
    assert job_arns(bot.ask("", user_id=ALLOWED_USER, channel_id=ALLOWED_CHANNEL))
    assert_refused(bot.ask("", user_id=ALLOWED_USER, channel_id=OTHER_CHANNEL))
    assert_refused(bot.ask("", user_id=OTHER_USER, channel_id=ALLOWED_CHANNEL))


# ---- dataset groups ------------------------------------------------------------------------------------


@pytest.fixture(params=["names", "arns"])
def group_allowlist(request, account):
    """media-feed and news-personalization allowed, given as names or as ARNs (both forms must work)."""
    allowed = ("media-feed", "news-personalization")
    return allowed if request.param == "names" else tuple(account[name] for name in allowed)


def test_a_group_outside_allowed_dataset_groups_is_refused_by_name_and_by_arn(emulator, run_bot, account,
                                                                             group_allowlist, logs):
    bot = run_bot(allowed_dataset_groups=group_allowlist)
    refused = ("retail-recs", "RETAIL-RECS failed", account["retail-recs"], f"completed {account['video-ranking']}")
    for text in refused:
        message = bot.ask(text)
        assert_refused(message)
    assert len(refusal_lines(logs)) == 4
    assert all("ALLOWED_DATASET_GROUPS" in line for line in refusal_lines(logs))
    # No ListDataDeletionJobs for a refused group: at most the name lookup happened.
    assert emulator.call_count("ListDataDeletionJobs") == 0
    # Allowed groups, by name (any case) and by ARN, are listed.
    media = [job["dataDeletionJobArn"] for job in emulator.jobs(account["media-feed"])]
    assert contains_exactly(shown_arns(bot.ask("media-feed")), media[:10])
    assert contains_exactly(shown_arns(bot.ask("Media-Feed")), media[:10])
    assert contains_exactly(shown_arns(bot.ask(account["media-feed"])), media[:10])


def test_with_a_group_allowlist_an_unfiltered_list_shows_only_allowed_groups(emulator, run_bot, account,
                                                                           group_allowlist):
    bot = run_bot(allowed_dataset_groups=group_allowlist, page_size=20)
    allowed_arns = {account["media-feed"], account["news-personalization"]}
    for text, status in (("", None), ("failed", "FAILED")):
        want = [job["dataDeletionJobArn"] for job in emulator.jobs(status=status)
                if job["datasetGroupArn"] in allowed_arns]
        hidden = [job["dataDeletionJobArn"] for job in emulator.jobs(status=status)
                  if job["datasetGroupArn"] not in allowed_arns]
        assert want and hidden, "the seed must have jobs on both sides of the allowlist"
        shown, messages = walk(bot, text)
        assert contains_exactly(shown, want), text
        for message in messages:
            assert not any(group in json.dumps(message) for group in ("retail-recs", "video-ranking"))


def test_details_of_an_allowed_job_works_under_a_group_allowlist(run_bot, account, group_allowlist):
    bot = run_bot(allowed_dataset_groups=group_allowlist)
    page = bot.ask("failed")
    details = bot.press(page, "Details")
    assert details["blocks"][0]["text"]["text"].startswith("Deletion job · ")
    assert find_button(details, "Back to list") is not None


def test_suggestions_for_an_unknown_group_never_name_a_hidden_group(run_bot, account):
    bot = run_bot(allowed_dataset_groups=("media-feed",))
    message = bot.ask("retail-rec")
    assert "`retail-rec`" in message["text"]
    assert "retail-recs" not in message["text"].replace("`retail-rec`", "")
    # Close names the user may see are still suggested.
    assert "`media-feed`" in bot.ask("media-fed")["text"]


def test_empty_allowlists_mean_open(emulator, run_bot, account):
    bot = run_bot(allowed_user_ids=(), allowed_channel_ids=(), allowed_dataset_groups=())
    assert len(job_arns(bot.ask("retail-recs", user_id="UANYONE", channel_id="CANYWHERE"))) == 10

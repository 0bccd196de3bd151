"""Watches end to end: commands and clicks over HTTP to the real app, the poller against the Personalize emulator
and the Slack stub (both over HTTP). The scheduler's poll job is `services.watch_poller.poll`, called here."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.bots import find_button

NOW = datetime.now(UTC)
HOSTILE = "Access denied <!channel> to s3://acme/<http://x|y> & friends"


@pytest.fixture
def account(emulator):
    media = emulator.add_dataset_group("media-feed")
    retail = emulator.add_dataset_group("retail-recs")
    emulator.seed_bulk(media, 30, failed_every=5, now=NOW - timedelta(hours=3))
    arns = {
        "running": emulator.add_job(media, status="PENDING", name="gdpr-erasure-42",
                                    created=NOW - timedelta(minutes=20)),
        "failing": emulator.add_job(media, status="IN_PROGRESS", name="gdpr-erasure-43",
                                    created=NOW - timedelta(minutes=10)),
        "retail": emulator.add_job(retail, status="PENDING", name="retail-erasure-1",
                                   created=NOW - timedelta(minutes=5)),
        "done": emulator.add_job(media, status="COMPLETED", name="gdpr-erasure-41", num_deleted=77,
                                 created=NOW - timedelta(hours=2), updated=NOW - timedelta(hours=1)),
    }
    return arns


def dms(slack, user: str) -> list[dict]:
    return slack.messages(user)


def section_text(message: dict) -> str:
    return message["blocks"][0]["text"]["text"]


def test_two_watchers_each_get_one_message_with_the_count_when_the_job_completes(run_bot, emulator, slack, account):
    bot = run_bot()
    by_command = bot.ask("watch gdpr-erasure-42", user_id="UALICE")
    assert "Watching deletion job *gdpr-erasure-42*" in section_text(by_command)

    listing = bot.ask("media-feed pending", user_id="UBOB")
    click = bot.click(find_button(listing, "Watch")["action_id"], find_button(listing, "Watch")["value"],
                      user_id="UBOB")
    answer = bot.answer(click)
    assert "Watching deletion job *gdpr-erasure-42*" in section_text(answer)
    assert answer.get("replace_original") is not True and answer["response_type"] == "ephemeral", "the list stays"

    poller = bot.services.watch_poller
    emulator.reset_calls()
    assert poller.poll().notified == 0
    assert emulator.call_count() == 1, "two watchers of one job: one DescribeDataDeletionJob"
    emulator.advance_job(account["running"], "IN_PROGRESS")
    assert poller.poll().notified == 0
    emulator.advance_job(account["running"], "COMPLETED", num_deleted=1234, updated=NOW + timedelta(hours=1))
    assert poller.poll().notified == 2
    assert poller.poll().notified == 0

    for user in ("UALICE", "UBOB"):
        [message] = dms(slack, user)
        text = json.dumps(message)
        assert "*1,234* records deleted" in text and "media-feed" in text and account["running"] in text
        assert find_button(message, "Details")["value"] == account["running"]
        assert message["metadata"]["event_type"] == "deletion_job_watch_notice"
    watching = bot.ask("watching", user_id="UALICE")
    assert "not watching any" in section_text(watching)


def test_a_failure_reason_is_escaped_and_says_what_next(run_bot, emulator, slack, account):
    bot = run_bot()
    bot.ask("watch gdpr-erasure-43", user_id="UALICE")
    bot.ask(f"watch {account['failing']}", user_id="UBOB")
    emulator.advance_job(account["failing"], "FAILED", failure_reason=HOSTILE)

    assert bot.services.watch_poller.poll().notified == 2

    for user in ("UALICE", "UBOB"):
        [message] = dms(slack, user)
        text = json.dumps(message)
        assert "<!channel>" not in text and "<http://x|y>" not in text and " & " not in text
        assert "&lt;!channel&gt;" in text and "&lt;http://x|y&gt; &amp; friends" in text
        assert "s3://acme-gdpr-requests/media-feed/gdpr-erasure-43.csv" in text and "submitted again" in text
        assert message["text"].startswith("Deletion job gdpr-erasure-43 failed")


def test_watching_lists_watches_with_unwatch_and_unwatch_ends_one(run_bot, emulator, slack, account):
    bot = run_bot()
    bot.ask("watch gdpr-erasure-42", user_id="UALICE")
    bot.ask("watch retail-erasure-1", user_id="UALICE")
    listed = bot.ask("watching", user_id="UALICE")
    assert "You are watching 2 deletion jobs" in json.dumps(listed)
    assert "Pending" in json.dumps(listed) and "retail-recs" in json.dumps(listed)

    after_click = bot.press(listed, "Unwatch", user_id="UALICE")
    assert after_click["replace_original"] is True
    assert "Stopped watching deletion job *gdpr-erasure-42*" in json.dumps(after_click)
    assert "You are watching 1 deletion job" in json.dumps(after_click)

    by_command = bot.ask("unwatch retail-erasure-1", user_id="UALICE")
    assert "not watching any" in json.dumps(by_command)
    again = bot.ask("unwatch retail-erasure-1", user_id="UALICE")
    assert "You are not watching `retail-erasure-1`" in section_text(again)
    emulator.advance_job(account["running"], "IN_PROGRESS")
    emulator.advance_job(account["running"], "COMPLETED", num_deleted=1)
    bot.services.watch_poller.poll()
    assert dms(slack, "UALICE") == []


def test_a_finished_job_is_answered_at_once_and_an_unknown_one_is_named(run_bot, account):
    bot = run_bot()
    done = bot.ask("watch gdpr-erasure-41", user_id="UALICE")
    assert "*77* records deleted" in json.dumps(done) and "nothing to watch" in json.dumps(done)
    unknown = bot.ask("watch gdpr-erasure-999", user_id="UALICE")
    assert "`gdpr-erasure-999`" in section_text(unknown) and "can't find" in section_text(unknown)
    foreign = bot.ask("watch arn:aws:personalize:eu-west-1:123456789012:data-deletion-job/x", user_id="UALICE")
    assert "region `eu-west-1`" in section_text(foreign)
    assert "not watching any" in section_text(bot.ask("watching", user_id="UALICE"))


def test_the_twenty_first_watch_is_refused_saying_why(run_bot, emulator, account):
    group = emulator.dataset_groups()["media-feed"]
    for i in range(20):
        emulator.add_job(group, status="PENDING", name=f"bulk-{i}", created=NOW - timedelta(minutes=1))
    bot = run_bot()
    for i in range(20):
        assert "Watching" in section_text(bot.ask(f"watch bulk-{i}", user_id="UALICE"))
    refused = bot.ask("watch gdpr-erasure-42", user_id="UALICE")
    assert "already watching 20 deletion jobs" in section_text(refused)


def test_details_and_its_watch_button_and_the_dms_details_button(run_bot, emulator, slack, account):
    bot = run_bot(allowed_channel_ids=("C123",))
    listing = bot.ask("media-feed in-progress", user_id="UALICE")
    details = bot.press(listing, "Details", user_id="UALICE")
    watched = bot.press(details, "Watch", user_id="UALICE")
    assert "Watching deletion job *gdpr-erasure-43*" in section_text(watched)

    emulator.advance_job(account["failing"], "FAILED", failure_reason="Bad input")
    bot.services.watch_poller.poll()
    [message] = dms(slack, "UALICE")
    # The click comes from the bot's DM (a D… channel), which ALLOWED_CHANNEL_IDS does not list.
    from_dm = bot.press(message, "Details", user_id="UALICE", channel_id="DUALICE")
    assert from_dm["blocks"][0]["text"]["text"] == "Deletion job · gdpr-erasure-43"
    assert find_button(from_dm, "Back to list") is None and find_button(from_dm, "Watch") is None
    elsewhere = bot.ask("watching", user_id="UALICE", channel_id="CELSEWHERE")
    assert "not allowed" in section_text(elsewhere), "commands keep the channel allowlist"


def test_access_applies_when_a_watch_starts_and_again_when_the_message_is_sent(run_bot, make_settings, emulator,
                                                                                slack, account, caplog):
    bot = run_bot(allowed_dataset_groups=("media-feed",))
    refused = bot.ask("watch retail-erasure-1", user_id="UALICE")
    assert "not allowed to see the dataset group retail-recs" in section_text(refused)
    bot.ask("watch gdpr-erasure-42", user_id="UALICE")
    bot.ask("watch gdpr-erasure-42", user_id="UBOB")

    # The allowlist changes (a restart with new settings, same database): Bob is no longer allowed.
    narrowed = run_bot(allowed_dataset_groups=("media-feed",), allowed_user_ids=("UALICE",))
    emulator.advance_job(account["running"], "IN_PROGRESS")
    emulator.advance_job(account["running"], "COMPLETED", num_deleted=5)
    with caplog.at_level(logging.INFO):
        caplog.clear()  # only the poll's lines (an earlier test may have set the audit logger to INFO)
        report = narrowed.services.watch_poller.poll()

    assert (report.notified, report.ended_access) == (1, 1)
    assert len(dms(slack, "UALICE")) == 1 and dms(slack, "UBOB") == []
    assert any(r.levelno == logging.WARNING and "UBOB" in r.getMessage() for r in caplog.records)
    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "deletion_jobs.audit"]
    assert [(a["audit"], a["user"], a["outcome"]) for a in audit] == [("watch_ended", "UBOB", "refused")]

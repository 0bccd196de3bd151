"""The Home tab end to end: signed `app_home_opened` callbacks and clicks over HTTP to the running bot, the
Personalize emulator behind it, and the Slack stub recording every views.* call (and refusing a view over 100
blocks, as Slack does)."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from blocks.home import ACTION_HOME_REFRESH
from devtools.slack_requests import JSON, app_home_opened_event, post, sign
from services.storage.schema import home_snapshots
from tests.helpers.blockkit import assert_valid_view

ALLOWED_USER, OUTSIDER = "UALLOWED1", "UOUTSIDER"
_COUNT = re.compile(r"([\d,]+) (pending|in progress|completed|failed)")
_DATE = re.compile(r"<!date\^(\d+)\^")


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=5, jobs=300)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def group_sections(view: dict) -> dict[str, str]:
    """Dataset group name → its section's text, for the groups the view shows one for."""
    found = {}
    for block in view["blocks"]:
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and "PENDING slots" in text:
            found[re.match(r"\*([^*]+)\*", text).group(1)] = text
    return found


def shown_counts(section: str) -> dict[str, int]:
    words = {"pending": "PENDING", "in progress": "IN_PROGRESS", "completed": "COMPLETED", "failed": "FAILED"}
    return {words[word]: int(number.replace(",", "")) for number, word in _COUNT.findall(section.split("\n")[1])}


def snapshot_read_at(bot) -> datetime:
    engine = create_engine(bot.settings.database_url)
    try:
        with engine.connect() as connection:
            read_at = connection.execute(select(home_snapshots.c.read_at)).scalar_one()
    finally:
        engine.dispose()
    return read_at.replace(tzinfo=UTC) if read_at.tzinfo is None else read_at


def audit_lines(caplog, event: str) -> list[dict]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "deletion_jobs.audit"]
    return [line for line in lines if line["audit"] == event]


def dump(view: dict) -> str:
    return json.dumps(view, ensure_ascii=False)


def wait_for_audit(caplog, event: str, n: int, timeout: float = 30) -> list[dict]:
    """The audit line is written when the work is done, just after the publish the test saw."""
    give_up = time.monotonic() + timeout
    while len(audit_lines(caplog, event)) < n:
        assert time.monotonic() < give_up, f"waited {timeout}s for {n} {event} audit lines"
        time.sleep(0.02)
    return audit_lines(caplog, event)


def publishes(slack, user_id: str) -> int:
    return len(slack.views(user_id=user_id))


def test_opening_home_publishes_one_view_whose_per_group_counts_match_the_emulator(emulator, slack, run_bot,
                                                                                  account):
    bot = run_bot()
    view = bot.home("U123")
    assert_valid_view(view)
    read_at = snapshot_read_at(bot)
    window_start = read_at - timedelta(days=30)
    sections = group_sections(view)
    assert sorted(sections) == sorted(account)
    for name, arn in account.items():
        jobs = emulator.jobs(arn)
        in_window = [j for j in jobs if j["creationDateTime"] >= window_start]
        want = {status: sum(1 for j in in_window if j["status"] == status)
                for status in ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")}
        assert shown_counts(sections[name]) == want, name
        pending = sum(1 for j in jobs if j["status"] == "PENDING")
        assert f"PENDING slots: {pending} of 5 in use" in sections[name]
        failed = [j["lastUpdatedDateTime"] for j in in_window if j["status"] == "FAILED"]
        if failed:
            assert _DATE.search(sections[name].split("last failure")[1]).group(1) == str(int(max(failed).timestamp()))
    # One publish for that person, for one opening: ask for someone else's view to be sure nothing else came.
    bot.home("USOMEONE")
    assert publishes(slack, "U123") == 1


def test_a_second_person_within_the_refresh_interval_costs_no_aws_call(emulator, slack, run_bot, account, logs):
    bot = run_bot()
    first = bot.home("U1")
    assert emulator.call_count("ListDataDeletionJobs") >= 1
    emulator.reset_calls()
    for person in ("U2", "U3", "U4"):
        again = bot.home(person)
        assert group_sections(again) == group_sections(first)
    assert emulator.call_count() == 0
    costs = [line["aws_calls"] for line in wait_for_audit(logs, "home", 4)]
    assert costs[0] >= 1 and costs[1:] == [0, 0, 0]


def test_another_process_on_the_same_database_shares_the_read(emulator, slack, run_bot, account):
    # Two bots on one state store, as two gunicorn workers or two web dynos are: the second reads nothing.
    first, second = run_bot(), run_bot()
    assert first.settings.database_url == second.settings.database_url
    view = first.home("U1")
    emulator.reset_calls()
    assert group_sections(second.home("U2")) == group_sections(view)
    assert emulator.call_count() == 0


def test_refresh_within_30_seconds_republishes_without_an_aws_call(emulator, slack, run_bot, account):
    bot = run_bot()
    bot.home("U1")
    emulator.reset_calls()
    status, _, _ = bot.click_view(ACTION_HOME_REFRESH, "refresh", user_id="U1")
    assert status == 200
    slack.wait_for_views(2, user_id="U1")
    assert emulator.call_count() == 0


def test_someone_outside_allowed_user_ids_sees_no_account_data(emulator, slack, run_bot, account, logs):
    bot = run_bot(allowed_user_ids=(ALLOWED_USER,))
    emulator.reset_calls()
    view = bot.home(OUTSIDER)
    assert_valid_view(view)
    text = json.dumps(view)
    assert "not available to you" in text
    assert not any(name in text for name in account) and "arn:aws" not in text and "<!date" not in text
    assert emulator.call_count() == 0
    assert wait_for_audit(logs, "home", 1)[-1]["outcome"] == "refused"
    # Refresh does not get them in either.
    bot.click_view(ACTION_HOME_REFRESH, "refresh", user_id=OUTSIDER)
    assert "not available to you" in json.dumps(slack.wait_for_views(2, user_id=OUTSIDER)[-1])
    assert emulator.call_count() == 0
    assert group_sections(bot.home(ALLOWED_USER))


def test_allowed_dataset_groups_filters_every_part_of_home(emulator, slack, run_bot, account):
    bot = run_bot(allowed_dataset_groups=("media-feed",))
    for text in ("digest subscribe media-feed", "digest subscribe"):
        bot.ask(text, channel_id="C0MEDIA" if "media" in text else "C0ALL")
    bot.services.digest.subscriptions.subscribe("C0RETAIL", dataset_group_arn=account["retail-recs"], at_time=None,
                                                timezone=None, created_by="U9")
    view = bot.home("U1")
    text = json.dumps(view)
    assert list(group_sections(view)) == ["media-feed"]
    for hidden in ("retail-recs", "news-personalization", "video-ranking", "C0RETAIL"):
        assert hidden not in text, hidden
    assert "C0MEDIA" in text and "C0ALL" in text
    failures = [b for b in view["blocks"] if b.get("accessory", {}).get("text", {}).get("text") == "Details"]
    assert failures and all("media-feed" in b["text"]["text"] for b in failures)


def test_details_on_home_opens_a_modal_with_the_job(emulator, slack, run_bot, account):
    bot = run_bot()
    view = bot.home("U1")
    section = next(b for b in view["blocks"] if b.get("accessory", {}).get("text", {}).get("text") == "Details")
    name = re.search(r"\*([^*]+)\*", section["text"]["text"]).group(1)
    emulator.reset_calls()
    status, _, _ = bot.click_view(section["accessory"]["action_id"], section["accessory"]["value"], user_id="U1")
    assert status == 200
    [modal] = slack.wait_for_views(1, method="views.update")
    [loading] = slack.views("views.open")
    assert_valid_view(modal)
    assert_valid_view(loading)
    assert name in modal["blocks"][0]["text"]["text"]
    assert emulator.call_count("DescribeDataDeletionJob") == 1
    assert slack.response_posts() == []


def test_your_watches_are_on_home_and_unwatch_there_ends_one_and_publishes_home_again(emulator, slack, run_bot):
    from blocks.watch import ACTION_UNWATCH

    group = emulator.add_dataset_group("media-feed")
    now = datetime.now(UTC)
    watched = [emulator.add_job(group, status="PENDING", name=f"gdpr-erasure-{i}", created=now - timedelta(minutes=i))
               for i in (1, 2)]
    bot = run_bot()
    for i in (1, 2):
        bot.ask(f"watch gdpr-erasure-{i}", user_id="UALICE")
    view = bot.home("UALICE")

    def unwatch_values(view):
        return [b["accessory"]["value"] for b in view["blocks"]
                if b.get("accessory", {}).get("action_id") == ACTION_UNWATCH]

    assert sorted(unwatch_values(view)) == sorted(watched)
    bobs = bot.home("UBOB")
    assert unwatch_values(bobs) == [] and "You are not watching any deletion job" in dump(bobs)
    emulator.reset_calls()
    answered = len(slack.response_posts())
    status, _, _ = bot.click_view(ACTION_UNWATCH, watched[0], user_id="UALICE")
    assert status == 200
    after = slack.wait_for_views(2, user_id="UALICE")[-1]
    assert unwatch_values(after) == [watched[1]]
    assert [w.job_arn for w in bot.services.watches.watching("UALICE")] == [watched[1]]
    assert emulator.call_count() == 0, "the snapshot is shared: unwatching reads nothing from AWS"
    assert len(slack.response_posts()) == answered, "a view has no response_url: nothing was posted to one"


def test_a_job_running_past_the_stuck_rule_needs_attention_on_home(emulator, slack, run_bot):
    group = emulator.add_dataset_group("media-feed")
    now = datetime.now(UTC)
    emulator.add_job(group, status="IN_PROGRESS", name="slow-erasure", created=now - timedelta(hours=30))
    for i in range(5):
        emulator.add_job(group, status="PENDING", name=f"queued-{i}", created=now - timedelta(minutes=i + 1))
    view = run_bot().home("U1")
    text = dump(view)
    assert "1 stuck job* (running longer than 1 d)" in text and "*slow-erasure* · media-feed · In progress for 1 d" \
        in text
    assert "PENDING queue full* (5 of 5): *media-feed*" in text
    assert_valid_view(view)


def test_a_failed_first_read_is_said_on_home_without_a_traceback(emulator, slack, run_bot, account, logs):
    bot = run_bot()
    emulator.inject_error("ListDataDeletionJobs", "AccessDeniedException", message="no", times=10)
    view = bot.home("U1")
    assert_valid_view(view)
    assert "not allowed to read deletion jobs" in json.dumps(view)
    assert not [r for r in logs.records if r.exc_info]


@pytest.mark.parametrize("group_count", [1, 20, 200])
def test_home_is_accepted_by_slack_for_1_20_and_200_dataset_groups(emulator, slack, run_bot, group_count):
    now = datetime.now(UTC)
    for i in range(group_count):
        arn = emulator.add_dataset_group(f"group-{i:03d}")
        emulator.add_job(arn, status="FAILED", created=now - timedelta(days=1, minutes=i), failure_reason="<!here>")
        emulator.add_job(arn, status="PENDING" if i % 2 else "COMPLETED", created=now - timedelta(hours=1))
    bot = run_bot()
    view = bot.home("U1")  # the stub, like Slack, refuses a view over 100 blocks: this one was accepted
    assert_valid_view(view)
    shown = group_sections(view)
    if len(shown) < group_count:
        assert f"…and {group_count - len(shown)} more dataset groups" in json.dumps(view, ensure_ascii=False)
    assert not [c for c in slack.calls("views.publish") if not c.ok]


def test_slacks_url_verification_is_answered_through_the_gates(run_bot):
    # Enabling Event Subscriptions in HTTP mode: Slack sends a signed challenge to the request URL first.
    bot = run_bot()
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    status, text, _ = post(bot.events_url, body, sign(bot.signing_secret, body, content_type=JSON))
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


def test_a_retried_app_home_opened_is_published_once_whichever_process_gets_each_copy(emulator, slack, run_bot,
                                                                                     account):
    # Slack sends the event again (same event_id, X-Slack-Retry-Num) when it saw no 200 within 3 s; the copies may
    # reach two processes sharing the state store.
    bots = [run_bot(), run_bot()]
    event = app_home_opened_event("URETRY")
    statuses = [bots[0].send_event(event, event_id="Ev0RETRY01")[0],
                bots[1].send_event(event, event_id="Ev0RETRY01", retry_num=1)[0],
                bots[0].send_event(event, event_id="Ev0RETRY01", retry_num=2)[0]]
    assert statuses == [200, 200, 200]
    slack.wait_for_views(1, user_id="URETRY")
    for bot, person in zip(bots, ("UAFTER1", "UAFTER2"), strict=True):
        bot.home(person)  # handled after every copy: a second publish would have come by now
    assert publishes(slack, "URETRY") == 1
    # Opening Home again is a new event (a new event_id): published again.
    bots[1].send_event(event, event_id="Ev0RETRY02")
    slack.wait_for_views(2, user_id="URETRY")


def test_a_retry_that_arrives_first_is_published(emulator, slack, run_bot, account):
    bot = run_bot()
    event = app_home_opened_event("ULOST")
    assert bot.send_event(event, event_id="Ev0LOST01", retry_num=1)[0] == 200  # the first copy never arrived
    assert group_sections(slack.wait_for_views(1, user_id="ULOST")[0])
    assert bot.send_event(event, event_id="Ev0LOST01")[0] == 200  # the original, late
    bot.home("UAFTER")
    assert publishes(slack, "ULOST") == 1

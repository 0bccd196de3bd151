"""`python bot.py digest` and `python bot.py scheduler` as an operator runs them, against the Personalize emulator
and the Slack stub (both started here, on free loopback ports). Each test checks a "Done means" line of issue 3.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select

from services.storage.schema import digest_ledger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.databases import create_schema
from tests.helpers.digest_fakes import posted_arns
from tests.helpers.digest_runs import CHANNEL, NOW, Account, bot_argv, digest_env, run_digest, shown
from tests.helpers.waiting import wait_until


@pytest.fixture
def account(emulator):
    return Account(emulator)


def test_first_run_reports_exactly_the_window_cheaply_then_repeats_nothing_then_only_the_new_one(
        emulator, slack, account, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    # The failure window's own cost: stuck jobs are looked for no further back than failures are (72 hours).
    env = digest_env(emulator, slack, sqlite_url, DIGEST_STUCK_LOOKBACK_DAYS="3")
    emulator.reset_calls()

    first = run_digest(env, tmp_path)

    assert first.returncode == 0, first.stderr
    assert sorted(shown(slack)) == sorted(account.expected)
    assert emulator.call_count("ListDataDeletionJobs") <= 3
    texts = json.dumps(slack.messages(CHANNEL))
    for reason in ("Access denied to s3://acme/gdpr/recent.csv", "The input file must be a CSV file",
                   "Invalid USER_ID \\\"&lt;!channel&gt;\\\" &amp; friends"):
        assert reason in texts
    assert "<!channel>" not in texts

    second = run_digest(env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(slack.messages(CHANNEL)) == 1, "a second run repeats nothing"

    emulator.set_job(account.pending, status="FAILED", failure_reason="A new failure")
    third = run_digest(env, tmp_path)
    assert third.returncode == 0, third.stderr
    assert shown(slack)[len(account.expected):] == [account.pending]


def test_a_refused_post_fails_loudly_and_the_next_run_reports_every_failure(emulator, slack, account, sqlite_url,
                                                                           tmp_path):
    slack.set_channel(CHANNEL, is_member=False)
    env = digest_env(emulator, slack, sqlite_url)

    refused = run_digest(env, tmp_path)

    assert refused.returncode != 0
    error_lines = [line for line in refused.stderr.splitlines() if " ERROR " in line]
    assert any(CHANNEL in line and "not_in_channel" in line and "/invite @deletion-jobs" in line
               for line in error_lines), refused.stderr
    assert slack.messages(CHANNEL) == []

    slack.set_channel(CHANNEL, is_member=True)
    later = run_digest(env, tmp_path)
    assert later.returncode == 0, later.stderr
    assert sorted(shown(slack)) == sorted(account.expected)


def test_one_429_is_absorbed(emulator, slack, account, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "1"})

    result = run_digest(digest_env(emulator, slack, sqlite_url), tmp_path)

    assert result.returncode == 0, result.stderr
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert sorted(shown(slack)) == sorted(account.expected)


def test_two_runs_started_at_once_post_each_failure_in_exactly_one_message(database_url, emulator, slack, tmp_path):
    account = Account(emulator, failures_in_window=45)
    channels = [CHANNEL, "COPS2"]
    for channel in channels:
        slack.set_channel(channel)
    # The schema exists already, so the two processes race only for the failures, not to create tables.
    create_schema(database_url)
    env = digest_env(emulator, slack, database_url, DIGEST_CHANNELS=",".join(channels))
    runs = [subprocess.Popen(bot_argv("digest"), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=180) for run in runs]

    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
    for channel in channels:
        arns = shown(slack, channel)
        assert sorted(arns) == sorted(account.expected), f"{channel}: each failure exactly once"


def test_a_run_killed_between_claiming_and_posting_loses_nothing_and_repeats_nothing(
        emulator, slack, account, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    # Slack answers the first post with 429 and Retry-After: 30, so the run sits with its claims and no post.
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "30"})
    env = digest_env(emulator, slack, sqlite_url)
    doomed = subprocess.Popen(bot_argv("digest"), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        slack.wait_for_calls("chat.postMessage", 1, timeout=60)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        claimed = connection.execute(select(func.count()).select_from(digest_ledger).where(
            digest_ledger.c.posted_at.is_(None), digest_ledger.c.claim_token.is_not(None))).scalar()
    engine.dispose()
    assert claimed == len(account.expected) and slack.messages(CHANNEL) == []

    # While the claims are live (as if that process were still working), another run leaves them alone.
    respectful = run_digest(env, tmp_path)
    assert respectful.returncode == 0, respectful.stderr
    assert slack.messages(CHANNEL) == []

    # Once they expire, the next run posts every one of them.
    time.sleep(2)  # longer than the 0.02-minute claim TTL below
    later = run_digest({**env, "DIGEST_CLAIM_TTL_MINUTES": "0.02"}, tmp_path)
    assert later.returncode == 0, later.stderr
    assert sorted(shown(slack)) == sorted(account.expected)


def test_ten_thousand_jobs_with_a_handful_in_the_window_cost_one_or_two_calls(emulator, slack, sqlite_url, tmp_path):
    group = emulator.add_dataset_group("big-account")
    emulator.seed_bulk(group, 10_000, failed_every=10, now=NOW - timedelta(hours=73))
    expected = {emulator.add_job(group, status="FAILED", created=NOW - timedelta(hours=2, minutes=i),
                                 updated=NOW - timedelta(hours=1), failure_reason=f"failure {i}") for i in range(5)}
    slack.set_channel(CHANNEL)
    emulator.reset_calls()

    # Stuck jobs looked for no further back than failures are (72 hours): the failure window's own cost.
    result = run_digest(digest_env(emulator, slack, sqlite_url, DIGEST_DATASET_GROUP="big-account",
                                   DIGEST_STUCK_LOOKBACK_DAYS="3"), tmp_path, "--channel", CHANNEL)

    assert result.returncode == 0, result.stderr
    assert emulator.call_count("ListDataDeletionJobs") <= 2
    assert sorted(shown(slack)) == sorted(expected)


def test_the_stuck_job_lookback_costs_one_call_per_hundred_jobs_created_in_it(emulator, slack, sqlite_url, tmp_path):
    group = emulator.add_dataset_group("big-account")
    emulator.seed_bulk(group, 10_000, failed_every=0, now=NOW - timedelta(hours=73))
    stuck = emulator.add_job(group, status="IN_PROGRESS", name="stuck-for-days", created=NOW - timedelta(days=6))
    slack.set_channel(CHANNEL)
    emulator.reset_calls()

    result = run_digest(digest_env(emulator, slack, sqlite_url, DIGEST_DATASET_GROUP="big-account"), tmp_path,
                        "--channel", CHANNEL)

    assert result.returncode == 0, result.stderr
    # Jobs one a minute from 73 hours back: the default 7 days reach 5,700 of them (and the stuck one).
    in_lookback = (7 * 24 - 73) * 60 + 1
    assert emulator.call_count("ListDataDeletionJobs") <= -(-in_lookback // 100) + 1
    [message] = slack.messages(CHANNEL)
    assert "Still running" in json.dumps(message) and "stuck-for-days" in json.dumps(message)
    assert stuck not in shown(slack), "a stuck job is not a failure"


def test_dry_run_prints_the_messages_and_posts_or_marks_nothing(emulator, slack, account, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    env = digest_env(emulator, slack, sqlite_url)

    dry = run_digest(env, tmp_path, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    [channel] = report["channels"]
    assert channel["channel"] == CHANNEL and channel["failures"] == len(account.expected)
    assert sorted(posted_arns(channel["messages"])) == sorted(account.expected)
    assert slack.calls("chat.postMessage") == []

    real = run_digest(env, tmp_path, "--channel", CHANNEL)
    assert real.returncode == 0, real.stderr
    assert sorted(shown(slack)) == sorted(account.expected)


def test_an_unknown_channel_is_a_usage_error(emulator, slack, sqlite_url, tmp_path):
    result = run_digest(digest_env(emulator, slack, sqlite_url), tmp_path, "--channel", "CUNKNOWN")
    assert result.returncode == 2
    assert "CUNKNOWN has no digest subscription" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_schedule_is_reported_like_any_bad_setting(emulator, slack, sqlite_url, tmp_path):
    result = run_digest(digest_env(emulator, slack, sqlite_url, DIGEST_SCHEDULE="every morning"), tmp_path)
    assert result.returncode == 2
    assert "DIGEST_SCHEDULE: 'every morning' is not a crontab" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_scheduler_catches_up_a_digest_missed_while_it_was_down_once_and_stops_on_sigterm(
        emulator, slack, account, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    # The schedule fired ten minutes ago; the channel was subscribed a day before that.
    fired = datetime.now(UTC) - timedelta(minutes=10)
    schedule = f"{fired.minute} {fired.hour} * * *"
    create_schema(sqlite_url)
    engine = create_engine(sqlite_url)
    SubscriptionStore(engine, clock=lambda: fired - timedelta(days=1)).subscribe(CHANNEL, dataset_group_arn=None)
    engine.dispose()
    env = digest_env(emulator, slack, sqlite_url, DIGEST_SCHEDULE=schedule, DIGEST_TIMEZONE="UTC")

    def start_and_stop(name: str) -> tuple[int, str]:
        log = tmp_path / f"{name}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(bot_argv("scheduler"), cwd=tmp_path, env=env, stdout=sink,
                                       stderr=subprocess.STDOUT)
            try:
                wait_until(lambda: "digest scheduler started" in log.read_text() or process.poll() is not None,
                           what="the scheduler to start")
                if "posting it now" in log.read_text():
                    # The catch-up runs on the scheduler's thread; its summary line ends it.
                    wait_until(lambda: "digest run:" in log.read_text() or process.poll() is not None,
                               what="the catch-up run")
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        return process.returncode, log.read_text()

    code, log = start_and_stop("first")
    assert code == 0, log
    assert "posting it now" in log and "SIGTERM received" in log
    assert sorted(shown(slack)) == sorted(account.expected)

    code, log = start_and_stop("second")
    assert code == 0, log
    assert "posting it now" not in log
    assert sorted(shown(slack)) == sorted(account.expected), "a second restart posts nothing again"


@pytest.mark.parametrize("run_scheduler", ["true", "false"])
def test_serve_runs_the_scheduler_in_process_only_when_run_scheduler_is_true(run_scheduler, emulator, slack,
                                                                             sqlite_url, tmp_path, free_port):
    env = digest_env(emulator, slack, sqlite_url, RUN_SCHEDULER=run_scheduler, PORT=str(free_port()))
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(bot_argv(), cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "listening for Slack" in log.read_text() or process.poll() is not None,
                       what="the bot to listen")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    text = log.read_text()
    assert process.returncode == 0, text
    assert ("digest scheduler started" in text) is (run_scheduler == "true")

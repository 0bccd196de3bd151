"""The watch poller as the clock process runs it (`python bot.py scheduler`), killed with SIGKILL between claiming a
watch's message and recording it, then restarted: nobody is told twice, nobody is lost. SQLite and PostgreSQL.

Two ways to die there: while Slack holds the answer to a DM it has already taken (the stub records the post, then
waits), and while the client waits out a 429 (Slack has nothing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.models import DeletionJob
from services.storage.schema import watches
from services.storage.store import StateStore
from services.storage.watches import WatchStore
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET
from tests.helpers.databases import DATABASE_KINDS, database_url_for

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)
USERS = ("UALICE", "UBOB")


def scheduler_env(emulator, slack, database_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "DIGEST_", "ALLOWED_", "AWS_", "DATABASE_URL", "WATCH_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({
        "AWS_ENDPOINT_URL_PERSONALIZE": emulator.url, "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        "WATCH_POLL_SECONDS": "5", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def rows(database_url: str) -> list:
    state = StateStore.from_url(database_url)
    try:
        with state.engine.connect() as connection:
            return list(connection.execute(select(watches).order_by(watches.c.id)))
    finally:
        state.engine.dispose()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def start_watches(database_url: str, job: DeletionJob) -> None:
    state = StateStore.from_url(database_url)
    state.create_schema()
    store = WatchStore(state.engine, claim_ttl=timedelta(minutes=15))
    for user in USERS:
        store.start(user, job, team_id="T1", limit=20)
    state.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["slack_holds_the_answer", "client_waits_out_a_429"])
@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_a_poller_killed_between_claim_and_record_loses_no_one_and_tells_no_one_twice(kind, how, emulator, slack,
                                                                                        tmp_path):
    group = emulator.add_dataset_group("media-feed")
    arn = emulator.add_job(group, status="IN_PROGRESS", name="gdpr-erasure-42", created=NOW - timedelta(hours=1))
    job = DeletionJob(arn=arn, name="gdpr-erasure-42", dataset_group_arn=group, status="IN_PROGRESS",
                      created=NOW - timedelta(hours=1), updated=None)
    emulator.advance_job(arn, "COMPLETED", num_deleted=1234)
    if how == "slack_holds_the_answer":
        slack.queue_response("chat.postMessage", delay=60)  # recorded (posted) at once, answered a minute later
    else:
        slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "30"})

    with database_url_for(kind, tmp_path) as url:
        start_watches(url, job)
        log = tmp_path / "doomed.log"
        with log.open("w") as sink:
            doomed = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "scheduler"], cwd=tmp_path,
                                      env=scheduler_env(emulator, slack, url), stdout=sink, stderr=subprocess.STDOUT)
            try:
                slack.wait_for_calls("chat.postMessage", 1, timeout=90)
            finally:
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(timeout=30)
        held = [row for row in rows(url) if row.claim_token is not None]
        assert len(held) == 1 and held[0].post_started_at is not None, log.read_text()
        assert len(rows(url)) == 2, "the dead poller recorded nothing as sent"
        assert len(slack.messages()) == (1 if how == "slack_holds_the_answer" else 0)

        # Restarted with a short claim TTL, the dead poller's claim lapses within seconds.
        log = tmp_path / "restarted.log"
        with log.open("w") as sink:
            restarted = subprocess.Popen(
                [sys.executable, str(ROOT / "bot.py"), "scheduler"], cwd=tmp_path, stdout=sink,
                stderr=subprocess.STDOUT, env=scheduler_env(emulator, slack, url, DIGEST_CLAIM_TTL_MINUTES="0.05"))
            try:
                wait_for(lambda: rows(url) == [] or restarted.poll() is not None, 120, "every watch to end")
            finally:
                restarted.send_signal(signal.SIGTERM)
                restarted.wait(timeout=60)
        assert rows(url) == [], log.read_text()

    for user in USERS:
        told = slack.messages(user)
        assert len(told) == 1, (user, told)
        assert "*1,234* records deleted" in str(told[0]["blocks"])
    assert len(slack.calls("conversations.history")) == 1, "the post in doubt was looked for once"
    text = log.read_text()
    assert "Traceback" not in text
    if how == "slack_holds_the_answer":
        assert "not sending it again" in text

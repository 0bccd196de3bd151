"""`python bot.py digest` (and `scheduler`) as subprocesses, as an operator runs them: their environment, an
account of deletion jobs with known failures, and what a run left in Slack and in the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select

from services.storage.schema import digest_ledger
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET
from tests.helpers.digest_fakes import posted_arns

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "CPRIVACY1"
NOW = datetime.now(UTC)


def digest_env(emulator, slack, database_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "DIGEST_", "ALLOWED_", "AWS_", "DATABASE_URL"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({
        "AWS_ENDPOINT_URL_PERSONALIZE": emulator.url, "SLACK_API_URL": slack.api_url,
        "DIGEST_CHANNELS": CHANNEL, "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        "RUN_SCHEDULER": "false", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def bot_argv(*args: str) -> list[str]:
    """`python bot.py ARGS` with this interpreter."""
    return [sys.executable, str(ROOT / "bot.py"), *args]


def run_digest(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(bot_argv("digest", *args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def shown(slack, channel: str = CHANNEL) -> list[str]:
    """Job ARNs in the digest messages Slack accepted for the channel, in order, repeats included."""
    return posted_arns(slack.messages(channel))


class Account:
    """An account of 300+ deletion jobs, and which failures the first digest must (and must not) report."""

    def __init__(self, emulator, *, failures_in_window: int = 0):
        self.emulator = emulator
        media = emulator.add_dataset_group("media-feed")
        retail = emulator.add_dataset_group("retail-recs")
        # History: 200 jobs created 4-5 days ago (every 10th failed, long before the window).
        emulator.seed_bulk(media, 200, failed_every=10, now=NOW - timedelta(hours=96))
        # 150 completed jobs spread over the last 70 hours: inside the 72-hour read horizon.
        for i in range(150):
            created = NOW - timedelta(hours=70) + timedelta(minutes=28 * i)
            emulator.add_job(retail if i % 2 else media, status="COMPLETED", created=created,
                             updated=created + timedelta(minutes=20))
        add = emulator.add_job
        self.expected = {
            add(media, status="FAILED", name="recent-failure", created=NOW - timedelta(hours=5),
                updated=NOW - timedelta(hours=4), failure_reason="Access denied to s3://acme/gdpr/recent.csv"),
            # Created 36 hours ago, failed an hour ago: still reported.
            add(media, status="FAILED", name="late-failure-of-old-job", created=NOW - timedelta(hours=36),
                updated=NOW - timedelta(hours=1), failure_reason="The input file must be a CSV file"),
            add(retail, status="FAILED", name="escaped-failure", created=NOW - timedelta(hours=10),
                updated=NOW - timedelta(hours=9), failure_reason='Invalid USER_ID "<!channel>" & friends'),
        }
        for i in range(failures_in_window):
            self.expected.add(add(retail, status="FAILED", name=f"bulk-failure-{i}",
                                  created=NOW - timedelta(hours=3, minutes=i), updated=NOW - timedelta(hours=2),
                                  failure_reason=f"bulk reason {i}"))
        self.excluded = {
            add(media, status="FAILED", name="older-failure", created=NOW - timedelta(hours=31),
                updated=NOW - timedelta(hours=30), failure_reason="too old for this digest"),
            add(media, status="COMPLETED", name="successful-in-window", created=NOW - timedelta(hours=3),
                updated=NOW - timedelta(hours=2)),
        }
        self.pending = add(retail, status="PENDING", name="still-pending", created=NOW - timedelta(hours=2))
        assert len(emulator.jobs()) >= 300


def ledger_rows(database_url: str, channel: str = CHANNEL) -> tuple[set[str], set[str]]:
    """(failures marked posted, failures claimed or released but not posted) for the channel."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(digest_ledger.c.job_arn, digest_ledger.c.posted_at)
                                      .where(digest_ledger.c.channel_id == channel)).all()
    finally:
        engine.dispose()
    return {r.job_arn for r in rows if r.posted_at is not None}, {r.job_arn for r in rows if r.posted_at is None}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def assert_failed_loudly(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert any(all(n in line for n in needles) for line in error_lines(result.stderr)), result.stderr


def assert_next_run_posts_everything_once(env: dict, tmp_path, slack, jobs: Account) -> None:
    later = run_digest(env, tmp_path)
    assert later.returncode == 0, later.stderr
    assert sorted(shown(slack)) == sorted(jobs.expected), "every failure, each exactly once"

"""`/deletion-jobs export` and `python bot.py export` end to end: the real app over HTTP, the Personalize emulator,
the Slack stub (conversations.open, files.getUploadURLExternal, the upload URL, files.completeUploadExternal)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.export.csv_export import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = "since 2026-10-01 until 2026-11-01"
HYPERLINK = '=HYPERLINK("http://x","y")'
COL = {name: index for index, name in enumerate(COLUMNS)}


class Account:
    """Two dataset groups; October's jobs of every status, with jobs just outside the window on both sides."""

    def __init__(self, emulator):
        self.media = emulator.add_dataset_group("media-feed")
        self.retail = emulator.add_dataset_group("retail-recs")
        self.num_deleted: dict[str, int] = {}
        add = emulator.add_job
        add(self.media, status="COMPLETED", created=SINCE - timedelta(seconds=1), num_deleted=1)  # before since
        add(self.media, status="COMPLETED", created=UNTIL, num_deleted=1)  # until is exclusive
        for i in range(24):
            created = SINCE + timedelta(days=i, hours=3)
            status = ("COMPLETED", "COMPLETED", "FAILED", "IN_PROGRESS", "PENDING", "COMPLETED")[i % 6]
            reason = f"Input file has {i} rows, \"bad\"\nmissing USER_ID" if status == "FAILED" else None
            arn = add(self.media, status=status, created=created, updated=created + timedelta(hours=2),
                      # AWS may count records for a job that did not complete: the file shows them only for COMPLETED.
                      num_deleted=10 * i + 7 if status == "COMPLETED" else i, failure_reason=reason)
            if status == "COMPLETED":
                self.num_deleted[arn] = 10 * i + 7
        self.hyperlink = add(self.media, status="FAILED", created=SINCE, failure_reason=HYPERLINK)  # at since
        for i in range(5):
            add(self.retail, status="FAILED", created=SINCE + timedelta(days=i, hours=5), failure_reason="denied")

    @staticmethod
    def expected(emulator, group=None, status=None) -> list[str]:
        return [job["dataDeletionJobArn"] for job in emulator.jobs(group, status)
                if SINCE <= job["creationDateTime"] < UNTIL]


def rows_of(data: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == list(COLUMNS)
    return rows[1:]


def final_answer(slack, ack, timeout: float = 120) -> dict:
    """The last post to the command's response_url, once the export has answered for good."""
    deadline = time.monotonic() + timeout
    while True:
        posts = slack.responses(ack.response_key)
        if posts and not posts[-1]["text"].startswith(":hourglass_flowing_sand:"):
            return posts[-1]
        assert time.monotonic() < deadline, f"no final answer in {timeout}s: {posts}"
        time.sleep(0.05)


def cli_env(emulator, slack, database: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "DIGEST_", "ALLOWED_", "AWS_", "DATABASE_URL", "EXPORT_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    # No SLACK_* at all: the command line is for people without Slack.
    env.update({
        "AWS_ENDPOINT_URL_PERSONALIZE": emulator.url, "DATABASE_URL": f"sqlite:///{database}",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        "RUN_SCHEDULER": "false", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def run_cli(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), "export", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def tracebacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


# ---- the file, the DM, the hash, the command line --------------------------------------------------------


def test_export_uploads_the_csv_to_the_requesters_dm_and_the_command_line_writes_the_same_bytes(
        emulator, slack, run_bot, tmp_path, caplog):
    account = Account(emulator)
    caplog.set_level(logging.INFO, logger="deletion_jobs.audit")
    bot = run_bot()
    ack = bot.command(f"export media-feed {WINDOW}", user_id="U123", channel_id="C123")
    answer = final_answer(slack, ack)
    [upload] = slack.wait_for_uploads(1)

    # The DM of the person who asked, opened for them; nothing went to the channel the command came from.
    assert [c.params for c in slack.calls("conversations.open")] == [{"users": "U123"}]
    assert upload.channel_id == "DU123" and slack.uploads("C123") == []
    assert upload.filename.endswith(".csv") and upload.filename.startswith("deletion-jobs-")

    rows = rows_of(upload.data)
    expected = Account.expected(emulator, account.media)
    assert [row[COL["job_arn"]] for row in rows] == expected and len(expected) == 25
    for row in rows:
        deleted = account.num_deleted.get(row[COL["job_arn"]])
        assert row[COL["num_deleted"]] == (str(deleted) if row[COL["status"]] == "COMPLETED" else "")
        assert row[COL["dataset_group_name"]] == "media-feed" and row[COL["dataset_group_arn"]] == account.media
        assert row[COL["created_utc"]].endswith("Z") and row[COL["data_location"]].startswith("s3://")
    by_arn = {row[COL["job_arn"]]: row for row in rows}
    assert by_arn[account.hyperlink][COL["failure_reason"]] == "'" + HYPERLINK
    assert by_arn[account.hyperlink][COL["created_utc"]] == "2026-10-01T00:00:00Z"
    assert emulator.call_count("DescribeDataDeletionJob") == 25

    # Tamper evidence: the hash in the DM's message and in the answer is the hash of the bytes uploaded.
    digest = hashlib.sha256(upload.data).hexdigest()
    assert f"*SHA-256:* `{digest}`" in upload.initial_comment
    assert "<@U123>" in upload.initial_comment and "COMPLETED 12" in upload.initial_comment
    assert "media-feed" in upload.initial_comment and "2026-10-01 to 2026-11-01" in upload.initial_comment
    assert digest in answer["blocks"][-1]["text"]["text"] and answer["replace_original"] is True
    [audit] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "deletion_jobs.audit"]
    assert (audit["user"], audit["sha256"], audit["results"], audit["outcome"]) == ("U123", digest, 25, "ok")
    assert audit["describe_calls"] == 25 and audit["aws_calls"] == 25 + audit["list_calls"] + 1  # + ListDatasetGroups
    assert audit["dm_channel"] == "DU123" and audit["file_id"] == upload.file_id

    out = tmp_path / "export.csv"
    result = run_cli(cli_env(emulator, slack, tmp_path / "cli.sqlite3"), tmp_path, "--dataset-group", "media-feed",
                     "--since", "2026-10-01", "--until", "2026-11-01", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == upload.data
    assert f"SHA-256: {digest}" in result.stdout and "25 jobs" in result.stdout
    assert f'"sha256": "{digest}"' in result.stderr  # the audit line


def test_a_long_export_reports_progress_within_the_response_urls_five_posts(emulator, slack, run_bot):
    group = emulator.add_dataset_group("media-feed")
    emulator.seed_bulk(group, 450, now=UNTIL - timedelta(minutes=1))
    bot = run_bot()
    ack = bot.command(f"export {WINDOW}")
    final_answer(slack, ack)
    texts = [post["text"] for post in slack.responses(ack.response_key)]
    assert texts[0].startswith(":hourglass_flowing_sand: Preparing your export of deletion jobs")
    assert [t.split(":")[-1].split(" of ")[-1] for t in texts[1:3]] == ["450 jobs.", "450 jobs."]
    assert "read details of" in texts[1] and "read details of" in texts[2]
    assert texts[3].startswith(":white_check_mark:") and len(texts) == 4
    assert len(rows_of(slack.wait_for_uploads(1)[0].data)) == 450


# ---- bounds and failures ---------------------------------------------------------------------------------


def test_an_export_over_the_limit_is_refused_with_the_count_before_any_describe_call(emulator, slack, run_bot):
    Account(emulator)
    bot = run_bot(export_max_jobs=20)
    answer = final_answer(slack, bot.command(f"export {WINDOW}"))
    assert "would hold 30 deletion jobs" in answer["text"] and "at most 20" in answer["text"]
    assert "since 2026-11-01 until 2026-11-15" in answer["text"]  # how to narrow it
    assert emulator.call_count("DescribeDataDeletionJob") == 0 and slack.uploads() == []


def test_a_throttled_describe_call_fails_the_export_and_no_file_is_made(emulator, slack, run_bot, caplog, tmp_path):
    Account(emulator)
    emulator.inject_error("DescribeDataDeletionJob", "ThrottlingException", message="Rate exceeded", times=10_000)
    bot = run_bot()
    answer = final_answer(slack, bot.command(f"export media-feed {WINDOW}"))
    assert "throttling" in answer["text"] and "no file was made" in answer["text"]
    assert slack.uploads() == [] and slack.calls("files.getUploadURLExternal") == []
    # Retried by the client (standard mode, 4 attempts), and no call started once one had failed for good.
    assert emulator.call_count("DescribeDataDeletionJob") <= 4 * 4
    assert tracebacks(caplog) == []

    out = tmp_path / "export.csv"
    result = run_cli(cli_env(emulator, slack, tmp_path / "cli.sqlite3"), tmp_path, "--since", "2026-10-01",
                     "--out", str(out))
    assert result.returncode == 1 and "throttling" in result.stderr and "no file was made" in result.stderr
    assert not out.exists() and list(tmp_path.glob("*.part")) == []
    assert "Traceback" not in result.stderr


def test_a_second_export_by_the_same_person_is_told_to_wait(emulator, slack, run_bot):
    Account(emulator)
    bot = run_bot()
    emulator.hold()
    try:
        first = bot.command(f"export {WINDOW}", user_id="U1")
        slack.wait_for_responses(1, key=first.response_key, timeout=60)  # "preparing": the slot is taken
        second = final_answer(slack, bot.command(f"export failed {WINDOW}", user_id="U1"))
        other = bot.command(f"export {WINDOW}", user_id="U2")  # someone else may export meanwhile
        slack.wait_for_responses(1, key=other.response_key, timeout=60)
    finally:
        emulator.release()
    assert "Your previous export is still being prepared" in second["text"]
    assert final_answer(slack, first)["text"].startswith(":white_check_mark:")
    assert final_answer(slack, other)["text"].startswith(":white_check_mark:")
    again = final_answer(slack, bot.command(f"export failed {WINDOW}", user_id="U1"))
    assert again["text"].startswith(":white_check_mark:")
    assert sorted(u.channel_id for u in slack.uploads()) == ["DU1", "DU1", "DU2"]


# ---- access control --------------------------------------------------------------------------------------


def test_a_user_outside_the_allowlist_gets_no_export_and_costs_no_call(emulator, slack, run_bot):
    Account(emulator)
    emulator.reset_calls()
    bot = run_bot(allowed_user_ids="U999")
    answer = bot.ask(f"export {WINDOW}", user_id="U123")
    assert "not allowed" in answer["text"]
    assert emulator.call_count() == 0 and slack.calls("conversations.open") == [] and slack.uploads() == []


def test_only_allowed_dataset_groups_appear_in_the_file(emulator, slack, run_bot):
    account = Account(emulator)
    bot = run_bot(allowed_dataset_groups="retail-recs")
    final_answer(slack, bot.command(f"export {WINDOW}"))
    [upload] = slack.wait_for_uploads(1)
    assert [row[COL["job_arn"]] for row in rows_of(upload.data)] == Account.expected(emulator, account.retail)
    assert "every dataset group that ALLOWED_DATASET_GROUPS lets this bot show" in upload.initial_comment
    refused = final_answer(slack, bot.command(f"export media-feed {WINDOW}"))
    assert "not allowed to see the dataset group media-feed" in refused["text"]
    assert len(slack.uploads()) == 1


# ---- Slack refusing the file -----------------------------------------------------------------------------


def test_slack_refusing_the_dm_is_a_clear_answer_that_names_the_scopes(emulator, slack, run_bot, caplog):
    Account(emulator)
    slack.queue_response("conversations.open", body={"ok": False, "error": "missing_scope", "needed": "im:write"})
    bot = run_bot()
    with caplog.at_level(logging.INFO):
        answer = final_answer(slack, bot.command(f"export {WINDOW}"))
    assert "missing_scope" in answer["text"] and "`files:write` and `im:write`" in answer["text"]
    assert slack.uploads() == [] and tracebacks(caplog) == []


def test_the_upload_url_refusing_the_bytes_is_answered(emulator, slack, run_bot, caplog):
    Account(emulator)
    slack.queue_upload_reply(500, "upstream")
    bot = run_bot()
    answer = final_answer(slack, bot.command(f"export {WINDOW}"))
    assert "could not upload the file" in answer["text"]
    assert slack.uploads() == [] and tracebacks(caplog) == []


# ---- the command line's arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (("--since", "2026-13-01"), "needs a date as YYYY-MM-DD"),
    (("--since", "2026-11-02", "--until", "2026-11-01"), "must be before"),
    (("--status", "DONE"), "not a status"),
    (("--dataset-group", "no such group!"), "not a status or a dataset group name"),
    (("--dataset-group", "unknown-group"), "can't find a dataset group named unknown-group"),
])
def test_the_command_line_refuses_bad_arguments_with_exit_code_2_and_writes_nothing(emulator, slack, tmp_path,
                                                                                     args, says):
    Account(emulator)
    out = tmp_path / "export.csv"
    result = run_cli(cli_env(emulator, slack, tmp_path / "cli.sqlite3"), tmp_path, *args, "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()

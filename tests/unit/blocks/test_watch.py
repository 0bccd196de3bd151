"""Watch Block Kit: Watch buttons in lists and Details, the direct messages, the watching list; escaped and
within Slack's limits (tests/blockkit.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from blocks.details import render_job_details
from blocks.errors import render_error, render_help
from blocks.job_list import ACTION_WATCH, render_job_page
from blocks.watch import (
    ACTION_UNWATCH,
    ACTION_WATCH_DETAILS,
    duration_text,
    render_already_finished,
    render_watch_notice,
    render_watch_started,
    render_watching,
    unwatched_note,
)
from services import errors
from services.listing.cursor import Cursor, ListQuery
from services.listing.paging import Page
from services.models import DeletionJob, DeletionJobDetails, Watch
from tests.helpers.blockkit import assert_valid_message

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
HOSTILE = "Access denied <!channel> see <http://x|y> & <@U123> `x`"


def job(i: int, status: str) -> DeletionJob:
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}", name=f"job-{i}",
                       dataset_group_arn=GROUP, status=status, created=NOW, updated=NOW)


def watch(outcome: str | None = None, **kwargs) -> Watch:
    values = dict(id=1, user_id="U1", job_arn=job(1, "PENDING").arn, job_name="job-1", dataset_group_arn=GROUP,
                  started_at=NOW, last_status="IN_PROGRESS", job_created_at=NOW - timedelta(hours=3),
                  last_checked_at=NOW + timedelta(hours=1), outcome=outcome)
    values.update(kwargs)
    return Watch(**values)


def buttons(message: dict) -> list[dict]:
    found = []
    for block in message["blocks"]:
        found += [e for e in block.get("elements", []) if block["type"] == "actions"]
        if block.get("accessory"):
            found.append(block["accessory"])
    return found


def test_running_jobs_in_a_list_get_a_watch_button_under_them():
    jobs = [job(0, "FAILED"), job(1, "PENDING"), job(2, "COMPLETED"), job(3, "IN_PROGRESS")]
    page = Page(Cursor(ListQuery()), jobs, None, scanned=4, api_calls=1)
    message = render_job_page(page, next_value=None, details_values=["d"] * 4)
    assert_valid_message(message)
    watches = [b for b in buttons(message) if b["action_id"] == ACTION_WATCH]
    assert [b["value"] for b in watches] == [job(1, "PENDING").arn, job(3, "IN_PROGRESS").arn]
    # Each right under its own job's ARN line.
    index = next(i for i, b in enumerate(message["blocks"]) if b["type"] == "actions")
    assert message["blocks"][index - 1]["elements"][0]["text"].endswith("/job-1")


def test_a_full_page_of_running_jobs_gathers_its_watch_buttons_and_stays_within_fifty_blocks():
    jobs = [job(i, "PENDING") for i in range(20)]
    page = Page(Cursor(ListQuery()), jobs, Cursor(ListQuery()), scanned=20, api_calls=1)
    message = render_job_page(page, next_value="v" * 2000, details_values=["d" * 2000] * 20)
    assert_valid_message(message)
    assert len(message["blocks"]) <= 50
    labels = [b["text"]["text"] for b in buttons(message) if b["action_id"] == ACTION_WATCH]
    assert labels == [f"Watch job-{i}" for i in range(20)]


def test_details_offers_watch_while_the_job_runs_and_no_back_button_from_a_dm():
    running = render_job_details(DeletionJobDetails(job(1, "IN_PROGRESS"), None, "s3://b/k", None), back_value="c")
    assert [b["text"]["text"] for b in buttons(running)] == ["Back to list", "Watch"]
    from_dm = render_job_details(DeletionJobDetails(job(1, "COMPLETED"), 5, "s3://b/k", None), back_value=None)
    assert buttons(from_dm) == []
    for message in (running, from_dm):
        assert_valid_message(message)


def test_completed_message_has_the_count_the_group_how_long_and_details():
    message = render_watch_notice(watch("COMPLETED", num_deleted=12345, finished_at=NOW))
    assert_valid_message(message)
    text = json.dumps(message)
    assert "*12,345* records deleted" in text and "*media-feed*" in text and "It took 3 h (created" in text
    assert "data-deletion-job/job-1" in text
    [details] = buttons(message)
    assert (details["action_id"], details["value"]) == (ACTION_WATCH_DETAILS, job(1, "PENDING").arn)
    assert message["text"] == "Deletion job job-1 completed: 12,345 records deleted"


def test_failed_message_escapes_the_reason_and_says_what_next():
    message = render_watch_notice(watch("FAILED", failure_reason=HOSTILE, data_location="s3://acme/<b>&c.csv",
                                        finished_at=NOW))
    assert_valid_message(message)
    text = json.dumps(message)
    assert "<!channel>" not in text and "<http://x|y>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;http://x|y&gt;" in text and "&amp;" in text
    assert "same data location `s3://acme/&lt;b&gt;&amp;c.csv`" in text and "submitted again" in text


def test_expired_and_vanished_messages():
    expired = render_watch_notice(watch("EXPIRED"))
    assert "still *in progress*" in json.dumps(expired) and "running since" in json.dumps(expired)
    assert "/deletion-jobs watch job-1" in json.dumps(expired)
    vanished = render_watch_notice(watch("VANISHED"))
    assert "no longer knows" in vanished["blocks"][0]["text"]["text"]
    for message in (expired, vanished):
        assert_valid_message(message)


def test_answers_to_watch_unwatch_and_watching():
    started = render_watch_started(job(1, "PENDING"), already=False)
    already = render_watch_started(job(1, "PENDING"), already=True)
    assert "Watching deletion job *job-1*" in started["blocks"][0]["text"]["text"]
    assert already["blocks"][0]["text"]["text"].startswith("You are already watching")
    finished = render_already_finished(DeletionJobDetails(job(2, "COMPLETED"), 7, None, None))
    assert "already ended" in json.dumps(finished) and "*7* records" in json.dumps(finished)
    listed = render_watching([watch(), watch(id=2, job_arn=job(2, "x").arn, job_name="job-2")], limit=20,
                             note=unwatched_note(watch(job_name="job-9")))
    assert [b["value"] for b in buttons(listed) if b["action_id"] == ACTION_UNWATCH] == [job(1, "x").arn,
                                                                                        job(2, "x").arn]
    assert "Stopped watching deletion job *job-9*" in json.dumps(listed)
    empty = render_watching([], limit=20)
    assert "not watching any" in empty["blocks"][0]["text"]["text"]
    for message in (started, already, finished, listed, empty):
        assert_valid_message(message)


@pytest.mark.parametrize(("delta", "text"), [
    (None, "an unknown time"), (timedelta(seconds=30), "under a minute"), (timedelta(minutes=7), "7 min"),
    (timedelta(hours=3, minutes=12), "3 h 12 min"), (timedelta(hours=3), "3 h"),
    (timedelta(days=2, hours=3, minutes=59), "2 d 3 h"), (timedelta(hours=24), "1 d"),
])
def test_durations(delta, text):
    assert duration_text(delta) == text


def test_every_watch_error_is_said_in_words():
    cases = [errors.MalformedJobArn("arn:x"), errors.ForeignJobArn("arn:a/b", "region", "eu-west-1", "us-east-1"),
             errors.JobAccountUnknown("j"), errors.WatchedJobNotFound("gdpr-<!here>"), errors.WatchLimitReached(20),
             errors.NotWatching("j")]
    for err in cases:
        message = render_error(err)
        assert_valid_message(message)
        assert "Something went wrong" not in message["text"], err
    assert "`gdpr-&lt;!here&gt;`" in render_error(errors.WatchedJobNotFound("gdpr-<!here>"))["text"]
    assert "20 deletion jobs" in render_error(errors.WatchLimitReached(20))["text"]


def test_help_names_the_watch_keywords():
    text = render_help()["text"]
    assert "watch &lt;job name or ARN&gt;" in text or "watch <job name or ARN>" in text
    assert "`watching`" in text and "by its ARN" in text

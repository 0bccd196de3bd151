"""The list's footer says when its data was read, once that is more than a few seconds before the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blocks.job_list import SHOW_READ_TIME_AFTER, render_job_page
from services.models import Cursor, DeletionJob, ListQuery, Page
from tests.helpers.blockkit import assert_within_limits

BUILT = datetime(2026, 11, 30, 13, 45, 10, tzinfo=UTC)
JOB = DeletionJob(arn="arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j", name="j",
                  dataset_group_arn="arn:aws:personalize:us-east-1:123456789012:dataset-group/g", status="FAILED",
                  created=BUILT, updated=BUILT, failure_reason="x")


def footer_of(read_at: datetime | None, *, built_at: datetime | None = BUILT, jobs=(JOB,)) -> str:
    page = Page(Cursor(ListQuery(status="FAILED")), list(jobs), None, scanned=1, api_calls=1, read_at=read_at,
                built_at=built_at)
    message = render_job_page(page, next_value=None)
    assert_within_limits(message)
    return message["blocks"][-1]["elements"][0]["text"]


def test_a_page_read_a_while_ago_says_when_with_a_date_token():
    read_at = BUILT - timedelta(seconds=12)
    token = f"<!date^{int(read_at.timestamp())}^{{time_secs}}|2026-11-30 13:44 UTC>"
    assert footer_of(read_at) == f"Page 1 · jobs 1–1 · end of list · as of {token}"


@pytest.mark.parametrize("age", [timedelta(0), timedelta(seconds=2), SHOW_READ_TIME_AFTER])
def test_a_fresh_page_shows_no_read_time(age):
    assert footer_of(BUILT - age) == "Page 1 · jobs 1–1 · end of list"


def test_an_empty_page_from_old_data_says_when_too():
    assert "as of <!date^" in footer_of(BUILT - timedelta(seconds=6), jobs=())


@pytest.mark.parametrize("read_at, built_at", [(None, BUILT), (BUILT - timedelta(minutes=1), None)])
def test_no_read_time_when_either_moment_is_unknown(read_at, built_at):
    assert "as of" not in footer_of(read_at, built_at=built_at)

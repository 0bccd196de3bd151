"""Next page while new deletion jobs are being created: each click resumes after the last job shown, so a job
created between two clicks (which shifts every older job down AWS's pages) repeats none and skips none."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.bots import find_button, job_arns

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# 260 jobs at 10 a page is 26 clicks; a walk that re-shows jobs could otherwise go on as long as jobs arrive.
MAX_CLICKS = 60


@pytest.mark.parametrize(("text", "status"), [("", None), ("failed", "FAILED")])
@pytest.mark.parametrize("burst", [1, 37], ids=["one-new-job", "bursts-of-new-jobs"])
def test_jobs_created_between_clicks_are_neither_repeated_nor_skipped(emulator, run_bot, text, status, burst):
    group = emulator.add_dataset_group("media-feed")
    emulator.seed_bulk(group, 260, failed_every=3, now=NOW)
    want = [job["dataDeletionJobArn"] for job in emulator.jobs(None, status)]
    newer = (NOW + timedelta(seconds=n) for n in itertools.count(1))
    bot = run_bot(page_size=10)

    shown, message, clicks = [], bot.ask(text), 0
    while True:
        shown += job_arns(message)
        # Created now, so newest of all: every job not shown yet moves down AWS's pages.
        for _ in range(burst):
            emulator.add_job(group, status="FAILED", created=next(newer))
        button = find_button(message, "Next page") or find_button(message, "Continue")
        if button is None or clicks == MAX_CLICKS:
            break
        message = bot.answer(bot.click(button["action_id"], button["value"]))
        clicks += 1

    assert len(shown) == len(set(shown)), "no job shown twice"
    assert shown == want, "every job that existed when the walk began, in order, none skipped"
    assert clicks >= 8

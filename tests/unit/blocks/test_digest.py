"""The digest's Block Kit: grouping, splitting within Slack's limits, escaping, dates and the fallback text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.digest import MAX_BLOCKS, REASON_LIMIT, pack_digest, render_digest, render_no_failures
from services.digest.window import window_for
from services.models import DeletionJob
from tests.helpers.blockkit import assert_within_limits, visible_texts
from tests.helpers.digest_fakes import posted_arns

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WINDOW = window_for(NOW - timedelta(hours=24), now=NOW, lookback=timedelta(hours=24))
GROUPS = [f"arn:aws:personalize:us-east-1:123456789012:dataset-group/{name}"
          for name in ("media-feed", "retail-recs", "news")]
# Slack tokens we write ourselves; anything else starting with `<` would be AWS text that escaped escaping.
OUR_TOKENS = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*>")


def job(i: int, *, group: str = GROUPS[0], reason: str = "Input file contains 1 rows with a missing USER_ID column",
        name: str | None = None) -> DeletionJob:
    when = NOW - timedelta(hours=1, minutes=i)
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}",
                       name=name or f"job-{i}", dataset_group_arn=group, status="FAILED",
                       created=when - timedelta(hours=3), updated=when, failure_reason=reason)


def job_section(message: dict) -> str:
    return next(b["text"]["text"] for b in message["blocks"]
                if b["type"] == "section" and b["text"]["text"].startswith(":x:"))


def messages_of(jobs):
    return [message for message, _ in render_digest(jobs, window=WINDOW)]


def test_a_small_digest_is_one_message_grouped_by_dataset_group():
    jobs = [job(0, group=GROUPS[1]), job(1, group=GROUPS[0]), job(2, group=GROUPS[1])]
    [message] = messages_of(jobs)
    assert_within_limits(message)
    assert message["blocks"][0]["text"]["text"].endswith("3 failed deletion jobs")
    headings = [b["text"]["text"] for b in message["blocks"]
                if b["type"] == "section" and not b["text"]["text"].startswith(":x:")]
    assert headings == ["*media-feed* · 1 failed", "*retail-recs* · 2 failed"]
    assert message["text"].startswith("3 failed deletion jobs since 2026-11-01 09:00 UTC")


def test_each_job_shows_name_failure_time_reason_and_arn():
    [message] = messages_of([job(7, reason="Access denied to s3://bucket/file.csv")])
    section = job_section(message)
    failed_at = int((NOW - timedelta(hours=1, minutes=7)).timestamp())
    assert "*job-7*" in section
    assert f"<!date^{failed_at}^" in section
    assert "> Access denied to s3://bucket/file.csv" in section
    assert posted_arns([message]) == [job(7).arn]


def test_the_window_header_gives_the_count_and_both_ends():
    [message] = messages_of([job(0)])
    window_line = message["blocks"][1]["elements"][0]["text"]
    assert f"<!date^{int(WINDOW.since.timestamp())}^" in window_line
    assert f"<!date^{int(NOW.timestamp())}^" in window_line
    assert "all dataset groups" in window_line


def test_aws_text_is_escaped_and_truncated():
    reason = 'Invalid USER_ID "<!channel>" & <https://evil.example|Reset your password> ' + "x" * 5000
    [message] = messages_of([job(0, reason=reason, name="job-with-&-and-<b>")])
    assert_within_limits(message)
    for text in visible_texts(message):
        assert "<" not in OUR_TOKENS.sub("", text), text
    section = job_section(message)
    assert "&lt;!channel&gt;" in section and "&amp;" in section
    quoted = section.split("\n> ", 1)[1]
    assert len(quoted) <= REASON_LIMIT


def test_a_large_digest_is_split_into_messages_within_limits_each_job_once():
    jobs = [job(i, group=GROUPS[i % 3]) for i in range(130)]
    rendered = render_digest(jobs, window=WINDOW)
    messages = [m for m, _ in rendered]
    assert len(messages) >= 6
    for index, message in enumerate(messages, start=1):
        assert_within_limits(message)
        assert f"part {index} of {len(messages)}" in message["blocks"][0]["text"]["text"]
        assert "130 failed deletion jobs" in message["blocks"][0]["text"]["text"]
        assert message["text"].endswith(f"(part {index} of {len(messages)})")
    shown = posted_arns(messages)
    assert sorted(shown) == sorted(j.arn for j in jobs) and len(shown) == len(set(shown))
    # The jobs handed back with each message are the ones it shows: what the service marks as posted.
    for message, part in rendered:
        assert posted_arns([message]) == [j.arn for j in part]


def test_a_group_split_across_messages_is_marked_continued():
    messages = messages_of([job(i) for i in range(40)])
    assert len(messages) == 2
    assert messages[1]["blocks"][2]["text"]["text"] == "*media-feed* · 40 failed (continued)"


def test_long_reasons_split_by_size_not_only_by_block_count():
    long = "&" * 2000  # every & becomes &amp;: escaping grows the text before it is cut
    parts = pack_digest([job(i, reason=long) for i in range(23)])
    assert len(parts) > 1
    assert all(len(part) < 23 for part in parts)


def test_no_failures_is_one_line():
    message = render_no_failures(window=WINDOW, dataset_group_arn=GROUPS[0])
    assert_within_limits(message)
    assert message["text"] == "No failed deletion jobs since 2026-11-01 09:00 UTC"
    # The same words as the subscribe and list answers (blocks.jobs.scope_text).
    assert "dataset group `media-feed`" in message["blocks"][0]["text"]["text"]


names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=80)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=120),
    reasons=st.lists(st.text(min_size=0, max_size=3000), min_size=1, max_size=5),
    name=names,
    groups=st.integers(min_value=1, max_value=3),
)
def test_any_digest_fits_slack_and_shows_every_job_once(count, reasons, name, groups):
    jobs = [job(i, group=GROUPS[i % groups], reason=reasons[i % len(reasons)], name=f"{name}{i}")
            for i in range(count)]
    rendered = render_digest(jobs, window=WINDOW)
    for message, _ in rendered:
        assert_within_limits(message)
        assert len(message["blocks"]) <= MAX_BLOCKS
        for text in visible_texts(message):
            assert "<" not in OUR_TOKENS.sub("", text)
    shown = posted_arns([m for m, _ in rendered])
    assert sorted(shown) == sorted(j.arn for j in jobs)

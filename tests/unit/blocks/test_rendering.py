"""Block Kit builders: pure functions, tested without mocks against Slack's limits."""

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.details import render_job_details
from blocks.errors import render_error, render_help
from blocks.job_list import list_title, render_job_page
from blocks.mrkdwn import date_token, escape, escape_truncated, section_message, truncate_mrkdwn
from services.errors import (
    AccessRefused,
    AwsAccessDenied,
    BotNotInChannel,
    DatasetGroupNotFound,
    ListExpired,
    MalformedArn,
)
from services.models import STATUSES, Cursor, DeletionJob, DeletionJobDetails, ListQuery, Page
from tests.helpers.blockkit import assert_valid_message, assert_whole_mrkdwn, assert_within_limits, visible_texts

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def make_job(i=0, status="FAILED", reason="S3 object not found", name=None):
    return DeletionJob(
        arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}",
        name=name or f"job-{i}",
        dataset_group_arn=GROUP,
        status=status,
        created=NOW,
        updated=NOW,
        failure_reason=reason if status == "FAILED" else None,
    )


def make_page(jobs, *, page=1, shown=0, next_cursor=None, status="FAILED", partial=False):
    cursor = Cursor(ListQuery(GROUP, status), page=page, shown=shown)
    return Page(cursor, jobs, next_cursor, scanned=len(jobs), api_calls=1, partial=partial)


def test_header_footer_and_next_button():
    jobs = [make_job(i) for i in range(10)]
    message = render_job_page(make_page(jobs, page=2, shown=10, next_cursor=Cursor(ListQuery())),
                              next_value="c.next.mac", details_values=["d"] * 10)
    assert message["blocks"][0] == {"type": "header", "text": {"type": "plain_text",
                                    "text": "Failed deletion jobs · media-feed", "emoji": True}}
    footer = message["blocks"][-2]["elements"][0]["text"]
    assert footer == "Page 2 · jobs 11–20"
    actions = message["blocks"][-1]
    assert actions["elements"][0]["text"]["text"] == "Next page"
    assert actions["elements"][0]["value"] == "c.next.mac"
    assert message["text"].startswith("Failed deletion jobs · media-feed")
    assert_within_limits(message)


def test_job_section_has_status_name_group_dates_reason_and_arn():
    message = render_job_page(make_page([make_job(7)]), next_value=None)
    section, context = message["blocks"][1], message["blocks"][2]
    text = section["text"]["text"]
    assert ":x: *Failed*" in text and "*job-7*" in text and "media-feed" in text
    assert f"<!date^{int(NOW.timestamp())}^" in text
    assert "S3 object not found" in text
    assert context["elements"][0]["text"].endswith("data-deletion-job/job-7")


def test_twenty_jobs_fit_in_fifty_blocks():
    jobs = [make_job(i, reason="x" * 5000, name="n" * 63) for i in range(20)]
    message = render_job_page(make_page(jobs, next_cursor=Cursor(ListQuery())), next_value="v" * 2000,
                              details_values=["d" * 2000] * 20)
    assert len(message["blocks"]) <= 50
    assert_within_limits(message)


def test_failure_reason_cannot_ping_or_link():
    reason = "<!channel> see <https://evil.example|the docs> & <@U123> `rm -rf` \n>quote"
    message = render_job_page(make_page([make_job(reason=reason)]), next_value=None)
    text = message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://" not in text and "&lt;@U123&gt;" in text and "&amp;" in text


def test_empty_and_partial_pages():
    empty = render_job_page(make_page([]), next_value=None)
    assert "No deletion jobs match." in empty["blocks"][-1]["elements"][0]["text"]
    partial = render_job_page(make_page([], partial=True, next_cursor=Cursor(ListQuery())), next_value="v")
    assert partial["blocks"][-1]["elements"][0]["text"]["text"] == "Continue"
    footer = partial["blocks"][-2]["elements"][0]["text"]
    assert "no matching jobs yet" in footer and "scanned" in footer and "no more" not in footer


def test_titles():
    assert list_title(None, None) == "Deletion jobs · all dataset groups"
    assert list_title("IN_PROGRESS", GROUP) == "In progress deletion jobs · media-feed"


def test_date_token_and_escape_truncation():
    assert date_token(NOW) == f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-29 09:30 UTC>"
    assert escape_truncated("&&&&", 6) == "&amp;…"
    assert escape("<!here>") == "&lt;!here&gt;"


def test_errors_name_the_problem():
    text = render_error(DatasetGroupNotFound("medai-feed", ("media-feed",)))["text"]
    assert "`medai-feed`" in text and "`media-feed`" in text and "`FAILED`" in text
    expired = render_error(ListExpired(), restart_value="c.x.y")
    assert "expired" in expired["text"] and expired["blocks"][-1]["elements"][0]["value"] == "c.x.y"
    denied = render_error(AwsAccessDenied("User: arn:aws:iam::1:user/x is not authorized", request_id="r-1"))
    assert "not allowed" in denied["text"] and "r-1" in denied["text"] and "arn:aws:iam" not in denied["text"]
    assert "Usage" in render_help()["text"]


def test_details_view_has_back_button():
    details = DeletionJobDetails(make_job(reason="<!channel> " + "z" * 4000), num_deleted=1234,
                                 data_location="s3://bucket/users.csv", role_arn="arn:aws:iam::1:role/r")
    message = render_job_details(details, back_value="c.back.mac")
    assert message["blocks"][-1]["elements"][0]["value"] == "c.back.mac"
    assert "1,234" in str(message) and "<!channel>" not in str(message)
    assert_within_limits(message)


aws_text = st.one_of(
    st.text(max_size=5000),
    st.sampled_from(["<!channel>", "<@U123>", "&", "`", "\n", "<https://x|y>", "&amp;", "<<>>"]),
    st.lists(st.sampled_from(["<!channel>", "&", "<", ">", "`", "\n", "é", "🦄", "x" * 500]), max_size=40).map(
        "".join),
)


@given(name=aws_text, reason=aws_text, arn=aws_text, status=st.one_of(st.sampled_from(STATUSES), aws_text),
       n=st.integers(1, 20))
def test_any_aws_text_renders_within_limits_and_escaped(name, reason, arn, status, n):
    job = DeletionJob(arn=arn, name=name, dataset_group_arn="arn:x:dataset-group/" + name, status=status,
                      created=NOW, updated=None, failure_reason=reason)
    message = render_job_page(make_page([job] * n, next_cursor=Cursor(ListQuery())), next_value="v",
                              details_values=["d"] * n)
    assert_within_limits(message)
    details = render_job_details(DeletionJobDetails(job, 1, reason, arn), back_value="b")
    assert_within_limits(details)
    for text in visible_texts(message) + visible_texts(details):
        without_ours = re.sub(r"<!date\^\d+\^[^|>]*\|[^>]*>", "", text)
        assert "<" not in without_ours and ">" not in without_ours.replace("\n> ", "\n").lstrip("> ")
        assert not re.search(r"&(?!amp;|lt;|gt;)", without_ours)


# ---- truncation that never splits an entity or a token (issue 8, item 13) ----------------------------------


@pytest.mark.parametrize("err", [
    DatasetGroupNotFound("x", ("s" * 4000,) * 5),
    DatasetGroupNotFound("&" * 5000, ("<!channel>" * 500,) * 5),
    AccessRefused("list " + "&" * 5000),
    AwsAccessDenied("denied", request_id="r" * 5000),
    BotNotInChannel("x" * 5000, "not_in_channel"),
    MalformedArn("arn:" + "<" * 5000),
])
def test_error_sections_are_cut_within_slack_limits_not_only_their_fallback(err):
    message = render_error(err)
    assert_valid_message(message)
    assert len(message["blocks"][0]["text"]["text"]) <= 3000


def test_the_sentence_after_a_long_name_still_shows():
    text = render_error(DatasetGroupNotFound("x" * 5000, ("media-feed",)))["blocks"][0]["text"]["text"]
    assert "`media-feed`" in text and "If you meant a status" in text


def test_a_message_cut_never_ends_in_half_an_entity():
    """`text[:3000]` used to cut the fallback through an `&amp;`."""
    for shift in range(6):
        answer = section_message("y" * (2990 - shift) + escape("&" * 100))
        for text in (answer["text"], answer["blocks"][0]["text"]["text"]):
            assert_whole_mrkdwn(text)
            assert len(text) <= 3000 and text.endswith("&amp;…")


@pytest.mark.parametrize("text, limit, expected", [
    ("ab&amp;cd", 9, "ab&amp;cd"),
    ("ab&amp;cd", 8, "ab&amp;…"),
    ("ab&amp;cd", 7, "ab…"),
    ("ab&lt;cd", 6, "ab…"),
    ("a <!date^1^{time}|09:30 UTC> b", 20, "a …"),
    ("a <#C123> b", 9, "a …"),
    ("a <#C123> b", 10, "a <#C123>…"),
    ("abcdef", 1, "…"),
])
def test_truncate_mrkdwn_drops_a_cut_entity_or_token_whole(text, limit, expected):
    assert truncate_mrkdwn(text, limit) == expected


@given(parts=st.lists(st.one_of(st.text(max_size=20).map(escape), st.sampled_from(
    ["&amp;", "&lt;", "&gt;", "<!date^1764408600^{date_short_pretty} {time}|2025-11-29 09:30 UTC>", "<#C123>",
     "<@U42>", "\n> ", "`"])), max_size=60), limit=st.integers(1, 400))
def test_truncate_mrkdwn_keeps_a_prefix_of_whole_pieces(parts, limit):
    text = "".join(parts)
    cut = truncate_mrkdwn(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith("…") and text.startswith(cut[:-1])
        assert_whole_mrkdwn(cut)

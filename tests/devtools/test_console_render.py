"""The demo console's renderer: real Block Kit messages from blocks/ in, terminal text and numbered buttons out."""

import io
from datetime import UTC, datetime

from blocks.details import render_job_details
from blocks.digest import job_blocks
from blocks.errors import render_help
from blocks.job_list import ACTION_BACK, ACTION_DETAILS, ACTION_NEXT, render_job_page
from devtools.console_render import message_choices, mrkdwn_to_text, render_message, unescape
from devtools.demo import make_console
from services.models import Cursor, DeletionJob, DeletionJobDetails, ListQuery, Page

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
CHANNEL_REASON = 'Invalid USER_ID "<!channel>" in row 3 (exported by "Privacy & Compliance")'


def make_job(name, status, reason=None):
    return DeletionJob(
        arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{name}",
        name=name, dataset_group_arn=GROUP, status=status, created=NOW, updated=NOW, failure_reason=reason,
    )


def job_page():
    jobs = [
        make_job("job-failed", "FAILED", CHANNEL_REASON),
        make_job("job-done", "COMPLETED"),
        make_job("job-running", "IN_PROGRESS"),
        make_job("job-waiting", "PENDING"),
    ]
    page = Page(Cursor(ListQuery(GROUP, None)), jobs, Cursor(ListQuery(GROUP, None)), scanned=4, api_calls=1,
                partial=False)
    return render_job_page(page, next_value="next-cursor", details_values=[f"details-{j.name}" for j in jobs])


def style_of(text, fragment):
    """The styles of the spans that cover `fragment` in a rich Text."""
    start = text.plain.index(fragment)
    end = start + len(fragment)
    return {str(span.style) for span in text.spans if span.start <= start and span.end >= end}


def test_job_page_reads_like_the_message_without_slack_markup():
    rendered = render_message(job_page())
    plain = rendered.plain
    assert plain.startswith("Deletion jobs · media-feed\n")
    assert "job-failed · media-feed" in plain
    # AWS text was escaped for Slack; a terminal shows it as AWS wrote it.
    assert CHANNEL_REASON in plain
    assert "&lt;" not in plain and "&amp;" not in plain
    # Date tokens show their fallback.
    assert "Created 2026-11-29 09:30 UTC · Updated 2026-11-29 09:30 UTC" in plain
    assert "<!date" not in plain
    assert "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-done" in plain
    assert "\nPage 1 · jobs 1–4\n" in plain
    assert "*" not in plain


def test_status_badges_are_coloured_and_context_lines_dim():
    rendered = render_message(job_page())
    assert "bold red" in style_of(rendered, "Failed")
    assert "bold green" in style_of(rendered, "Completed")
    assert "bold yellow" in style_of(rendered, "In progress")
    assert "bold blue" in style_of(rendered, "Pending")
    assert "dim" in style_of(rendered, "Page 1 · jobs 1–4")
    assert "bold" in style_of(rendered, "job-failed")


def test_every_button_is_a_numbered_choice_next_page_first():
    message = job_page()
    choices = message_choices(message)
    assert [c.label for c in choices] == [
        "Next page", "Details: job-failed", "Details: job-done", "Details: job-running", "Watch: job-running",
        "Details: job-waiting", "Watch: job-waiting",
    ]
    assert [c.number for c in choices] == [1, 2, 3, 4, 5, 6, 7]
    assert (choices[0].action_id, choices[0].value) == (ACTION_NEXT, "next-cursor")
    assert (choices[2].action_id, choices[2].value) == (ACTION_DETAILS, "details-job-done")
    assert choices[4].action_id == "deletion_jobs.watch" and choices[4].value.endswith("/job-running")
    plain = render_message(message).plain
    assert plain.endswith("[1] Next page\n[2] Details: job-failed\n[3] Details: job-done\n"
                          "[4] Details: job-running\n[5] Watch: job-running\n[6] Details: job-waiting\n"
                          "[7] Watch: job-waiting")


def test_details_fields_read_as_label_and_value():
    details = DeletionJobDetails(job=make_job("job-failed", "FAILED", CHANNEL_REASON), num_deleted=None,
                                 data_location="s3://bucket/a&b.csv", role_arn="arn:aws:iam::123456789012:role/R")
    message = render_job_details(details, back_value="back-cursor")
    rendered = render_message(message)
    plain = rendered.plain
    assert plain.startswith("Deletion job · job-failed\n")
    assert "  Status: ❌ Failed\n" in plain
    assert "  Data source: s3://bucket/a&b.csv\n" in plain
    assert "  Records deleted: —\n" in plain
    assert "Failure reason\n  │ " + CHANNEL_REASON in plain
    assert "bold red" in style_of(rendered, "Failed")
    [back] = message_choices(message)
    assert (back.number, back.label, back.action_id, back.value) == (1, "Back to list", ACTION_BACK, "back-cursor")


def test_help_shows_code_without_backticks():
    rendered = render_message(render_help())
    assert "Usage: /deletion-jobs [dataset-group] [status]" in rendered.plain
    assert "`" not in rendered.plain
    assert "cyan" in style_of(rendered, "/deletion-jobs [dataset-group] [status]")
    assert message_choices(render_help()) == []


def test_slack_tokens_become_what_a_reader_would_see():
    assert mrkdwn_to_text("<https://example.com/x|the docs> and <https://example.com>").plain == (
        "the docs (https://example.com/x) and https://example.com")
    assert mrkdwn_to_text("hey <!here>, ask <@U123> in <#C1|privacy-ops>").plain == (
        "hey @here, ask @U123 in #privacy-ops")
    assert mrkdwn_to_text("<!date^1796031000^{date_short_pretty}|Nov 29th>").plain == "Nov 29th"
    assert mrkdwn_to_text(":warning: _careful_ ~old~").plain == "⚠ careful old"
    # As in Slack, no emphasis inside names or with a space just inside the marks.
    assert mrkdwn_to_text("gdpr_erasure_job a*b*c").plain == "gdpr_erasure_job a*b*c"
    assert mrkdwn_to_text("on the schedule 0 9 * * * (UTC)").plain == "on the schedule 0 9 * * * (UTC)"


def test_digest_job_line_is_coloured_by_its_status():
    job = make_job("job-7", "FAILED", "Access denied to s3://b/<x>.csv")
    rendered = render_message({"text": "digest", "blocks": job_blocks(job)})
    assert rendered.plain.startswith("❌ job-7 · failed 2026-11-29 09:30 UTC\n  │ Access denied to s3://b/<x>.csv\n")
    assert "bold red" in style_of(rendered, "job-7")


def test_unescape_undoes_exactly_one_level():
    assert unescape("&lt;!channel&gt; &amp; &amp;lt;") == "<!channel> & &lt;"


def test_message_without_blocks_renders_its_text():
    assert render_message({"text": "Posted &amp; done"}).plain == "Posted & done"


def test_plain_output_when_not_a_terminal():
    stream = io.StringIO()
    make_console(stream).print(render_message(job_page()))
    output = stream.getvalue()
    assert "\x1b[" not in output
    assert "❌ Failed · job-failed · media-feed" in output

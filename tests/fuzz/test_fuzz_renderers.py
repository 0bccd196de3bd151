"""Fuzz: every renderer in blocks/, given any text where it takes text, builds a message Slack accepts.

Each message is checked by tests/blockkit.py: Slack's limits as FACTS.md gives them, slack_sdk's own Block Kit
validators, and every visible text whole (no `&amp;` or `<!date^…|…>` cut in half) and escaped (no `<` but the
bot's own tokens). Button values are the cursor codec's, which never makes one over Slack's 2000 characters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from blocks.details import render_job_details
from blocks.digest import render_attention, render_digest, render_no_failures
from blocks.digest_answers import render_digest_now, render_subscribed, render_subscription_list, render_unsubscribed
from blocks.errors import render_command_error, render_error, render_expired, render_help
from blocks.export import (
    export_comment,
    export_summary_text,
    render_export_done,
    render_export_preparing,
    render_export_progress,
)
from blocks.home import render_details_modal, render_error_modal, render_home, render_home_unreadable
from blocks.job_list import ACTION_BACK, button, render_job_page
from blocks.watch import (
    render_already_finished,
    render_watch_notice,
    render_watch_started,
    render_watching,
    unwatched_note,
)
from services import errors
from services import errors as watch_errors
from services.digest.window import window_for
from services.models import (
    ORIGIN_SETTINGS,
    ORIGIN_SLACK,
    STATUSES,
    Attention,
    Cursor,
    DeletionJob,
    DeletionJobDetails,
    ExportFile,
    ExportFilter,
    ExportProgress,
    FullQueue,
    GroupActivity,
    HomeFailure,
    HomeModel,
    HomeSubscription,
    ListQuery,
    Page,
    StuckJob,
    Subscription,
    Watch,
)
from tests.helpers.blockkit import assert_valid_message, assert_valid_view, assert_whole_mrkdwn

NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
WINDOW = window_for(NOW - timedelta(hours=24), now=NOW, lookback=timedelta(hours=24))

# Text from AWS, from a person, from the state store: anything, and the shapes that hurt (entities, tokens,
# mrkdwn, long runs that only truncation can fit).
hostile = st.one_of(
    st.text(max_size=300),
    st.text(max_size=5000),
    st.lists(
        st.sampled_from(["&", "<", ">", "&amp;", "&lt;", "<!channel>", "<https://x|y>", "<!date^1^{t}|x>", "`", "*",
                         "_", "~", "\n", "\n> ", " ", "é", "🦄", "x" * 500, "s" * 4000, "&" * 700]),
        max_size=30,
    ).map("".join),
)
value = st.text(max_size=2000)
moment = st.one_of(st.none(), st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                                           timezones=st.just(UTC)))
group_arn = st.one_of(hostile, hostile.map(lambda name: "arn:aws:personalize:us-east-1:1:dataset-group/" + name))
jobs = st.builds(DeletionJob, arn=hostile, name=hostile, dataset_group_arn=group_arn,
                 status=st.one_of(st.sampled_from(STATUSES), hostile), created=moment, updated=moment,
                 failure_reason=st.one_of(st.none(), hostile))
channel = st.one_of(st.sampled_from(["C0PRIVACY", "G123", "D9", "C0PRIVACY\n"]), hostile)
subscriptions = st.builds(
    Subscription, channel_id=channel, dataset_group_arn=st.one_of(st.none(), group_arn),
    at_time=st.one_of(st.none(), hostile), timezone=st.one_of(st.none(), hostile),
    origin=st.sampled_from([ORIGIN_SLACK, ORIGIN_SETTINGS]),
    created_by=st.one_of(st.none(), hostile, st.sampled_from(["U1", "W2", "U1\n"])),
    created_at=st.just(NOW), last_digest_at=moment,
)


def error_cases(text: st.SearchStrategy[str]) -> st.SearchStrategy[Exception]:
    """Every error a person can meet, with any text in each of its fields."""
    names = st.lists(text, max_size=8).map(tuple)
    aws = [errors.AwsError, errors.AwsInvalidInput, errors.AwsResourceNotFound, errors.AwsAccessDenied,
           errors.AwsThrottled, errors.AwsCredentialsError, errors.AwsUnreachable, errors.AwsTimeout,
           errors.AwsServiceError]
    return st.one_of(
        st.builds(errors.ListExpired, text),
        st.builds(errors.DatasetGroupNotFound, text, names),
        st.builds(errors.DatasetGroupArnNotFound, text, name=text, region=text, account=text),
        st.builds(errors.JobNotFound, text),
        st.builds(errors.MalformedArn, text),
        st.builds(errors.AccessRefused, text),
        *(st.builds(kind, text, request_id=st.one_of(st.none(), text), code=st.one_of(st.none(), text))
          for kind in aws),
        st.builds(errors.CommandError, text, st.one_of(st.none(), text)),
        st.builds(errors.DigestUsageError, text, st.one_of(st.none(), text)),
        st.builds(errors.InvalidDigestTime, text),
        st.builds(errors.UnknownTimeZone, text, names),
        st.builds(errors.BotNotInChannel, channel, st.one_of(st.just("is_archived"), text)),
        st.builds(errors.NotSubscribed, channel),
        st.builds(errors.DigestInDirectMessage, channel),
        st.builds(errors.DigestFailed, channel,
                  st.one_of(st.sampled_from(["not_in_channel", "is_archived", "AwsThrottled"]), text)),
        st.builds(errors.ExportTooLarge, st.integers(0, 10**12), st.integers(0, 10**12)),
        st.builds(errors.ExportAlreadyRunning, moment),
        st.builds(errors.ExportIncomplete, st.integers(0, 10**9), st.integers(0, 10**9),
                  st.builds(errors.AwsThrottled, text, request_id=st.one_of(st.none(), text))),
        st.builds(errors.ExportUploadFailed, st.sampled_from(["dm", "upload"]),
                  st.one_of(st.sampled_from(["missing_scope", "ratelimited"]), text)),
        st.builds(watch_errors.MalformedJobArn, text),
        st.builds(watch_errors.ForeignJobArn, text, st.sampled_from(["region", "account", "partition"]), text, text),
        st.builds(watch_errors.JobAccountUnknown, text),
        st.builds(watch_errors.WatchedJobNotFound, text),
        st.builds(watch_errors.WatchLimitReached, st.integers(0, 10**6)),
        st.builds(watch_errors.NotWatching, text),
        st.builds(RuntimeError, text),
    )


@given(err=error_cases(hostile), restart=st.one_of(st.none(), value), back=value)
def test_any_error_renders_valid(err, restart, back):
    assert_valid_message(render_error(err, restart_value=restart))
    assert_valid_message(render_error(err, buttons=[button("Try again", "x", back), button("Back", ACTION_BACK, back)]))
    if isinstance(err, errors.CommandError):
        assert_valid_message(render_command_error(err))


@given(restart=st.one_of(st.none(), value))
def test_help_and_expired_render_valid(restart):
    assert_valid_message(render_help())
    assert_valid_message(render_expired(restart))


@given(page_jobs=st.lists(jobs, max_size=20), status=st.one_of(st.none(), st.sampled_from(STATUSES), hostile),
       group=st.one_of(st.none(), group_arn), page=st.integers(1, 10**6), shown=st.integers(0, 10**9),
       partial=st.booleans(), next_value=st.one_of(st.none(), value), details=st.one_of(st.none(), value))
def test_any_job_page_renders_valid(page_jobs, status, group, page, shown, partial, next_value, details):
    cursor = Cursor(ListQuery(group, status), page=page, shown=shown)
    listed = Page(cursor, page_jobs, Cursor(ListQuery()) if next_value else None, scanned=len(page_jobs),
                  api_calls=1, partial=partial)
    details_values = [details] * len(page_jobs) if details is not None else None
    assert_valid_message(render_job_page(listed, next_value=next_value, details_values=details_values))


@given(job=jobs, deleted=st.one_of(st.none(), st.integers(0, 10**15)), location=st.one_of(st.none(), hostile),
       role=st.one_of(st.none(), hostile), back=value)
def test_any_job_details_render_valid(job, deleted, location, role, back):
    assert_valid_message(render_job_details(DeletionJobDetails(job, deleted, location, role), back_value=back))


@given(failed=st.lists(jobs, max_size=60), group=st.one_of(st.none(), group_arn))
def test_any_digest_renders_valid(failed, group):
    for message, _ in render_digest(failed, window=WINDOW, dataset_group_arn=group):
        assert_valid_message(message)
    assert_valid_message(render_no_failures(window=WINDOW, dataset_group_arn=group))


@given(subscription=subscriptions, created=st.booleans(), schedule=hostile, next_run=moment,
       note=st.one_of(st.none(), hostile), channel_id=channel, configured=st.booleans())
def test_any_digest_answer_renders_valid(subscription, created, schedule, next_run, note, channel_id, configured):
    assert_valid_message(render_subscribed(subscription, created=created, schedule_text=schedule, next_run=next_run,
                                           note=note))
    assert_valid_message(render_unsubscribed(channel_id, subscription, still_configured=configured))
    assert_valid_message(render_unsubscribed(channel_id, None, still_configured=configured))


@given(listed=st.lists(subscriptions, max_size=300), schedule=hostile)
def test_any_subscription_list_renders_valid(listed, schedule):
    assert_valid_message(render_subscription_list(listed, lambda _subscription: schedule))


@given(channel_id=channel, reported=st.integers(0, 10**9), messages=st.integers(0, 10**6), since=moment,
       posted_empty=st.booleans())
def test_any_digest_now_answer_renders_valid(channel_id, reported, messages, since, posted_empty):
    assert_valid_message(render_digest_now(channel_id, reported=reported, messages=messages, since=since,
                                           posted_empty=posted_empty))


# ---- watches and what needs attention in a digest (issue 11) -------------------------------------------------

watches = st.builds(
    Watch, id=st.integers(0, 2**62), user_id=hostile, job_arn=hostile, job_name=hostile, dataset_group_arn=group_arn,
    started_at=st.just(NOW), last_status=st.one_of(st.sampled_from(STATUSES), hostile), job_created_at=moment,
    last_checked_at=moment,
    outcome=st.one_of(st.none(), st.sampled_from(["COMPLETED", "FAILED", "EXPIRED", "VANISHED"]), hostile),
    num_deleted=st.one_of(st.none(), st.integers(0, 10**15)), failure_reason=st.one_of(st.none(), hostile),
    data_location=st.one_of(st.none(), hostile), finished_at=moment,
)
stuck = st.builds(StuckJob, jobs, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
queues = st.builds(FullQueue, group_arn, st.integers(0, 10**6))
attention = st.builds(Attention, st.lists(stuck, max_size=80), st.lists(queues, max_size=40),
                      st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)), st.integers(1, 100))


@given(watch=watches)
def test_any_watch_message_renders_valid(watch):
    assert_valid_message(render_watch_notice(watch))


@given(listed=st.lists(watches, max_size=60), note=st.one_of(st.none(), watches.map(unwatched_note)),
       limit=st.integers(0, 10**6))
def test_any_watching_list_renders_valid(listed, note, limit):
    # The note is mrkdwn the bot wrote (unwatched_note escapes what it quotes).
    assert_valid_message(render_watching(listed, limit=limit, note=note))


@given(job=jobs, already=st.booleans(), deleted=st.one_of(st.none(), st.integers(0, 10**15)),
       location=st.one_of(st.none(), hostile))
def test_any_watch_answer_renders_valid(job, already, deleted, location):
    assert_valid_message(render_watch_started(job, already=already))
    assert_valid_message(render_already_finished(DeletionJobDetails(job, deleted, location, None)))


@given(failed=st.lists(jobs, max_size=60), group=st.one_of(st.none(), group_arn), needs=attention)
def test_any_digest_with_stuck_jobs_and_full_queues_renders_valid(failed, group, needs):
    for message, _ in render_digest(failed, window=WINDOW, dataset_group_arn=group, attention=needs):
        assert_valid_message(message)
    assert_valid_message(render_attention(needs, window=WINDOW, dataset_group_arn=group))


# ---- the Home tab (issue 13) ------------------------------------------------------------------------------

counts = st.dictionaries(st.one_of(st.sampled_from(STATUSES), hostile), st.integers(0, 10**7), max_size=6)
activities = st.builds(GroupActivity, arn=group_arn, name=hostile, counts=counts, pending=st.integers(0, 10**4),
                       last_failed_at=moment)
home_models = st.builds(
    HomeModel, read_at=st.just(NOW), window_days=st.integers(1, 365), refresh_seconds=st.integers(30, 86400),
    groups=st.lists(activities, max_size=250).map(tuple),
    failures=st.lists(st.builds(HomeFailure, job=jobs, failed_at=moment, details_value=st.one_of(st.none(), value)),
                      max_size=10).map(tuple),
    failure_count=st.integers(0, 10**6),
    stuck=st.lists(st.builds(StuckJob, job=jobs, running_for=st.timedeltas(timedelta(0), timedelta(days=900))),
                   max_size=10).map(tuple),
    stuck_count=st.integers(0, 10**6),
    stuck_after=st.one_of(st.none(), st.timedeltas(timedelta(minutes=1), timedelta(days=30))),
    subscriptions=st.lists(st.builds(HomeSubscription, subscription=subscriptions, schedule=hostile),
                           max_size=300).map(tuple),
    watches=st.one_of(st.none(), st.lists(watches, max_size=20).map(tuple)),
    complete=st.booleans(), covers_since=moment,
    refresh_failure=st.one_of(st.none(), st.sampled_from(["AwsThrottled", "AwsTimeout"]), hostile),
    refresh_failed_at=moment,
)


@given(model=home_models)
def test_any_home_tab_renders_valid(model):
    view = render_home(model)
    assert_valid_view(view)


@given(failure=st.one_of(st.none(), hostile), failed_at=moment, job=jobs, err=error_cases(hostile))
def test_any_home_fallback_and_modal_renders_valid(failure, failed_at, job, err):
    assert_valid_view(render_home_unreadable(failure, failed_at))
    assert_valid_view(render_details_modal(DeletionJobDetails(job, None, None, None)))
    assert_valid_view(render_error_modal(err))


days = st.dates(min_value=datetime(1971, 1, 1).date(), max_value=datetime(2100, 1, 1).date())
export_filters = st.builds(ExportFilter, dataset_group_arn=st.one_of(st.none(), group_arn),
                           status=st.one_of(st.none(), st.sampled_from(STATUSES), hostile), since=days,
                           until=st.one_of(st.none(), days), allowed_groups_only=st.booleans())


@given(export_filter=export_filters, described=st.integers(0, 10**6), total=st.integers(0, 10**6))
def test_any_export_progress_renders_valid(export_filter, described, total):
    assert_valid_message(render_export_preparing(export_filter))
    assert_valid_message(render_export_progress(ExportProgress(described, total)))


@given(export_filter=export_filters, filename=hostile, data=st.binary(max_size=64),
       by_status=st.lists(st.tuples(st.one_of(st.sampled_from(STATUSES), hostile), st.integers(0, 10**6)),
                          max_size=6).map(tuple),
       by=st.one_of(st.sampled_from(["U123ABC", "W9"]), hostile), via=hostile)
def test_any_export_summary_renders_valid(export_filter, filename, data, by_status, by, via):
    export = ExportFile(filter=export_filter, filename=filename, data=data, sha256="ab" * 32, by_status=by_status,
                        generated_at=NOW, generated_by=by, generated_via=via, scanned=0, list_calls=0,
                        describe_calls=0)
    done = render_export_done(export)
    assert_valid_message(done)
    comment = export_comment(export)
    assert 1 <= len(comment) <= 3000
    assert_whole_mrkdwn(comment)
    # Tamper evidence: whatever else is cut, the hash shows.
    assert "ab" * 32 in comment and "ab" * 32 in done["blocks"][-1]["text"]["text"]
    assert "ab" * 32 in export_summary_text(export)

"""The Home tab's Block Kit: within a Home view's 100 blocks for 1, 20 and 200 dataset groups (the rest summed up,
saying so), every AWS string escaped, nothing of the account on an outsider's view, and the Details modal."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from blocks.home import (
    ACTION_HOME_REFRESH,
    MAX_BLOCKS,
    render_details_modal,
    render_error_modal,
    render_home,
    render_home_unavailable,
    render_home_unreadable,
    render_loading_modal,
)
from blocks.job_list import ACTION_DETAILS
from services import errors
from services.models import (
    ORIGIN_SLACK,
    DeletionJobDetails,
    GroupActivity,
    HomeFailure,
    HomeModel,
    HomeSubscription,
    StuckJob,
    Subscription,
    Watch,
)
from tests.helpers.blockkit import assert_valid_view
from tests.helpers.home_fakes import NOW, group_arn, job

HOSTILE = "<!channel> & <https://evil.example|click> *bold* `x`"


def groups(count: int, *, name=lambda i: f"group-{i:03d}") -> tuple[GroupActivity, ...]:
    return tuple(GroupActivity(group_arn(name(i)), name(i), {"COMPLETED": i, "FAILED": i % 3, "PENDING": i % 6,
                                                             "IN_PROGRESS": 1},
                               pending=i % 6, last_failed_at=NOW - timedelta(hours=i) if i % 3 else None)
                 for i in range(count))


def watch(i: int, **fields) -> Watch:
    values = dict(id=i, user_id="U1", job_arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/w-{i}",
                  job_name=f"w-{i}", dataset_group_arn=group_arn("group-001"), started_at=NOW - timedelta(hours=i),
                  last_status="IN_PROGRESS", last_checked_at=NOW)
    values.update(fields)
    return Watch(**values)


def full_model(group_count: int, **overrides) -> HomeModel:
    """Every part at its largest: 10 failures with long Details values, 10 stuck jobs, 20 watches (a person's
    most), 300 subscriptions."""
    failures = tuple(HomeFailure(job(f"failed-{i}", "group-001", "FAILED", created=NOW - timedelta(hours=i),
                                     reason="x" * 2000), NOW - timedelta(hours=i), "d" * 2000) for i in range(10))
    stuck = tuple(StuckJob(job(f"stuck-{i}", "group-002", "IN_PROGRESS", created=NOW - timedelta(days=2)),
                               timedelta(days=2, hours=i)) for i in range(10))
    subs = tuple(HomeSubscription(Subscription(f"C{i:08d}", None if i % 2 else group_arn("group-003"), None, None,
                                               ORIGIN_SLACK, "U1", NOW, None), "every day at 09:00 (UTC)")
                 for i in range(300))
    values = dict(read_at=NOW, window_days=30, refresh_seconds=300, groups=groups(group_count), failures=failures,
                  failure_count=57, stuck=stuck, stuck_count=14, stuck_after=timedelta(hours=24),
                  subscriptions=subs, watches=tuple(watch(i) for i in range(20)))
    values.update(overrides)
    return HomeModel(**values)


def texts(view: dict) -> str:
    out = []
    for block in view["blocks"]:
        for key in ("text",):
            if key in block:
                out.append(block[key]["text"])
        out += [element.get("text", "") for element in block.get("elements", []) if element.get("type") == "mrkdwn"]
    return "\n".join(out)


def group_sections(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"]
            if b["type"] == "section" and "PENDING slots" in b["text"]["text"]]


@pytest.mark.parametrize("count", [1, 20, 200])
def test_home_keeps_within_slacks_limits_for_any_number_of_dataset_groups(count):
    view = render_home(full_model(count))
    assert_valid_view(view)
    assert len(view["blocks"]) <= MAX_BLOCKS
    shown = group_sections(view)
    summary = re.search(r"…and ([\d,]+) more dataset groups?, not shown", texts(view))
    if len(shown) < count:
        assert summary and len(shown) + int(summary.group(1).replace(",", "")) == count
    else:
        assert summary is None


def test_the_summary_line_adds_up_the_groups_it_does_not_show():
    model = full_model(200)
    view = render_home(model)
    hidden = model.groups[len(group_sections(view)):]
    jobs = sum(g.total for g in hidden)
    failed = sum(g.counts["FAILED"] for g in hidden)
    assert f"{jobs:,} deletion jobs in the last 30 days, {failed:,} failed" in texts(view)


def test_each_group_shows_its_counts_by_status_its_pending_slots_and_last_failure():
    group = GroupActivity(group_arn("media-feed"), "media-feed",
                          {"PENDING": 5, "IN_PROGRESS": 1, "COMPLETED": 12, "FAILED": 3}, pending=5,
                          last_failed_at=NOW - timedelta(hours=2))
    view = render_home(full_model(0, groups=(group,)))
    [section] = group_sections(view)
    assert "*media-feed* · 21 jobs" in section
    for text in ("5 pending", "1 in progress", "12 completed", "3 failed", "PENDING slots: 5 of 5 in use"):
        assert text in section
    assert f"<!date^{int((NOW - timedelta(hours=2)).timestamp())}^" in section
    assert "PENDING queue full" in texts(view)


def test_failures_have_details_buttons_with_the_listings_action_and_the_view_a_refresh_button():
    view = render_home(full_model(3))
    buttons = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_DETAILS]
    assert len(buttons) == 10 and all(b["text"]["text"] == "Details" for b in buttons)
    actions = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in actions] == [ACTION_HOME_REFRESH]
    assert "…and 47 more failures in the last 7 days" in texts(view)
    assert "14 stuck jobs" in texts(view) and "…and 4 more." in texts(view)


def test_every_aws_string_is_escaped():
    failure = HomeFailure(replace(job("j", "g", "FAILED", created=NOW, reason=HOSTILE), name=HOSTILE), NOW, None)
    hostile_groups = groups(3, name=lambda i: f"{HOSTILE}{i}")
    view = render_home(full_model(0, groups=hostile_groups, failures=(failure,), failure_count=1))
    assert_valid_view(view)  # checks that no `<` is left but the bot's own date and channel tokens
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in texts(view)


def test_an_empty_account_says_there_is_nothing_to_attend_to():
    view = render_home(full_model(0, failures=(), failure_count=0, stuck=(), stuck_count=0, subscriptions=()))
    assert_valid_view(view)
    assert "Nothing needs attention" in texts(view)
    assert "No dataset group to show" in texts(view)
    assert "No channel gets the digest" in texts(view)


def test_a_failed_refresh_and_a_read_stopped_early_are_said():
    view = render_home(full_model(2, refresh_failure="AwsThrottled", refresh_failed_at=NOW, complete=False,
                                  covers_since=NOW - timedelta(days=3)))
    assert_valid_view(view)
    assert "AWS is throttling requests right now" in texts(view)
    assert "The read stopped early" in texts(view)


def test_the_outsiders_view_shows_no_account_data():
    view = render_home_unavailable()
    assert_valid_view(view)
    assert "not available to you" in texts(view)
    assert not [b for b in view["blocks"] if b["type"] == "actions"]
    # A header and one sentence: no group, job, count or time of the account.
    assert [b["type"] for b in view["blocks"]] == ["header", "section"]
    assert not re.search(r"\d|<!date|dataset group", texts(view))


@pytest.mark.parametrize("failure", ["AwsAccessDenied", "AwsTimeout", "NotAnError", None])
def test_a_home_with_nothing_to_show_says_why_and_offers_refresh(failure):
    view = render_home_unreadable(failure, NOW if failure else None)
    assert_valid_view(view)
    assert [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        ACTION_HOME_REFRESH]


def test_the_details_modal_shows_the_job_without_list_buttons():
    details = DeletionJobDetails(job("j", "media-feed", "FAILED", created=NOW, reason=HOSTILE), 0, "s3://b/k", "r")
    for modal in (render_details_modal(details), render_loading_modal()):
        assert_valid_view(modal)
        assert not [b for b in modal["blocks"] if b["type"] == "actions"]
    assert "&lt;!channel&gt;" in texts(render_details_modal(details))


def test_error_modals_carry_no_buttons():
    for err in (errors.ListExpired("old"), errors.AwsThrottled("x"), errors.AccessRefused("use this bot"),
                RuntimeError("bug")):
        modal = render_error_modal(err)
        assert_valid_view(modal)
        assert not [b for b in modal["blocks"] if b["type"] == "actions"]
    assert "out of date" in texts(render_error_modal(errors.ListExpired("old")))


def test_each_watch_has_an_unwatch_button_with_the_job_arn():
    from blocks.watch import ACTION_UNWATCH

    view = render_home(full_model(3, watches=(watch(1), watch(2, job_name=HOSTILE))))
    assert_valid_view(view)
    unwatch = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_UNWATCH]
    assert [b["value"] for b in unwatch] == [watch(1).job_arn, watch(2).job_arn]
    assert "Your watches" in str(view)


def test_no_watches_says_how_to_start_one_and_a_bot_without_watches_says_nothing_of_them():
    assert "You are not watching any deletion job" in texts(render_home(full_model(1, watches=())))
    assert "Your watches" not in str(render_home(full_model(1, watches=None)))


def test_stuck_jobs_say_how_long_they_have_run_against_the_rule():
    view = render_home(full_model(1))
    assert "14 stuck jobs* (running longer than 1 d)" in texts(view)
    assert "*stuck-3* · group-002 · In progress for 2 d 3 h" in texts(view)

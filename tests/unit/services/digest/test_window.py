"""The digest's window and early stop: which failures a run offers, and how few ListDataDeletionJobs calls it makes.

The reads go through botocore's Stubber, so every call is checked against the real Personalize model and any
call the test did not queue fails the test.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from services.aws.personalize import CLIENT_CONFIG, PersonalizeGateway
from services.digest.service import DigestService
from services.digest.window import WINDOW_OVERLAP, read_cutoff, window_for
from services.storage.ledger import DigestLedger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.clock import CLOCK_START
from tests.helpers.digest_fakes import DIGEST_RENDERER, FakePacer, FakeSlack, posted_arns
from tests.helpers.personalize_stubs import expect_list

NOW = CLOCK_START
LOOKBACK = timedelta(hours=24)
MAX_JOB_AGE = timedelta(hours=48)
MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
RETAIL = "arn:aws:personalize:us-east-1:123456789012:dataset-group/retail"


def job(name: str, *, created: datetime, updated: datetime | None = None, status: str = "FAILED",
        group: str = MEDIA, reason: str | None = "boom") -> dict:
    item = {
        "dataDeletionJobArn": f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{name}",
        "datasetGroupArn": group,
        "jobName": name,
        "status": status,
        "creationDateTime": created,
        "lastUpdatedDateTime": updated or created,
    }
    if status == "FAILED" and reason:
        item["failureReason"] = reason
    return item


def arn(name: str) -> str:
    return f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{name}"


def filler(count: int, *, newest: datetime, prefix: str = "done") -> list[dict]:
    """COMPLETED jobs one minute apart, newest first."""
    return [job(f"{prefix}-{i}", created=newest - timedelta(minutes=i), status="COMPLETED") for i in range(count)]


# ---- pure window arithmetic ------------------------------------------------------------------------------


def test_first_window_is_the_lookback():
    window = window_for(None, now=NOW, lookback=LOOKBACK)
    assert (window.since, window.read_from, window.until, window.first) == (NOW - LOOKBACK, NOW - LOOKBACK, NOW, True)


def test_later_windows_start_at_the_last_digest_with_a_small_overlap():
    last = NOW - timedelta(hours=24)
    window = window_for(last, now=NOW, lookback=LOOKBACK)
    assert window.since == last and window.read_from == last - WINDOW_OVERLAP and not window.first


def test_unposted_failures_pull_the_window_back():
    pending = NOW - timedelta(hours=70)
    window = window_for(NOW - timedelta(hours=1), now=NOW, lookback=LOOKBACK, oldest_pending=pending)
    assert window.read_from == pending and window.since == NOW - timedelta(hours=1)


def test_read_cutoff_is_the_earliest_window_minus_the_longest_job():
    windows = [window_for(None, now=NOW, lookback=LOOKBACK), window_for(NOW - timedelta(hours=2), now=NOW,
                                                                        lookback=LOOKBACK)]
    assert read_cutoff(windows, MAX_JOB_AGE) == NOW - LOOKBACK - MAX_JOB_AGE


# ---- the service against Stubber -------------------------------------------------------------------------


@pytest.fixture
def env(state_engine, clock):
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    slack = FakeSlack()
    subscriptions = SubscriptionStore(state_engine, clock=clock)
    ledger = DigestLedger(state_engine, claim_ttl=timedelta(minutes=15), clock=clock)
    service = DigestService(
        PersonalizeGateway(client), subscriptions, ledger, slack, renderer=DIGEST_RENDERER, lookback=LOOKBACK,
        max_job_age=MAX_JOB_AGE, pacer=FakePacer(), clock=clock,
    )
    with Stubber(client) as stubber:
        yield type("Env", (), {"stubber": stubber, "service": service, "slack": slack, "clock": clock,
                               "subscriptions": subscriptions, "ledger": ledger})
        stubber.assert_no_pending_responses()


def test_first_run_reports_exactly_the_window_and_stops_at_the_first_page_of_old_jobs(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    recent = job("recent", created=NOW - timedelta(hours=3), updated=NOW - timedelta(hours=2))
    late = job("late", created=NOW - timedelta(hours=36), updated=NOW - timedelta(hours=1))
    old_failure = job("old-failure", created=NOW - timedelta(hours=31), updated=NOW - timedelta(hours=30))
    ok = job("ok", created=NOW - timedelta(hours=4), updated=NOW - timedelta(hours=3), status="COMPLETED")
    running = job("running", created=NOW - timedelta(hours=5), status="IN_PROGRESS")
    # Newest created first: the page ends with jobs created long before the cutoff (now - 24 h - 48 h).
    page = [recent, ok, running, old_failure, late] + filler(95, newest=NOW - timedelta(hours=80))
    page.sort(key=lambda item: item["creationDateTime"], reverse=True)
    expect_list(env.stubber, page, next_token="more-pages-that-must-not-be-read")

    run = env.service.run()

    assert run.ok and run.list_calls == 1
    assert sorted(posted_arns(env.slack.posts)) == sorted([arn("recent"), arn("late")])
    assert run.outcome("C1").reported == 2


def test_reading_continues_while_pages_are_younger_than_the_cutoff(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    # 200 jobs created in the last 60 hours (inside the 72-hour read horizon), then old ones on page 3.
    young = [job(f"young-{i}", created=NOW - timedelta(minutes=18 * i), status="COMPLETED") for i in range(200)]
    young[150] = job("late-on-page-2", created=NOW - timedelta(minutes=18 * 150), updated=NOW - timedelta(hours=1))
    old = filler(100, newest=NOW - timedelta(hours=73), prefix="old")
    expect_list(env.stubber, young[:100], next_token="t1")
    expect_list(env.stubber, young[100:], token="t1", next_token="t2")
    expect_list(env.stubber, old, token="t2", next_token="t3")

    run = env.service.run()

    assert run.list_calls == 3
    assert posted_arns(env.slack.posts) == [arn("late-on-page-2")]


def test_a_second_run_reads_from_the_last_digest_and_repeats_nothing(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    first = job("first", created=NOW - timedelta(hours=2), updated=NOW - timedelta(hours=1))
    expect_list(env.stubber, [first] + filler(99, newest=NOW - timedelta(hours=80)), next_token="x")
    env.service.run()
    assert env.subscriptions.get("C1").last_digest_at == NOW

    env.clock.now = NOW + timedelta(days=1)
    second = job("second", created=NOW + timedelta(hours=20), updated=NOW + timedelta(hours=21))
    just_before = job("just-before-last-digest", created=NOW - timedelta(hours=3), updated=NOW - timedelta(minutes=2))
    page = [second, first, just_before] + filler(97, newest=NOW - timedelta(hours=60))
    expect_list(env.stubber, page, next_token="y")
    run = env.service.run()

    # `first` is in the ledger; the one stamped two minutes before the last digest only became visible now.
    assert posted_arns(env.slack.posts[1:]) == [arn("just-before-last-digest"), arn("second")]
    assert run.outcome("C1").window.since == NOW


def test_channels_with_the_same_scope_share_one_read(env):
    for channel in ("C1", "C2", "C3"):
        env.subscriptions.subscribe(channel, dataset_group_arn=MEDIA)
    items = [job("a", created=NOW - timedelta(hours=2))] + filler(99, newest=NOW - timedelta(hours=80))
    expect_list(env.stubber, items, group=MEDIA, next_token="x")

    run = env.service.run()

    assert run.list_calls == 1
    assert [len(env.slack.posted_to(c)) for c in ("C1", "C2", "C3")] == [1, 1, 1]


def test_each_group_scope_is_read_once_and_gets_only_its_group(env):
    env.subscriptions.subscribe("CMEDIA", dataset_group_arn=MEDIA)
    env.subscriptions.subscribe("CRETAIL", dataset_group_arn=RETAIL)
    expect_list(env.stubber, [job("m", created=NOW - timedelta(hours=2))], group=MEDIA)
    expect_list(env.stubber, [job("r", created=NOW - timedelta(hours=2), group=RETAIL)], group=RETAIL)

    run = env.service.run()

    assert run.list_calls == 2
    assert posted_arns(env.slack.posted_to("CMEDIA")) == [arn("m")]
    assert posted_arns(env.slack.posted_to("CRETAIL")) == [arn("r")]


def test_an_all_groups_subscription_serves_the_group_ones_from_the_same_read(env):
    env.subscriptions.subscribe("CALL", dataset_group_arn=None)
    env.subscriptions.subscribe("CRETAIL", dataset_group_arn=RETAIL)
    expect_list(env.stubber, [job("m", created=NOW - timedelta(hours=2)),
                              job("r", created=NOW - timedelta(hours=3), group=RETAIL)])

    run = env.service.run()

    assert run.list_calls == 1
    assert sorted(posted_arns(env.slack.posted_to("CALL"))) == sorted([arn("m"), arn("r")])
    assert posted_arns(env.slack.posted_to("CRETAIL")) == [arn("r")]


def test_an_aws_failure_fails_the_run_and_marks_nothing(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.stubber.add_client_error("list_data_deletion_jobs", "AccessDeniedException", "no", 400,
                                 expected_params={"maxResults": 100})

    run = env.service.run()

    assert not run.ok and run.outcome("C1").error == "AwsAccessDenied"
    assert env.slack.posts == []
    assert env.subscriptions.get("C1").last_digest_at is None

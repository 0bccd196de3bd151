"""What a digest run costs in AWS calls, whatever the number of subscriptions: each scope read once (an account-wide
read serves the group subscriptions too), ListDatasetGroups at most once. Counted at the Personalize emulator, over
HTTP, with the services app_factory builds. Counts only, never times."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from app_factory import build_services

GROUPS = [f"group-{i}" for i in range(5)]


@pytest.fixture
def account(emulator):
    """10,000 deletion jobs over 5 dataset groups (10 % failed), all finished more than a day ago: a first digest
    posts nothing, and reads back DIGEST_STUCK_LOOKBACK_DAYS through every page."""
    arns = {name: emulator.add_dataset_group(name) for name in GROUPS}
    before_the_window = datetime.now(UTC) - timedelta(hours=25)
    for arn in arns.values():
        emulator.seed_bulk(arn, 2000, failed_every=10, now=before_the_window)
    return arns


def services_for(make_settings, slack, **overrides):
    # No page cache: what is shared here is shared by the run itself.
    return build_services(make_settings(slack_api_url=slack.api_url, list_cache_seconds=0, **overrides))


def test_fifty_subscriptions_cost_one_account_wide_walk_and_one_list_dataset_groups(
        emulator, slack, make_settings, tmp_path, account):
    alone = services_for(make_settings, slack, database_url=f"sqlite:///{tmp_path}/alone.sqlite3")
    alone.digest.subscriptions.subscribe("CALONE", dataset_group_arn=None)
    emulator.reset_calls()
    floor = alone.digest.run()
    one_walk = emulator.call_count("ListDataDeletionJobs")
    assert floor.ok and one_walk == math.ceil(10_000 / 100) == floor.list_calls

    # 10 account-wide subscriptions, 40 over the 5 groups: 8 of them DIGEST_CHANNELS with DIGEST_DATASET_GROUP
    # given by name (resolved through ListDatasetGroups), and an allowlist by name for the access checks.
    configured = tuple(f"CCONF{i}" for i in range(8))
    services = services_for(make_settings, slack, digest_channels=configured, digest_dataset_group=GROUPS[0],
                            allowed_dataset_groups=tuple(GROUPS))
    store = services.digest.subscriptions
    for i in range(10):
        store.subscribe(f"CALL{i}", dataset_group_arn=None)
    for i in range(32):
        store.subscribe(f"CGRP{i}", dataset_group_arn=account[GROUPS[i % 5]])
    emulator.reset_calls()
    assert services.digest.apply_configured_channels()
    run = services.digest.run()

    assert len(run.outcomes) == 50 and run.ok
    assert emulator.call_count("ListDataDeletionJobs") == one_walk == run.list_calls
    assert emulator.call_count("ListDatasetGroups") == 1
    assert emulator.call_count() == one_walk + 1, "no other call per subscription"
    assert slack.messages("CALL0") == [], "nothing in the window: the read is the whole cost"


def test_group_subscriptions_alone_cost_one_read_per_distinct_group(emulator, slack, make_settings, account):
    services = services_for(make_settings, slack)
    for i in range(20):
        services.digest.subscriptions.subscribe(f"CGRP{i}", dataset_group_arn=account[GROUPS[i % 2]])
    emulator.reset_calls()
    services.digest.run()
    reads = [params.get("datasetGroupArn") for op, params in emulator.calls if op == "ListDataDeletionJobs"
             and "nextToken" not in params]
    assert sorted(reads) == sorted([account[GROUPS[0]], account[GROUPS[1]]])
    assert emulator.call_count("ListDataDeletionJobs") == 2 * math.ceil(2000 / 100)
    assert emulator.call_count("ListDatasetGroups") == 0


def test_a_digest_right_after_a_listing_reads_aws_again_and_posts_the_newest_failure(
        emulator, slack, make_settings, account):
    """Listings share pages for LIST_CACHE_SECONDS; the digest never takes them: a failure reported late is lost."""
    from services.listing.command_parser import parse_command

    services = build_services(make_settings(slack_api_url=slack.api_url, list_cache_seconds=300))
    services.listing.first_page(services.listing.query_for(parse_command(f"{GROUPS[0]} failed"), user_id="U1"))
    services.digest.subscriptions.subscribe("CNOW", dataset_group_arn=account[GROUPS[0]])
    now = datetime.now(UTC)
    # A second ago: the emulator's timestamps are whole milliseconds, and a failure stamped after the run's own
    # "now" belongs to the next digest.
    emulator.add_job(account[GROUPS[0]], status="FAILED", created=now - timedelta(minutes=30),
                     updated=now - timedelta(seconds=1),
                     failure_reason="failed after the listing read its page")
    emulator.reset_calls()
    run = services.digest.run()
    assert run.ok and run.list_calls == emulator.call_count("ListDataDeletionJobs") > 0
    assert "failed after the listing read its page" in str(slack.messages("CNOW")), run.outcomes

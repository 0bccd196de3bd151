"""DigestLedger and SubscriptionStore on SQLite and PostgreSQL: claims, expiry, release, races between claimers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from services.digest_store import ORIGIN_SETTINGS, ORIGIN_SLACK, DigestLedger, SubscriptionStore
from tests.digest_databases import database_url, digest_engine  # noqa: F401 - fixtures

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def arn(i: int) -> str:
    return f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}"


def failures(n: int, start: int = 0) -> list[tuple[str, datetime]]:
    return [(arn(i), T0 - timedelta(minutes=i)) for i in range(start, start + n)]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(digest_engine, clock):  # noqa: F811 - the imported fixture
    return DigestLedger(digest_engine, claim_ttl=TTL, clock=clock)


def test_a_claim_takes_every_new_failure_once(ledger):
    first = ledger.claim("C1", failures(5))
    assert first.job_arns == {arn(i) for i in range(5)}
    again = ledger.claim("C1", failures(7))
    assert again.job_arns == {arn(5), arn(6)}, "failures claimed by a live claim must not be taken again"


def test_claims_are_per_channel(ledger):
    assert len(ledger.claim("C1", failures(3)).job_arns) == 3
    assert len(ledger.claim("C2", failures(3)).job_arns) == 3


def test_posted_failures_are_never_offered_again_even_after_the_ttl(ledger, clock):
    claim = ledger.claim("C1", failures(3))
    ledger.mark_posted(claim, claim.job_arns, message_ts="1.0")
    clock.now += TTL * 10
    assert ledger.claim("C1", failures(3)).job_arns == set()
    assert ledger.posted_among("C1", [arn(0), arn(1), arn(9)]) == {arn(0), arn(1)}
    assert ledger.pending("C1") == {}


def test_an_unposted_claim_expires_and_is_taken_again(ledger, clock):
    dead = ledger.claim("C1", failures(3))  # its process dies here
    clock.now += TTL - timedelta(seconds=1)
    assert ledger.claim("C1", failures(3)).job_arns == set(), "a live claim is respected"
    clock.now += timedelta(seconds=2)
    revived = ledger.claim("C1", failures(3))
    assert revived.job_arns == dead.job_arns
    # The dead run's token no longer owns them: it can neither release nor mark them.
    assert ledger.release(dead, dead.job_arns) == 0
    ledger.mark_posted(revived, revived.job_arns, message_ts="2.0")
    assert ledger.posted_among("C1", list(dead.job_arns)) == dead.job_arns


def test_a_released_claim_is_offered_again_at_once(ledger):
    claim = ledger.claim("C1", failures(4))
    assert ledger.release(claim, [arn(0), arn(1)]) == 2
    assert ledger.claim("C1", failures(4)).job_arns == {arn(0), arn(1)}


def test_pending_failures_keep_their_failure_time(ledger):
    claim = ledger.claim("C1", failures(3))
    ledger.release(claim, claim.job_arns)
    assert ledger.oldest_pending("C1") == T0 - timedelta(minutes=2)
    assert set(ledger.pending("C1")) == {arn(0), arn(1), arn(2)}
    assert ledger.oldest_pending("C2") is None


def test_forget_pending_drops_released_rows_but_not_live_claims(ledger):
    released = ledger.claim("C1", failures(2))
    ledger.release(released, released.job_arns)
    ledger.claim("C1", failures(1, start=10))  # a live claim of another run
    assert ledger.forget_pending("C1", [arn(0), arn(1), arn(10)]) == 2
    assert set(ledger.pending("C1")) == {arn(10)}


def test_sweep_forgets_only_old_posted_rows(ledger):
    claim = ledger.claim("C1", failures(3))
    ledger.mark_posted(claim, [arn(2)], message_ts="1.0")
    assert ledger.sweep("C1", failed_before=T0 - timedelta(minutes=1, seconds=30)) == 1
    assert set(ledger.pending("C1")) == {arn(0), arn(1)}


def test_many_claimers_at_once_split_the_failures_without_overlap(ledger):
    """Eight threads claim the same 200 failures at the same moment: each failure goes to exactly one."""
    results: list[frozenset[str]] = []
    barrier = threading.Barrier(8)
    errors = []

    def claimer():
        try:
            barrier.wait()
            results.append(ledger.claim("C1", failures(200)).job_arns)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(len(r) for r in results) == 200
    assert frozenset().union(*results) == {arn(i) for i in range(200)}


def test_many_claimers_of_expired_claims_split_them_without_overlap(ledger, clock):
    ledger.claim("C1", failures(100))
    clock.now += TTL * 2
    results: list[frozenset[str]] = []
    barrier = threading.Barrier(6)

    def claimer():
        barrier.wait()
        results.append(ledger.claim("C1", failures(100)).job_arns)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(len(r) for r in results) == 100
    assert frozenset().union(*results) == {arn(i) for i in range(100)}


# ---- subscriptions ---------------------------------------------------------------------------------------


@pytest.fixture
def subscriptions(digest_engine, clock):  # noqa: F811 - the imported fixture
    return SubscriptionStore(digest_engine, clock=clock)


def test_subscribe_creates_then_replaces_and_keeps_the_watermark(subscriptions):
    group = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
    created, is_new = subscriptions.subscribe("C1", dataset_group_arn=None, created_by="U1")
    assert is_new and created.dataset_group_arn is None and created.origin == ORIGIN_SLACK
    subscriptions.record_success("C1", T0)
    updated, is_new = subscriptions.subscribe("C1", dataset_group_arn=group, at_time="08:30", timezone="Europe/Berlin")
    assert not is_new
    assert (updated.dataset_group_arn, updated.at_time, updated.timezone) == (group, "08:30", "Europe/Berlin")
    assert updated.last_digest_at == T0
    assert updated.created_by == "U1"


def test_the_watermark_never_moves_backwards(subscriptions):
    subscriptions.subscribe("C1", dataset_group_arn=None)
    subscriptions.record_success("C1", T0)
    subscriptions.record_success("C1", T0 - timedelta(hours=1))
    assert subscriptions.get("C1").last_digest_at == T0


def test_unsubscribe_returns_what_was_removed(subscriptions):
    subscriptions.subscribe("C1", dataset_group_arn=None)
    assert subscriptions.unsubscribe("C1").channel_id == "C1"
    assert subscriptions.unsubscribe("C1") is None
    assert subscriptions.get("C1") is None


def test_configured_channels_are_synced_without_touching_slack_subscriptions(subscriptions):
    subscriptions.subscribe("CSLACK", dataset_group_arn=None)
    subscriptions.sync_configured(["C1", "C2", "CSLACK"], dataset_group_arn=None)
    by_channel = {s.channel_id: s for s in subscriptions.list()}
    assert set(by_channel) == {"C1", "C2", "CSLACK"}
    assert by_channel["C1"].origin == ORIGIN_SETTINGS and by_channel["CSLACK"].origin == ORIGIN_SLACK
    changes = subscriptions.sync_configured(["C2"], dataset_group_arn="arn:g")
    assert {s.channel_id for s in subscriptions.list()} == {"C2", "CSLACK"}
    assert subscriptions.get("C2").dataset_group_arn == "arn:g"
    assert len(changes) == 2

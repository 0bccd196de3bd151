"""DigestLedger and SubscriptionStore on SQLite and PostgreSQL: claims, expiry, release, races between claimers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from services.digest.outcome import CLAIM_LOST
from services.digest.service import DigestService
from services.models import ORIGIN_SETTINGS, ORIGIN_SLACK, DeletionJob
from services.storage.ledger import DigestLedger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.clock import CLOCK_START
from tests.helpers.digest_fakes import DIGEST_RENDERER, FakeGateway, FakePacer, FakeSlack, posted_arns

T0 = CLOCK_START
TTL = timedelta(minutes=15)


def arn(i: int) -> str:
    return f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}"


def failures(n: int, start: int = 0) -> list[tuple[str, datetime]]:
    return [(arn(i), T0 - timedelta(minutes=i)) for i in range(start, start + n)]


@pytest.fixture
def ledger(digest_engine, clock):
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
def subscriptions(digest_engine, clock):
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


# ---- renewing a claim before each post -------------------------------------------------------------------


def test_renew_keeps_a_live_claim_and_restarts_its_ttl(ledger, clock):
    claim = ledger.claim("C1", failures(3))
    clock.now += TTL - timedelta(seconds=1)
    assert ledger.renew(claim, claim.job_arns) == claim.job_arns
    clock.now += TTL - timedelta(seconds=1)  # 2 x TTL after the claim, under one TTL after the renewal
    assert ledger.claim("C1", failures(3)).job_arns == set(), "a renewed claim is live again"


def test_renew_answers_only_what_this_claim_still_holds(ledger, clock):
    ours = ledger.claim("C1", failures(4))
    ledger.mark_posted(ours, [arn(0)], message_ts="1.0")
    clock.now += TTL + timedelta(seconds=1)
    theirs = ledger.claim("C1", [(arn(1), T0)])  # another run takes one over
    assert theirs.job_arns == {arn(1)}
    assert ledger.renew(ours, [arn(0), arn(1)]) == frozenset(), "posted and taken-over failures are not ours"
    # Lapsed but not yet taken: not renewed either, exactly the rows claim() would take now.
    assert ledger.renew(ours, [arn(2), arn(3)]) == frozenset()
    assert ledger.renew(theirs, [arn(1)]) == {arn(1)}
    # And the lapsed ones are still there to be taken, by the rule renew() mirrors.
    assert ledger.claim("C1", failures(4)).job_arns == {arn(2), arn(3)}


# ---- a post slower than the claim TTL (issue: the same failure posted twice) -----------------------------


def _job(i: int):
    when = T0 - timedelta(hours=2, minutes=i)
    return DeletionJob(arn=arn(i), name=f"job-{i}", dataset_group_arn="arn:aws:personalize:us-east-1:1:dataset-group/g",
                       status="FAILED", created=when - timedelta(minutes=5), updated=when, failure_reason="boom")


class _Runs:
    """Digest runs sharing one database, gateway and Slack, as two processes would, on the test's clock."""

    def __init__(self, engine, clock, slack, jobs):
        self.engine, self.clock, self.slack = engine, clock, slack
        self.gateway = FakeGateway(jobs)
        self.subscriptions = SubscriptionStore(engine, clock=clock)
        self.subscriptions.subscribe("C1", dataset_group_arn=None)

    def service(self):
        # Each run its own ledger object, as each process has: only the database is shared.
        return DigestService(self.gateway, self.subscriptions, DigestLedger(self.engine, claim_ttl=TTL,
                             clock=self.clock), self.slack, renderer=DIGEST_RENDERER, lookback=timedelta(hours=24),
                             max_job_age=timedelta(hours=48), pacer=FakePacer(), clock=self.clock)


def test_a_slow_multi_message_digest_keeps_its_claims_so_a_concurrent_run_posts_nothing(
        digest_engine, clock):
    """Each post takes 8 minutes (under the TTL); the whole digest takes longer than the TTL. A run started while
    the second message is in flight must leave the later messages' failures alone: the first run renewed them."""
    jobs = [_job(i) for i in range(60)]
    second_run = []

    class SlowSlack(FakeSlack):
        def chat_postMessage(self, **params):  # noqa: N802 - slack_sdk's name
            clock.now += timedelta(minutes=8)
            if len(self.posts) == 1 and not second_run:  # the second message is in flight
                second_run.append(runs.service().run())
            return super().chat_postMessage(**params)

    slack = SlowSlack()
    runs = _Runs(digest_engine, clock, slack, jobs)

    first = runs.service().run()

    assert first.ok and first.outcome("C1").messages_posted >= 3
    assert second_run and second_run[0].outcome("C1").found == 0
    assert sorted(posted_arns(slack.posts)) == sorted(job.arn for job in jobs), "each failure exactly once"


def test_a_run_whose_claim_was_taken_over_does_not_post_the_next_message(digest_engine, clock):
    """The first post outlasts the TTL (a long wait inside it) and another run takes over and posts everything.
    The first run's renew() before its second message finds the claim gone: it posts nothing more."""
    jobs = [_job(i) for i in range(60)]
    stalled: list[dict] = []
    taken_over = []

    class StalledSlack(FakeSlack):
        def chat_postMessage(self, **params):  # noqa: N802 - slack_sdk's name
            if not stalled:
                stalled.append(params)
                clock.now += TTL + timedelta(minutes=1)
                taken_over.append(runs.service().run())
            return super().chat_postMessage(**params)

    slack = StalledSlack()
    runs = _Runs(digest_engine, clock, slack, jobs)

    first = runs.service().run()

    assert taken_over[0].ok, "the run that took over posts every failure"
    outcome = first.outcome("C1")
    assert outcome.error == CLAIM_LOST and outcome.messages_posted == 1
    shown = posted_arns(slack.posts)
    # Only the message already in flight when its claim lapsed can appear twice (the Slack client's capped
    # waits keep a real post far shorter than the TTL); nothing after it.
    repeated = {a for a in shown if shown.count(a) > 1}
    assert repeated == set(posted_arns(stalled))
    assert sorted(set(shown)) == sorted(job.arn for job in jobs)


def test_a_long_retry_after_fails_the_post_instead_of_outliving_the_claim(
        digest_engine, clock, make_settings, monkeypatch):
    """The reviewer's case through the bot's own Slack client: Slack answers 429 with Retry-After: 960 (longer
    than the 15-minute claim). Waiting it out would let another run take the claim and post, and then this post
    would land too. The client must not wait: the post fails, the claim is released, the next run posts once."""
    from app_factory import build_web_client
    from devtools.slack_stub import SlackStub

    jobs = [_job(0)]
    other_runs = []

    def sleep(seconds):
        # Any wait of the client's moves the test clock; a wait past the TTL lets another run start meanwhile.
        clock.now += timedelta(seconds=seconds)
        if clock.now - T0 > TTL and not other_runs:
            other_runs.append(runs.service().run())

    monkeypatch.setattr("time.sleep", sleep)
    with SlackStub() as stub:
        stub.queue_response("chat.postMessage", status=429, headers={"Retry-After": "960"})
        client = build_web_client(make_settings(slack_api_url=stub.api_url, digest_claim_ttl_minutes=15))
        runs = _Runs(digest_engine, clock, client, jobs)

        first = runs.service().run()
        assert not first.ok and first.outcome("C1").error == "ratelimited"
        assert not other_runs, "the client did not wait out the Retry-After"
        assert [c.status for c in stub.calls("chat.postMessage")] == [429]

        clock.now += timedelta(minutes=1)
        assert runs.service().run().ok, "the released failure is offered to the next run at once"
        assert posted_arns(stub.messages("C1")) == [arn(0)]

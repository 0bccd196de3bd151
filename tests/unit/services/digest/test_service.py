"""DigestService posting: splitting, pacing, refused posts, released claims, empty digests and dry runs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.access import AccessPolicy
from services.digest.service import ChannelPacer, DigestService
from services.errors import AwsUnreachable, NotSubscribed
from services.models import DeletionJob
from services.storage.ledger import DigestLedger
from services.storage.schema import digest_ledger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.blockkit import assert_within_limits
from tests.helpers.clock import CLOCK_START
from tests.helpers.digest_fakes import DIGEST_RENDERER, FakeGateway, FakePacer, FakeSlack, posted_arns

NOW = CLOCK_START
MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
RETAIL = "arn:aws:personalize:us-east-1:123456789012:dataset-group/retail"


def failed(i: int, *, hours_ago: float = 2, group: str = MEDIA, reason: str = "Input file is missing") -> DeletionJob:
    when = NOW - timedelta(hours=hours_ago, minutes=i)
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}", name=f"job-{i}",
                       dataset_group_arn=group, status="FAILED", created=when - timedelta(minutes=5), updated=when,
                       failure_reason=reason)


def arns(jobs) -> list[str]:
    return sorted(job.arn for job in jobs)


@pytest.fixture
def env(state_engine, clock):
    class Env:
        gateway = FakeGateway()
        slack = FakeSlack()
        pacer = FakePacer()
        subscriptions = SubscriptionStore(state_engine, clock=clock)
        ledger = DigestLedger(state_engine, claim_ttl=timedelta(minutes=15), clock=clock)
        engine = state_engine

        def service(self, **kwargs):
            kwargs.setdefault("lookback", timedelta(hours=24))
            kwargs.setdefault("max_job_age", timedelta(hours=48))
            kwargs.setdefault("renderer", DIGEST_RENDERER)
            return DigestService(self.gateway, self.subscriptions, self.ledger, self.slack, pacer=self.pacer,
                                 clock=clock, **kwargs)

        def ledger_rows(self) -> int:
            with self.engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(digest_ledger)).scalar()

    env = Env()
    env.clock = clock
    return env


def test_a_refused_post_fails_loudly_marks_nothing_and_the_next_run_reports_everything(env, caplog):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    jobs = [failed(i) for i in range(3)]
    env.gateway.jobs = list(jobs)
    env.slack.refuse("C1", "not_in_channel")
    service = env.service()

    with caplog.at_level(logging.ERROR):
        run = service.run()

    assert not run.ok and run.outcome("C1").error == "not_in_channel"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("C1" in line and "/invite @deletion-jobs" in line for line in errors), errors
    assert env.subscriptions.get("C1").last_digest_at is None
    assert env.ledger.posted_among("C1", arns(jobs)) == set()

    env.clock.now += timedelta(hours=1)
    again = service.run()
    assert again.ok
    assert sorted(posted_arns(env.slack.posts[1:])) == arns(jobs)


def test_failures_of_a_refused_post_come_back_even_after_another_run_moved_the_watermark(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i, hours_ago=20) for i in range(2)]
    env.slack.refuse("C1", "channel_not_found")
    service = env.service()
    assert not service.run().ok
    # A concurrent run (which found nothing to claim) recorded success meanwhile; a day passes.
    env.subscriptions.record_success("C1", NOW)
    env.clock.now = NOW + timedelta(hours=30)

    run = service.run()

    assert run.ok
    assert sorted(posted_arns(env.slack.posts[1:])) == arns(env.gateway.jobs)


def test_a_large_digest_is_split_paced_and_each_part_marked(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i, group=MEDIA if i % 3 else RETAIL) for i in range(60)]

    run = env.service().run()

    assert run.ok
    assert len(env.slack.posts) >= 3 and run.outcome("C1").messages_posted == len(env.slack.posts)
    for post in env.slack.posts:
        assert_within_limits(post)
    assert sorted(posted_arns(env.slack.posts)) == arns(env.gateway.jobs)
    assert env.pacer.waits == ["C1"] * len(env.slack.posts)
    assert env.ledger.posted_among("C1", arns(env.gateway.jobs)) == set(arns(env.gateway.jobs))


def test_a_failure_mid_digest_keeps_the_posted_parts_and_offers_only_the_rest(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(60)]
    service = env.service()
    original = env.slack.chat_postMessage
    calls = {"n": 0}

    def second_post_rate_limited(**params):
        calls["n"] += 1
        if calls["n"] == 2:
            env.slack.refuse("C1", "ratelimited")
        return original(**params)

    env.slack.chat_postMessage = second_post_rate_limited
    run = service.run()
    assert not run.ok and run.outcome("C1").error == "ratelimited"
    first_part = posted_arns(env.slack.posts[:1])

    env.slack.chat_postMessage = original
    env.clock.now += timedelta(hours=1)
    assert service.run().ok
    later = posted_arns(env.slack.posts[2:])
    assert sorted(first_part + later) == arns(env.gateway.jobs)
    assert not set(first_part) & set(later)


def test_a_token_error_stops_the_run_for_every_channel(env):
    for channel in ("C1", "C2"):
        env.subscriptions.subscribe(channel, dataset_group_arn=None)
    env.gateway.jobs = [failed(0)]
    env.slack.refuse("C1", "invalid_auth")

    run = env.service().run()

    assert [o.error for o in run.outcomes] == ["invalid_auth", "invalid_auth"]
    assert len(env.slack.posts) == 1, "C2 is not tried with a token Slack already refused"
    assert env.ledger.pending("C2") == {}, "nothing claimed for a channel that was not tried"


def test_nothing_failed_posts_nothing_by_default_and_one_line_when_asked(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    run = env.service().run()
    assert run.ok and env.slack.posts == []
    assert env.subscriptions.get("C1").last_digest_at == NOW

    env.clock.now += timedelta(days=1)
    env.service(post_empty=True).run()
    assert len(env.slack.posts) == 1
    assert env.slack.posts[0]["text"].startswith("No failed deletion jobs since")


def test_a_dry_run_writes_nothing_and_includes_configured_channels(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(3)]
    service = env.service(configured_channels=["CCONF"])

    run = service.run(dry_run=True)

    assert {o.channel_id for o in run.outcomes} == {"C1", "CCONF"}
    assert all(o.found == 3 and len(o.messages) == 1 for o in run.outcomes)
    assert env.slack.posts == [] and env.ledger_rows() == 0
    assert env.subscriptions.get("C1").last_digest_at is None
    assert env.subscriptions.get("CCONF") is None


def test_a_dry_run_whose_configured_group_cannot_be_resolved_fails_without_raising(env, caplog):
    class Unreachable:
        def resolve(self, token):
            raise AwsUnreachable("no route", code="EndpointConnectionError")

    service = env.service(configured_channels=["CCONF"], configured_group="media-feed", resolver=Unreachable())

    with caplog.at_level(logging.ERROR):
        run = service.run(dry_run=True)

    assert not run.ok and run.error == "AwsUnreachable" and run.outcomes == []
    assert env.gateway.list_calls == 0 and env.slack.posts == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "digest run stopped: could not resolve DIGEST_DATASET_GROUP through AWS (AwsUnreachable)"]
    assert not [r for r in caplog.records if r.exc_info]


def test_jobs_of_groups_outside_the_allowlist_are_left_out(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(0, group=MEDIA), failed(1, group=RETAIL)]
    access = AccessPolicy(dataset_groups=("media-feed",))

    env.service(visible=access.job_visible).run()

    assert posted_arns(env.slack.posts) == [failed(0).arn]


def test_unposted_failures_aws_no_longer_lists_are_dropped(env):
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(0), failed(1)]
    env.slack.refuse("C1", "not_in_channel")
    service = env.service()
    service.run()
    env.gateway.jobs = [failed(1)]  # job-0's dataset group was deleted

    assert service.run().ok
    assert posted_arns(env.slack.posts[1:]) == [failed(1).arn]
    assert env.ledger.pending("C1") == {}


def test_digest_now_needs_a_subscription(env):
    with pytest.raises(NotSubscribed):
        env.service().run_channel("CNONE")


def test_the_pacer_spaces_posts_in_one_channel_only():
    now = {"t": 100.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now["t"] += seconds

    pacer = ChannelPacer(1.0, clock=lambda: now["t"], sleep=sleep)
    pacer.wait("C1")
    pacer.wait("C2")
    pacer.wait("C1")
    now["t"] += 0.25
    pacer.wait("C1")
    assert sleeps == [1.0, 0.75]


def test_the_database_failing_mid_digest_stops_the_run_and_loses_nothing(env, caplog):
    from sqlalchemy.exc import OperationalError

    from services.digest.service import DATABASE_ERROR

    for channel in ("C1", "C2"):
        env.subscriptions.subscribe(channel, dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(60)]
    service = env.service()
    original = env.ledger.mark_posted
    marks = {"n": 0}

    def mark_then_fail(claim, job_arns, *, message_ts):
        marks["n"] += 1
        if marks["n"] == 2:  # the second message reached Slack; its mark does not reach the database
            raise OperationalError("UPDATE digest_ledger ...", {}, Exception("server closed the connection"))
        return original(claim, job_arns, message_ts=message_ts)

    env.ledger.mark_posted = mark_then_fail
    with caplog.at_level(logging.ERROR):
        run = service.run()

    assert not run.ok
    c1, c2 = run.outcome("C1"), run.outcome("C2")
    assert (c1.error, c1.messages_posted, c2.error) == (DATABASE_ERROR, 1, DATABASE_ERROR)
    assert {p["channel"] for p in env.slack.posts} == {"C1"}, "no channel is tried once the database is gone"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("C1" in e and "database does not answer" in e and "could not be recorded" in e for e in errors), errors
    first, second = posted_arns(env.slack.posts[:1]), posted_arns(env.slack.posts[1:2])
    assert env.ledger.posted_among("C1", arns(env.gateway.jobs)) == set(first)

    env.ledger.mark_posted = original
    env.clock.now += timedelta(minutes=16)  # the lost run's claims expire
    assert service.run().ok
    later = posted_arns([p for p in env.slack.posts[2:] if p["channel"] == "C1"])
    assert sorted(set(first) | set(later)) == arns(env.gateway.jobs), "every failure reaches the channel"
    assert not set(first) & set(later), "what was recorded is not posted again"
    # The second message's failures reached Slack but were never recorded: they may be posted again (a repeat
    # is the price of not losing one).
    assert set(second) <= set(later)


def test_a_database_down_before_any_channel_fails_the_run_without_raising(env, caplog):
    from sqlalchemy.exc import OperationalError

    from services.digest.service import DATABASE_ERROR

    def down():
        raise OperationalError("SELECT ...", {}, Exception("connection refused"))

    env.subscriptions.list = down
    with caplog.at_level(logging.ERROR):
        run = env.service().run()
    assert not run.ok and run.error == DATABASE_ERROR and run.outcomes == []
    assert any("connection refused" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_the_digest_posts_what_the_injected_renderer_renders_and_marks_exactly_its_jobs(env):
    """services/ never import blocks/: app_factory hands the renderer in, and the run posts its messages as they are."""
    from services.digest.render import DigestRenderer

    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(3)]
    shown_first = sorted(env.gateway.jobs, key=lambda job: job.arn)[:2]

    def two_messages(jobs, *, window, dataset_group_arn):
        first = [job for job in jobs if job in shown_first]
        rest = [job for job in jobs if job not in shown_first]
        return [({"text": f"part {i}", "blocks": []}, part) for i, part in enumerate((first, rest), start=1)]

    def nothing(*, window, dataset_group_arn):
        return {"text": "nothing", "blocks": []}

    run = env.service(renderer=DigestRenderer(two_messages, nothing)).run()

    assert run.ok and run.outcome("C1").messages_posted == 2 and run.outcome("C1").reported == 3
    assert [post["text"] for post in env.slack.posts] == ["part 1", "part 2"]
    marked = env.ledger.posted_among("C1", arns(env.gateway.jobs))
    assert marked == set(arns(env.gateway.jobs))


def unposted_still_claimed(env) -> int:
    with env.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(digest_ledger).where(
            digest_ledger.c.posted_at.is_(None), digest_ledger.c.claim_token.is_not(None))).scalar()


def test_a_stop_requested_while_a_post_is_in_flight_finishes_it_and_releases_the_rest(env, caplog):
    from services.digest.service import STOPPED

    for channel in ("C1", "C2"):
        env.subscriptions.subscribe(channel, dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(60)]  # several messages per channel
    service = env.service()
    post = env.slack.chat_postMessage

    def post_while_stopped(**params):
        service.request_stop()  # SIGTERM arrives while this post is in flight
        return post(**params)

    env.slack.chat_postMessage = post_while_stopped
    with caplog.at_level(logging.WARNING):
        run = service.run()

    assert not run.ok and [o.error for o in run.outcomes] == [STOPPED, STOPPED]
    assert len(env.slack.posts) == 1, "the post in flight, and no other"
    first = posted_arns(env.slack.posts)
    assert env.ledger.posted_among("C1", arns(env.gateway.jobs)) == set(first), "it was recorded"
    assert unposted_still_claimed(env) == 0, "the rest was released, not left to the claim TTL"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("stopped on request" in r.getMessage() for r in caplog.records)

    env.slack.chat_postMessage = post
    assert env.service().run().ok  # the next process, at once: no TTL to wait for
    for channel in ("C1", "C2"):
        assert sorted(posted_arns(env.slack.posted_to(channel))) == arns(env.gateway.jobs), "each failure once"


def test_a_stop_requested_before_the_read_claims_and_posts_nothing(env):
    from services.digest.service import STOPPED

    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    env.gateway.jobs = [failed(i) for i in range(5)]
    service = env.service()
    service.request_stop()
    run = service.run()
    assert run.error == STOPPED and not run.ok
    assert (env.gateway.list_calls, env.slack.posts, env.ledger_rows()) == (0, [], 0)

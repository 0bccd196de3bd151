"""WatchPoller: what a poll costs in AWS calls, and that every watcher is told exactly once whatever Slack does."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest

from blocks.watch import render_watch_notice
from services.access import AccessPolicy
from services.audit import AuditLog
from services.aws.dataset_groups import DatasetGroupResolver
from services.storage.store import StateStore
from services.storage.watches import WatchStore
from services.watches.poller import NOTICE_EVENT, WatchPoller
from services.watches.service import WatchService
from tests.helpers.clock import Clock
from tests.helpers.watch_fakes import NOW, RETAIL, DmSlack, WatchGateway, job_arn, make_job


class Env:
    def __init__(self, url: str):
        self.state = StateStore.from_url(url)
        self.state.create_schema()
        self.clock = Clock(NOW)
        self.gateway = WatchGateway()
        self.slack = DmSlack(self.clock)
        self.access = AccessPolicy()
        self.store = WatchStore(self.state.engine, claim_ttl=timedelta(minutes=15), clock=self.clock)

    def add(self, *jobs) -> None:
        self.gateway.jobs.extend(jobs)

    def watch(self, user: str, name: str) -> None:
        service = WatchService(self.gateway, DatasetGroupResolver(self.gateway), self.access, self.store)
        assert service.start(name, user_id=user).watch is not None
        self.gateway.describe_calls.clear()

    def poller(self, *, max_calls: int = 50, access=None, **kwargs) -> WatchPoller:
        return WatchPoller(self.gateway, self.store, self.slack, access or self.access, render_watch_notice,
                           audit=AuditLog(self.gateway), max_calls=max_calls, clock=self.clock, **kwargs)

    def reset_calls(self) -> None:
        self.gateway.list_calls = 0
        self.gateway.describe_calls.clear()


@pytest.fixture
def env(tmp_path):
    env = Env(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    yield env
    env.state.engine.dispose()


def texts(messages: list[dict]) -> str:
    return json.dumps(messages)


def test_many_watchers_of_one_job_cost_one_call_and_each_is_told_once(env):
    env.add(make_job("gdpr-1"))
    for user in ("U1", "U2", "U3"):
        env.watch(user, "gdpr-1")

    report = env.poller().poll()
    assert (report.aws_calls, report.notified) == (1, 0) and env.gateway.describe_calls == [job_arn("gdpr-1")]

    env.gateway.move("gdpr-1", "IN_PROGRESS")
    env.poller().poll()
    assert env.slack.posts == []
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=42, at=NOW + timedelta(hours=2))
    env.reset_calls()
    report = env.poller().poll()
    assert report.aws_calls == 1 and report.notified == 3
    for user in ("U1", "U2", "U3"):
        [message] = env.slack.told(user)
        assert "*42*" in texts([message]) and "media-feed" in texts([message])
        assert message["metadata"]["event_type"] == NOTICE_EVENT
    assert env.poller().poll().notified == 0 and len(env.slack.posts) == 3
    assert env.store.all() == []


def test_a_group_with_several_watched_jobs_is_read_in_one_page_and_a_job_beyond_it_is_described(env):
    old = make_job("old-one", hours_ago=50)
    env.add(old, *(make_job(f"job-{i}", hours_ago=1 + i / 100) for i in range(120)), make_job("r-1", group=RETAIL))
    for name in ("job-0", "job-5", "job-50", "old-one", "r-1"):
        env.watch("U1", name)

    report = env.poller().poll()

    # media-feed: one List page finds job-0, job-5, job-50; old-one is past the first 100 jobs: one Describe.
    # retail has one watched job: a Describe, which is cheaper than a page.
    assert env.gateway.list_calls == 1
    assert sorted(env.gateway.describe_calls) == sorted([job_arn("old-one"), job_arn("r-1")])
    assert report.checked == 5
    env.reset_calls()
    env.poller().poll()
    assert env.gateway.list_calls == 1 and sorted(env.gateway.describe_calls) == sorted(
        [job_arn("old-one"), job_arn("r-1")]), "old-one is remembered as beyond the first page"


def test_watched_jobs_beyond_their_groups_first_page_are_remembered_and_not_listed_again(env):
    env.add(*(make_job(f"new-{i}", hours_ago=1 + i / 100) for i in range(150)),
            make_job("old-a", hours_ago=30), make_job("old-b", hours_ago=31))
    env.watch("U1", "old-a")
    env.watch("U1", "old-b")

    first = env.poller().poll()
    assert (env.gateway.list_calls, len(env.gateway.describe_calls)) == (1, 2), "the page did not have them"
    env.reset_calls()
    second = env.poller().poll()
    assert (env.gateway.list_calls, len(env.gateway.describe_calls)) == (0, 2)
    assert first.checked == second.checked == 2


def test_a_job_seen_finished_in_a_page_is_described_for_its_count(env):
    env.add(make_job("a"), make_job("b"))
    env.watch("U1", "a")
    env.watch("U1", "b")
    env.gateway.move("a", "COMPLETED", num_deleted=9)
    env.gateway.move("b", "FAILED", reason="Access denied to s3://acme/b.csv")

    report = env.poller().poll()

    assert env.gateway.list_calls == 1 and sorted(env.gateway.describe_calls) == [job_arn("a"), job_arn("b")]
    assert report.notified == 2
    told = texts(env.slack.told("U1"))
    assert "*9*" in told and "Access denied to s3://acme/b.csv" in told and "s3://acme-gdpr/b.csv" in told


def test_the_call_budget_holds_and_the_least_recently_checked_go_first(env):
    groups = [f"arn:aws:personalize:us-east-1:123456789012:dataset-group/g{i}" for i in range(6)]
    env.add(*(make_job(f"j{i}", group=groups[i]) for i in range(6)))
    for i in range(6):
        env.watch("U1", f"j{i}")

    env.clock.now = NOW + timedelta(minutes=1)
    first = env.poller(max_calls=4).poll()
    assert first.aws_calls == 4 and env.gateway.describe_calls == [job_arn(f"j{i}") for i in range(4)]
    env.reset_calls()
    env.clock.now = NOW + timedelta(minutes=2)
    second = env.poller(max_calls=4).poll()
    assert second.aws_calls == 4
    assert env.gateway.describe_calls == [job_arn(n) for n in ("j4", "j5", "j0", "j1")]


def test_a_refused_dm_is_logged_and_ends_the_watch(env, caplog):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.watch("U2", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=1)
    env.slack.refuse("U1", "user_not_found")

    with caplog.at_level(logging.ERROR):
        report = env.poller().poll()

    assert (report.notified, report.ended_refused) == (1, 1)
    assert any("user_not_found" in r.getMessage() and "U1" in r.getMessage() for r in caplog.records)
    assert env.store.all() == [] and len(env.slack.told("U2")) == 1
    assert "Traceback" not in caplog.text


def test_a_token_refusal_ends_nothing_and_a_later_poll_tells_everyone(env, caplog):
    env.add(make_job("gdpr-1"))
    for user in ("U1", "U2"):
        env.watch(user, "gdpr-1")
    env.gateway.move("gdpr-1", "FAILED", reason="nope")
    env.slack.refuse("U1", "invalid_auth")

    with caplog.at_level(logging.ERROR):
        first = env.poller().poll()
    assert (first.notified, first.unsent) == (0, 2) and len(env.store.all()) == 2
    assert [p["channel"] for p in env.slack.posts] == ["U1"], "every DM would fail alike: the poll stops"
    assert sum("invalid_auth" in r.getMessage() for r in caplog.records) == 1

    second = env.poller().poll()
    assert second.notified == 2 and env.store.all() == []
    assert [len(env.slack.told(user)) for user in ("U1", "U2")] == [1, 1]


@pytest.mark.parametrize(("code", "status"), [("ratelimited", 429), ("internal_error", 200)])
def test_a_post_slack_did_not_take_is_sent_by_the_next_poll_once(env, code, status):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=3)
    env.slack.refuse("U1", code, status=status)

    assert env.poller().poll().notified == 0
    assert env.poller().poll().notified == 1
    assert env.poller().poll().notified == 0
    assert len(env.slack.told("U1")) == 1 and env.slack.history_calls == 0


def test_a_post_whose_answer_was_lost_is_found_in_the_dm_and_not_sent_again(env):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=3)
    env.slack.lose_answer("U1")

    first = env.poller().poll()
    assert first.notified == 0 and len(env.slack.told("U1")) == 1
    second = env.poller().poll()

    assert second.found_posted == 1 and env.slack.history_calls == 1
    assert len(env.slack.told("U1")) == 1 and len(env.slack.posts) == 1
    assert env.store.all() == []


def test_a_post_in_doubt_that_never_arrived_is_sent_once_more(env):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=3)
    env.slack.refuse("U1", "internal_error", status=503)  # a 5xx: Slack may or may not have posted it

    env.poller().poll()
    assert env.slack.told("U1") == []
    second = env.poller().poll()

    assert second.notified == 1 and env.slack.history_calls == 1 and len(env.slack.told("U1")) == 1


def test_a_dm_that_cannot_be_read_holds_the_message_rather_than_risk_a_second(env, caplog):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=3)
    env.slack.lose_answer("U1")
    env.poller().poll()
    env.slack.history_error = "missing_scope"

    with caplog.at_level(logging.ERROR):
        held = env.poller().poll()
    assert held.notified == 0 and held.unsent == 1 and len(env.slack.posts) == 1
    assert any("im:history" in r.getMessage() for r in caplog.records)

    env.slack.history_error = None
    assert env.poller().poll().found_posted == 1 and len(env.slack.posts) == 1


def test_a_poller_that_died_holding_a_claim_is_taken_over_after_the_claim_ttl(env):
    env.add(make_job("gdpr-1"))
    env.watch("U1", "gdpr-1")
    env.gateway.move("gdpr-1", "COMPLETED", num_deleted=3)
    env.store.record(finished=[env.gateway.describe_job(job_arn("gdpr-1"))])
    [watch] = env.store.all()
    dead = env.store.claim(watch.id)
    assert env.store.begin_post(dead)  # ... and the process died before its post reached Slack

    assert env.poller().poll().notified == 0, "a live claim is left alone"
    env.clock.now = NOW + timedelta(minutes=16)
    later = env.poller().poll()
    assert later.notified == 1 and env.slack.history_calls == 1 and len(env.slack.told("U1")) == 1


def test_owners_and_groups_no_longer_allowed_end_silently_with_a_warning_and_an_audit_line(env, caplog):
    env.add(make_job("m-1"), make_job("r-1", group=RETAIL), make_job("m-2"))
    env.watch("U1", "m-1")
    env.watch("U2", "r-1")
    env.watch("U3", "m-2")
    env.gateway.move("m-2", "COMPLETED", num_deleted=5)
    narrowed = AccessPolicy(user_ids=("U1", "U2"), dataset_groups=("media-feed",))

    with caplog.at_level(logging.INFO):
        report = env.poller(access=narrowed).poll()

    assert report.ended_access == 2 and env.slack.posts == []
    assert [w.user_id for w in env.store.all()] == ["U1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("U2" in w and "dataset group" in w for w in warnings) and any("U3" in w for w in warnings)
    audits = [json.loads(r.getMessage()) for r in caplog.records if r.name == "deletion_jobs.audit"]
    assert sorted(a["user"] for a in audits if a["audit"] == "watch_ended") == ["U2", "U3"]
    assert all(a["outcome"] == "refused" for a in audits)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_access_is_checked_again_right_before_sending(env):
    env.add(make_job("m-1"))
    env.watch("U1", "m-1")
    env.gateway.move("m-1", "COMPLETED", num_deleted=5)
    # The outcome is recorded under the old rules; the send finds the owner gone.
    env.store.record(finished=[env.gateway.describe_job(job_arn("m-1"))])
    poller = env.poller(access=AccessPolicy(user_ids=("U9",)))
    report = poller.poll()
    assert report.ended_access == 1 and env.slack.posts == [] and env.store.all() == []


def test_a_watch_older_than_its_limit_ends_with_a_still_running_message(env):
    env.add(make_job("slow", status="IN_PROGRESS", hours_ago=30))
    env.watch("U1", "slow")
    env.clock.now = NOW + timedelta(days=7, minutes=1)

    report = env.poller(max_age=timedelta(days=7)).poll()

    assert (report.expired, report.notified) == (1, 1)
    [message] = env.slack.told("U1")
    blocks = json.dumps(env.slack.posts[0]["blocks"])
    assert "still in progress" in message["text"] and "stopped watching" in blocks and "running since" in blocks
    assert env.store.all() == []


def test_a_job_aws_no_longer_knows_ends_its_watches_with_a_message(env):
    env.add(make_job("gone"))
    env.watch("U1", "gone")
    env.gateway.jobs.clear()

    report = env.poller().poll()

    assert report.notified == 1 and "no longer knows" in json.dumps(env.slack.posts[0]["blocks"])


def test_aws_failing_mid_poll_keeps_what_was_learnt_and_raises_nothing(env, caplog):
    groups = [f"arn:aws:personalize:us-east-1:123456789012:dataset-group/g{i}" for i in range(3)]
    env.add(*(make_job(f"j{i}", group=groups[i]) for i in range(3)))
    for i in range(3):
        env.watch("U1", f"j{i}")
        env.gateway.move(f"j{i}", "FAILED", reason="x")
    env.gateway.throttle_after = 1

    with caplog.at_level(logging.WARNING):
        report = env.poller().poll()

    assert report.aws_error == "AwsThrottled" and report.notified == 1
    assert "Traceback" not in caplog.text


def test_two_pollers_at_once_tell_each_watcher_exactly_once(database_url):  # noqa: F811 - the fixture
    env = Env(database_url)
    try:
        env.add(*(make_job(f"j{i}") for i in range(10)))
        users = [f"U{u}" for u in range(6)]
        for user in users:
            for i in range(10):
                env.watch(user, f"j{i}")
        for i in range(10):
            env.gateway.move(f"j{i}", "COMPLETED", num_deleted=i)
        pollers = [env.poller() for _ in range(2)]
        threads = [threading.Thread(target=p.poll) for p in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for user in users:
            told = [m["metadata"]["event_payload"]["job_arn"] for m in env.slack.told(user)]
            assert sorted(told) == sorted(job_arn(f"j{i}") for i in range(10)), user
        assert env.store.all() == []
    finally:
        env.state.engine.dispose()


def test_messages_are_interleaved_across_people_so_the_per_dm_pace_costs_no_one_a_wait(env):
    env.add(*(make_job(f"j{i}") for i in range(3)))
    for user in ("U1", "U2"):
        for i in range(3):
            env.watch(user, f"j{i}")
    for i in range(3):
        env.gateway.move(f"j{i}", "COMPLETED", num_deleted=i)

    class Pacer:
        waits: list[str] = []

        def wait(self, channel):
            self.waits.append(channel)

    pacer = Pacer()
    env.poller(pacer=pacer).poll()
    assert pacer.waits == ["U1", "U2"] * 3

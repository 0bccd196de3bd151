"""Stuck jobs and full PENDING queues: the pure rules (services/digest/attention.py), and the digest that shows
them (read back far enough, posted even with nothing failed, never in the ledger)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from blocks.digest import attention_blocks, render_digest, render_no_failures
from services.access import AccessPolicy
from services.digest.attention import AttentionRules, attention_for, full_pending_queues, stuck_jobs
from services.digest.render import DigestRenderer
from services.digest.service import DigestService
from services.models import DeletionJob
from services.storage.ledger import DigestLedger
from services.storage.store import StateStore
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.blockkit import assert_valid_message
from tests.helpers.clock import Clock
from tests.helpers.digest_fakes import FakeGateway, FakePacer, FakeSlack, posted_arns

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
RETAIL = "arn:aws:personalize:us-east-1:123456789012:dataset-group/retail"
RULES = AttentionRules(stuck_after=timedelta(hours=24), lookback=timedelta(days=7), max_pending=5)


def job(name: str, status: str, *, hours_ago: float, group: str = MEDIA, reason: str | None = None) -> DeletionJob:
    created = NOW - timedelta(hours=hours_ago)
    updated = created + timedelta(minutes=30) if status == "FAILED" else created
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{name}", name=name,
                       dataset_group_arn=group, status=status, created=created, updated=updated,
                       failure_reason=reason)


def test_a_running_job_created_more_than_the_limit_ago_is_stuck_longest_first():
    jobs = [job("young", "PENDING", hours_ago=23), job("old", "IN_PROGRESS", hours_ago=50),
            job("older", "PENDING", hours_ago=100), job("done", "COMPLETED", hours_ago=100),
            job("failed", "FAILED", hours_ago=100, reason="x")]
    stuck = stuck_jobs(jobs, now=NOW, stuck_after=timedelta(hours=24))
    assert [(s.job.name, s.running_for) for s in stuck] == [("older", timedelta(hours=100)),
                                                            ("old", timedelta(hours=50))]


def test_a_group_with_five_pending_jobs_has_a_full_queue():
    jobs = [job(f"m{i}", "PENDING", hours_ago=1) for i in range(5)]
    jobs += [job(f"r{i}", "PENDING", hours_ago=1, group=RETAIL) for i in range(4)]
    jobs += [job("r-running", "IN_PROGRESS", hours_ago=1, group=RETAIL)]
    queues = full_pending_queues(jobs, max_pending=5)
    assert [(q.dataset_group_arn, q.pending) for q in queues] == [(MEDIA, 5)]


def test_attention_keeps_to_the_subscriptions_scope_and_the_allowlist():
    jobs = [job("m", "PENDING", hours_ago=30), job("r", "PENDING", hours_ago=30, group=RETAIL)]
    assert [s.job.name for s in attention_for(jobs, RULES, now=NOW, dataset_group_arn=RETAIL).stuck] == ["r"]
    visible = AccessPolicy(dataset_groups=("media-feed",)).job_visible
    assert [s.job.name for s in attention_for(jobs, RULES, now=NOW, visible=visible).stuck] == ["m"]
    assert not attention_for([job("ok", "COMPLETED", hours_ago=30)], RULES, now=NOW)


def test_the_sections_name_each_job_and_group_and_stay_within_limits():
    jobs = [job(f"stuck-<!channel>-{i}", "IN_PROGRESS", hours_ago=30 + i) for i in range(200)]
    jobs += [job(f"p{i}", "PENDING", hours_ago=1) for i in range(6)]
    blocks = attention_blocks(attention_for(jobs, RULES, now=NOW))
    stuck_text, queue_text = (b["text"]["text"] for b in blocks)
    assert "*Still running* · 200 deletion jobs created more than 1 d ago" in stuck_text
    shown = stuck_text.count("\n• ")
    assert "In progress for 9 d 13 h" in stuck_text and 10 <= shown <= 25
    assert f"…and {200 - shown} more" in stuck_text
    assert "<!channel>" not in stuck_text
    assert "*media-feed* has *6* PENDING deletion jobs" in queue_text and "will fail until one of them starts" \
        in queue_text
    assert_valid_message({"text": "x", "blocks": blocks})


@pytest.fixture
def env(tmp_path):
    state = StateStore.from_url(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    state.create_schema()
    clock = Clock(NOW)

    class Env:
        gateway = FakeGateway()
        slack = FakeSlack()
        subscriptions = SubscriptionStore(state.engine, clock=clock)
        ledger = DigestLedger(state.engine, claim_ttl=timedelta(minutes=15), clock=clock)

        def service(self, **kwargs):
            kwargs.setdefault("attention", RULES)
            kwargs.setdefault("renderer", DigestRenderer(render_digest, render_no_failures))
            return DigestService(self.gateway, self.subscriptions, self.ledger, self.slack, pacer=FakePacer(),
                                 clock=clock, lookback=timedelta(hours=24), max_job_age=timedelta(hours=48), **kwargs)

    env = Env()
    env.clock = clock
    env.subscriptions.subscribe("C1", dataset_group_arn=None)
    yield env
    state.engine.dispose()


def test_stuck_jobs_alone_are_news_even_when_empty_digests_are_not_posted(env):
    env.gateway.jobs = [job("stuck-1", "IN_PROGRESS", hours_ago=30), job("ok", "COMPLETED", hours_ago=2)]

    first = env.service(post_empty=False).run()

    assert first.ok and len(env.slack.posts) == 1
    text = json.dumps(env.slack.posts[0])
    assert "Still running" in text and "stuck-1" in text and "No failed deletion jobs since" in text
    assert posted_arns(env.slack.posts) == [], "a stuck job is not a failure: nothing goes to the ledger"
    assert env.ledger.pending("C1") == {}
    env.clock.now = NOW + timedelta(days=1)
    env.service(post_empty=False).run()
    assert len(env.slack.posts) == 2 and "stuck-1" in json.dumps(env.slack.posts[1]), "shown while it stays stuck"


def test_failures_come_first_and_what_needs_attention_closes_the_digest(env):
    env.gateway.jobs = [job("failed-1", "FAILED", hours_ago=3, reason="Access denied"),
                        job("stuck-1", "PENDING", hours_ago=40),
                        *(job(f"queued-{i}", "PENDING", hours_ago=1) for i in range(5))]

    run = env.service().run()

    assert run.ok and len(env.slack.posts) == 1
    [message] = env.slack.posts
    assert posted_arns([message]) == [env.gateway.jobs[0].arn]
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert "Still running" in texts[-2] and "stuck-1" in texts[-2]
    assert "*media-feed* has *6* PENDING" in texts[-1]
    assert "still running" in message["text"] and "full PENDING queue" in message["text"]


def test_the_digest_reads_back_to_the_stuck_lookback_and_no_further(env):
    # One job an hour over ten days, newest first: 240 jobs, 3 pages of 100.
    env.gateway.jobs = [job(f"j{i}", "COMPLETED", hours_ago=i + 1) for i in range(240)]
    env.gateway.jobs[150] = job("stuck-150h", "IN_PROGRESS", hours_ago=151)

    without = env.service(attention=None).run()
    assert without.list_calls == 1 and env.slack.posts == []

    env.gateway.list_calls = 0
    with_lookback = env.service().run()
    # Seven days back is 168 jobs: the second page reaches past it; the third is never read.
    assert with_lookback.list_calls == 2
    assert "stuck-150h" in json.dumps(env.slack.posts)


def test_a_dry_run_shows_what_needs_attention(env):
    env.gateway.jobs = [job("stuck-1", "IN_PROGRESS", hours_ago=30)]
    run = env.service().run(dry_run=True)
    [outcome] = run.outcomes
    assert outcome.found == 0 and "stuck-1" in json.dumps(outcome.messages)
    assert env.slack.posts == []

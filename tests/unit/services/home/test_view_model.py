"""HomeModelBuilder: one person's Home tab from the shared snapshot, filtered by ALLOWED_DATASET_GROUPS in every
part, with the workspace's digest subscriptions read from the database each time."""

from __future__ import annotations

from datetime import timedelta

from services.access import AccessPolicy
from services.home.snapshot import SnapshotState
from services.home.view_model import MAX_FAILURES, HomeModelBuilder
from services.models import ORIGIN_SLACK, GroupActivity, Subscription
from tests.helpers.home_fakes import NOW, group_arn, job, snapshot


class Subscriptions:
    def __init__(self, subscriptions):
        self.subscriptions = subscriptions
        self.reads = 0

    def list(self):
        self.reads += 1
        return list(self.subscriptions)


def subscription(channel: str, group: str | None) -> Subscription:
    return Subscription(channel_id=channel, dataset_group_arn=group_arn(group) if group else None, at_time=None,
                        timezone=None, origin=ORIGIN_SLACK, created_by="U1", created_at=NOW, last_digest_at=None)


def activity(name: str, *, failures: int = 0, pending: int = 0, completed: int = 0) -> GroupActivity:
    failed = tuple(job(f"{name}-f{i}", name, "FAILED", created=NOW - timedelta(hours=i + 1, minutes=len(name)),
                       reason="r") for i in range(failures))
    return GroupActivity(group_arn(name), name, {"COMPLETED": completed, "FAILED": failures, "PENDING": pending},
                         pending=pending, recent_failures=failed[:10], recent_failure_count=failures)


def builder(access=None, subscriptions=None, **kwargs) -> HomeModelBuilder:
    return HomeModelBuilder(access or AccessPolicy(), subscriptions or Subscriptions([]),
                            lambda sub: "every day at 09:00 (UTC)", refresh_seconds=300, clock=lambda: NOW,
                            **kwargs)


def test_allowed_dataset_groups_filters_groups_failures_and_subscriptions():
    access = AccessPolicy(dataset_groups=("media-feed",))
    subs = Subscriptions([subscription("C1", None), subscription("C2", "media-feed"), subscription("C3", "secret")])
    state = SnapshotState(snapshot([activity("media-feed", failures=2), activity("secret", failures=3)]))
    model = builder(access, subs).build("U1", state)
    assert [g.name for g in model.groups] == ["media-feed"]
    assert {f.job.dataset_group_arn for f in model.failures} == {group_arn("media-feed")}
    assert model.failure_count == 2
    assert [s.subscription.channel_id for s in model.subscriptions] == ["C1", "C2"]


def test_the_newest_failures_of_all_groups_are_shown_and_all_are_counted():
    groups = [activity("a", failures=8), activity("b", failures=8)]
    model = builder().build("U1", SnapshotState(snapshot(groups)))
    assert len(model.failures) == MAX_FAILURES and model.failure_count == 16
    times = [f.failed_at for f in model.failures]
    assert times == sorted(times, reverse=True)
    # The newest hour of each group comes first: a-f0, b-f0, a-f1, b-f1, ...
    assert {f.job.name for f in model.failures[:2]} == {"a-f0", "b-f0"}


def test_groups_needing_attention_come_first():
    groups = [activity("busy", completed=50), activity("full", pending=5), activity("failing", failures=1),
              activity("quiet")]
    model = builder().build("U1", SnapshotState(snapshot(groups)))
    assert [g.name for g in model.groups] == ["full", "failing", "busy", "quiet"]
    assert [g.name for g in model.full_queues] == ["full"]


def test_details_values_come_from_the_listing_and_one_that_cannot_fit_gets_no_button():
    def details_value(failed_job):
        if failed_job.name.endswith("f1"):
            raise ValueError("details value too long")
        return f"d.{failed_job.name}"

    model = builder(details_value=details_value).build("U1", SnapshotState(snapshot([activity("a", failures=2)])))
    assert [(f.job.name, f.details_value) for f in model.failures] == [("a-f0", "d.a-f0"), ("a-f1", None)]


def test_the_persons_own_part_is_read_on_every_build():
    subs = Subscriptions([subscription("C1", None)])
    build = builder(subscriptions=subs)
    state = SnapshotState(snapshot([activity("a")]))
    build.build("U1", state)
    subs.subscriptions.append(subscription("C2", None))
    assert [s.subscription.channel_id for s in build.build("U2", state).subscriptions] == ["C1", "C2"]
    assert subs.reads == 2


def test_stuck_jobs_follow_the_digests_rule_at_the_moment_home_is_built():
    from services.digest.attention import AttentionRules

    running = (job("young", "a", "PENDING", created=NOW - timedelta(hours=23)),
               job("old", "a", "IN_PROGRESS", created=NOW - timedelta(hours=30)),
               job("hidden", "secret", "IN_PROGRESS", created=NOW - timedelta(hours=40)))
    groups = [GroupActivity(group_arn("a"), "a", {}, running=running[:2]),
              GroupActivity(group_arn("secret"), "secret", {}, running=running[2:])]
    rules = AttentionRules(stuck_after=timedelta(hours=24), max_pending=3)
    model = builder(AccessPolicy(dataset_groups=("a",)), rules=rules).build("U1", SnapshotState(snapshot(groups)))
    assert [(s.job.name, s.running_for) for s in model.stuck] == [("old", timedelta(hours=30))]
    assert model.stuck_count == 1 and model.stuck_after == timedelta(hours=24) and model.max_pending == 3
    # An hour later the same snapshot has a second stuck job: the rule runs when Home is built, not when read.
    later = HomeModelBuilder(AccessPolicy(), Subscriptions([]), str, refresh_seconds=300, rules=rules,
                             clock=lambda: NOW + timedelta(hours=2)).build("U1", SnapshotState(snapshot(groups)))
    assert [s.job.name for s in later.stuck] == ["hidden", "old", "young"]


def test_the_persons_watches_are_shown_without_those_of_hidden_groups():
    from services.models import Watch

    def watch(name, group):
        return Watch(id=1, user_id="U1", job_arn=f"arn:x/{name}", job_name=name, dataset_group_arn=group_arn(group),
                     started_at=NOW, last_status="PENDING")

    mine = {"U1": [watch("w1", "a"), watch("w2", "secret")], "U2": []}
    build = builder(AccessPolicy(dataset_groups=("a",)), watches=lambda user: mine[user])
    assert [w.job_name for w in build.build("U1", SnapshotState(snapshot([activity("a")]))).watches] == ["w1"]
    assert build.build("U2", SnapshotState(snapshot([activity("a")]))).watches == ()


def test_without_watches_or_a_stuck_rule_home_says_nothing_of_them():
    model = builder().build("U1", SnapshotState(snapshot([activity("a")])))
    assert model.watches is None and model.stuck == () and model.stuck_after is None


def test_a_failed_refresh_is_carried_to_the_model():
    state = SnapshotState(snapshot([activity("a")]), failure="AwsThrottled", failed_at=NOW + timedelta(minutes=6))
    model = builder().build("U1", state)
    assert model.refresh_failure == "AwsThrottled" and model.refresh_failed_at == NOW + timedelta(minutes=6)

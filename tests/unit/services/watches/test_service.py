"""WatchService: a job name becomes an ARN in the bot's account, unknown and foreign jobs are named, a finished
job is answered at once, and the allowlists apply when a watch starts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.access import AccessPolicy
from services.aws.dataset_groups import DatasetGroupResolver
from services.errors import (
    AccessRefused,
    ForeignJobArn,
    JobAccountUnknown,
    MalformedJobArn,
    NotWatching,
    WatchedJobNotFound,
    WatchLimitReached,
)
from services.storage.store import StateStore
from services.storage.watches import WatchStore
from services.watches.service import WatchService
from tests.helpers.clock import Clock
from tests.helpers.watch_fakes import MEDIA, NOW, RETAIL, WatchGateway, job_arn, make_job


@pytest.fixture
def env(tmp_path):
    state = StateStore.from_url(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    state.create_schema()
    gateway = WatchGateway([make_job("gdpr-1"), make_job("gdpr-2", group=RETAIL, status="IN_PROGRESS"),
                            make_job("done-1", status="COMPLETED"), *(make_job(f"bulk-{i}") for i in range(25))])
    gateway.num_deleted[job_arn("done-1")] = 1234
    store = WatchStore(state.engine, claim_ttl=timedelta(minutes=15), clock=Clock(NOW))

    def service(access=None, gateway=gateway):
        access = access or AccessPolicy()
        return WatchService(gateway, DatasetGroupResolver(gateway), access, store)

    yield gateway, store, service
    state.engine.dispose()


def test_a_name_is_resolved_in_the_accounts_of_the_dataset_groups(env):
    gateway, store, service = env
    started = service().start("gdpr-1", user_id="U1", team_id="T1")
    assert gateway.describe_calls == [job_arn("gdpr-1")]
    assert started.watch is not None and not started.already
    assert started.watch.job_arn == job_arn("gdpr-1") and started.watch.dataset_group_arn == MEDIA
    again = service().start(job_arn("gdpr-1"), user_id="U1")
    assert again.already and again.watch.id == started.watch.id
    assert len(store.all()) == 1


@pytest.mark.parametrize(("arn", "part"), [
    ("arn:aws:personalize:eu-west-1:123456789012:data-deletion-job/x", "region"),
    ("arn:aws-cn:personalize:us-east-1:123456789012:data-deletion-job/x", "partition"),
    ("arn:aws:personalize:us-east-1:999999999999:data-deletion-job/x", "account"),
])
def test_an_arn_elsewhere_is_refused_naming_the_part(env, arn, part):
    gateway, _, service = env
    with pytest.raises(ForeignJobArn) as caught:
        service().start(arn, user_id="U1")
    assert caught.value.part == part
    assert gateway.describe_calls == []


@pytest.mark.parametrize("text", [MEDIA, "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/",
                                  "arn:aws:personalize:us-east-1:1234:data-deletion-job/x"])
def test_a_malformed_job_arn_is_named(env, text):
    with pytest.raises(MalformedJobArn):
        env[2]().start(text, user_id="U1")


def test_an_unknown_job_is_named(env):
    with pytest.raises(WatchedJobNotFound) as caught:
        env[2]().start("no-such-job", user_id="U1")
    assert caught.value.job == "no-such-job"
    with pytest.raises(WatchedJobNotFound):
        env[2]().start("not a name!", user_id="U1")


def test_a_finished_job_is_answered_at_once_and_not_watched(env):
    _, store, service = env
    started = service().start("done-1", user_id="U1")
    assert started.watch is None and started.details.num_deleted == 1234
    assert store.all() == []


def test_without_any_dataset_group_a_name_cannot_be_placed_but_an_arn_can(env):
    gateway, _, service = env

    class NoGroups(WatchGateway):
        def list_dataset_groups(self):
            return []

    bare = NoGroups(gateway.jobs)
    with pytest.raises(JobAccountUnknown):
        service(gateway=bare).start("gdpr-1", user_id="U1")
    assert service(gateway=bare).start(job_arn("gdpr-1"), user_id="U1").watch is not None


def test_a_group_outside_the_allowlist_is_refused_before_any_watch(env):
    _, store, service = env
    with pytest.raises(AccessRefused):
        service(AccessPolicy(dataset_groups=("retail",))).start("gdpr-1", user_id="U1")
    assert store.all() == []
    assert service(AccessPolicy(dataset_groups=("retail",))).start("gdpr-2", user_id="U1").watch is not None


def test_the_twenty_first_watch_is_refused(env):
    _, store, service = env
    for i in range(20):
        service().start(f"bulk-{i}", user_id="U1")
    with pytest.raises(WatchLimitReached) as caught:
        service().start("bulk-20", user_id="U1")
    assert caught.value.limit == 20 and len(store.of_user("U1")) == 20


def test_unwatch_by_name_or_arn_and_a_job_not_watched_is_named(env):
    _, store, service = env
    service().start("gdpr-1", user_id="U1")
    service().start("gdpr-2", user_id="U1")
    assert service().stop("gdpr-1", user_id="U1").job_arn == job_arn("gdpr-1")
    assert service().stop(job_arn("gdpr-2"), user_id="U1").job_name == "gdpr-2"
    with pytest.raises(NotWatching):
        service().stop("gdpr-2", user_id="U1")
    assert store.all() == []

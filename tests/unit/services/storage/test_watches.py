"""WatchStore: starting (limits, double presses), what a poll records, and the claim on each watch's message,
on SQLite and on PostgreSQL (tests/helpers/databases.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from services.models import DeletionJob, DeletionJobDetails
from services.storage.store import StateStore
from services.storage.watches import ALREADY, LIMIT, STARTED, WatchStore
from tests.helpers.clock import Clock

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"


def job(i: int, status: str = "PENDING") -> DeletionJob:
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}", name=f"job-{i}",
                       dataset_group_arn=GROUP, status=status, created=NOW - timedelta(hours=1), updated=NOW)


def finished(i: int, status: str = "COMPLETED") -> DeletionJobDetails:
    return DeletionJobDetails(job(i, status), num_deleted=7 if status == "COMPLETED" else None,
                              data_location="s3://b/k.csv", role_arn=None)


@pytest.fixture
def store(database_url):  # noqa: F811 - the fixture
    state = StateStore.from_url(database_url)
    state.create_schema()  # creates the watch table without anything having imported it
    clock = Clock(NOW)
    store = WatchStore(state.engine, claim_ttl=timedelta(minutes=15), clock=clock)
    store.clock = clock
    yield store
    state.engine.dispose()


def test_a_watch_starts_once_per_person_and_job(store):
    first, result = store.start("U1", job(1), team_id="T1", limit=20)
    again, second = store.start("U1", job(1), team_id="T1", limit=20)
    other, third = store.start("U2", job(1), team_id="T1", limit=20)
    assert (result, second, third) == (STARTED, ALREADY, STARTED)
    assert again.id == first.id and other.id != first.id
    assert first.last_status == "PENDING" and first.job_name == "job-1" and first.dataset_group_arn == GROUP
    assert [w.job_arn for w in store.of_user("U1")] == [job(1).arn]


def test_the_twenty_first_watch_is_refused_and_ending_one_makes_room(store):
    for i in range(20):
        assert store.start("U1", job(i), team_id=None, limit=20)[1] == STARTED
    assert store.start("U1", job(20), team_id=None, limit=20) == (None, LIMIT)
    assert store.start("U2", job(20), team_id=None, limit=20)[1] == STARTED  # the limit is per person
    assert store.stop("U1", job_name="job-3").job_arn == job(3).arn
    assert store.start("U1", job(20), team_id=None, limit=20)[1] == STARTED
    assert len(store.of_user("U1")) == 20


def test_presses_at_once_never_pass_the_limit(store):
    for i in range(18):
        store.start("U1", job(i), team_id=None, limit=20)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(store.start("U1", job(100 + i), team_id=None,
                                                                             limit=20)[1])) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(store.of_user("U1")) <= 20
    assert results.count(STARTED) == len(store.of_user("U1")) - 18


def test_record_sets_an_outcome_once_and_only_on_open_watches(store):
    store.start("U1", job(1), team_id=None, limit=20)
    store.start("U2", job(1), team_id=None, limit=20)
    store.record(seen=[job(1, "IN_PROGRESS")])
    assert {w.last_status for w in store.all()} == {"IN_PROGRESS"}
    store.record(finished=[finished(1)])
    store.record(finished=[finished(1, "FAILED")])  # a later, different sighting changes nothing
    assert {(w.outcome, w.num_deleted, w.data_location) for w in store.all()} == {("COMPLETED", 7, "s3://b/k.csv")}


def test_only_one_claim_holds_a_message_until_it_expires(store):
    store.start("U1", job(1), team_id=None, limit=20)
    [watch] = store.all()
    assert store.claim(watch.id) is None, "no outcome yet: nothing to send"
    store.record(finished=[finished(1)])
    first = store.claim(watch.id)
    assert first is not None and not first.in_doubt and first.watch.outcome == "COMPLETED"
    assert store.claim(watch.id) is None
    store.clock.now = NOW + timedelta(minutes=16)
    second = store.claim(watch.id)
    assert second is not None
    assert not store.begin_post(first), "a lapsed claim must not post"
    assert store.begin_post(second)


def test_a_post_that_began_leaves_its_trace_for_the_next_claim(store):
    store.start("U1", job(1), team_id=None, limit=20)
    store.record(finished=[finished(1)])
    [watch] = store.all()
    claim = store.claim(watch.id)
    assert store.begin_post(claim)
    store.release(claim, in_doubt=True)
    doubtful = store.claim(watch.id)
    assert doubtful.in_doubt and doubtful.post_started_at == NOW
    store.clock.now = NOW + timedelta(minutes=1)
    assert store.begin_post(doubtful)  # a second attempt keeps the first one's time: the search starts there
    store.release(doubtful, in_doubt=True)
    assert store.claim(watch.id).post_started_at == NOW


def test_a_plain_release_forgets_the_post_and_finish_ends_the_watch(store):
    store.start("U1", job(1), team_id=None, limit=20)
    store.record(finished=[finished(1)])
    [watch] = store.all()
    claim = store.claim(watch.id)
    store.begin_post(claim)
    store.release(claim, in_doubt=False)
    again = store.claim(watch.id)
    assert not again.in_doubt
    store.begin_post(again)
    store.finish(again)
    assert store.all() == []


def test_claims_race_exactly_one_winner(store):
    for user in range(8):
        store.start(f"U{user}", job(1), team_id=None, limit=20)
    store.record(finished=[finished(1)])
    ids = [w.id for w in store.all()]
    won: list[int] = []
    lock = threading.Lock()

    def take_all():
        for watch_id in ids:
            claim = store.claim(watch_id)
            if claim is not None:
                with lock:
                    won.append(watch_id)

    threads = [threading.Thread(target=take_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won) == sorted(ids)

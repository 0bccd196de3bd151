"""The Home tab's account snapshot: what one read of the account holds, and how it is shared so that its AWS cost
does not grow with the people (and processes) looking: a lease row in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from services.errors import AwsThrottled
from services.home.snapshot import FAILURES_PER_GROUP, AccountSnapshot, SharedSnapshot, SnapshotReader
from services.storage.home_store import HomeSnapshotStore
from tests.helpers.databases import engine_with_schema
from tests.helpers.home_fakes import NOW, Clock, CountingReader, FakeAccount, job

REFRESH = timedelta(seconds=300)


def reader_for(account: FakeAccount, *, window_days: int = 30, max_calls: int = 50) -> SnapshotReader:
    return SnapshotReader(account, account.dataset_groups, window=timedelta(days=window_days), max_calls=max_calls,
                          clock=lambda: NOW)


def by_name(snapshot: AccountSnapshot) -> dict:
    return {group.name: group for group in snapshot.groups}


# ---- one read ------------------------------------------------------------------------------------------


def test_a_read_counts_each_groups_jobs_of_the_window_by_status():
    day = timedelta(days=1)
    jobs = [
        job("a1", "media-feed", "COMPLETED", created=NOW - 2 * day),
        job("a2", "media-feed", "COMPLETED", created=NOW - 29 * day),
        job("a3", "media-feed", "FAILED", created=NOW - 10 * day, reason="Access denied"),
        job("a4", "media-feed", "PENDING", created=NOW - timedelta(hours=1)),
        job("a5", "media-feed", "IN_PROGRESS", created=NOW - timedelta(hours=3)),
        job("old", "media-feed", "COMPLETED", created=NOW - 31 * day),
        job("b1", "retail-recs", "FAILED", created=NOW - 1 * day, reason="bad file"),
    ]
    snapshot = reader_for(FakeAccount(jobs, ["media-feed", "retail-recs", "quiet"])).read()

    groups = by_name(snapshot)
    assert groups["media-feed"].counts == {"COMPLETED": 2, "FAILED": 1, "PENDING": 1, "IN_PROGRESS": 1}
    assert groups["media-feed"].pending == 1
    assert [j.name for j in groups["media-feed"].running] == ["a5", "a4"]  # oldest first
    assert groups["media-feed"].last_failed_at == jobs[2].updated
    assert groups["media-feed"].recent_failure_count == 0  # failed 10 days ago: not in the last 7
    assert groups["retail-recs"].counts == {"FAILED": 1}
    assert [j.name for j in groups["retail-recs"].recent_failures] == ["b1"]
    assert groups["quiet"].counts == {} and groups["quiet"].total == 0  # listed, with nothing in the window
    assert snapshot.complete and snapshot.read_at == NOW and snapshot.window_days == 30


def test_a_read_stops_at_the_first_job_older_than_the_window():
    jobs = [job(f"j{i}", "media-feed", "COMPLETED", created=NOW - timedelta(hours=12 * i)) for i in range(1, 400)]
    account = FakeAccount(jobs, ["media-feed"], page_size=100)
    snapshot = reader_for(account, window_days=30).read()
    # 60 jobs in 30 days (every 12 hours, the window start included), all in the first page of 100: one call.
    assert account.calls == 1
    assert by_name(snapshot)["media-feed"].total == 60
    assert snapshot.jobs_read == 60 and snapshot.api_calls == 1


def test_a_short_window_still_reads_the_7_days_of_recent_failures():
    jobs = [job("f", "media-feed", "FAILED", created=NOW - timedelta(days=5), reason="x")]
    groups = by_name(reader_for(FakeAccount(jobs, ["media-feed"]), window_days=1).read())
    assert groups["media-feed"].counts == {}  # created before the 1-day window
    assert [j.name for j in groups["media-feed"].recent_failures] == ["f"]


def test_each_group_keeps_its_newest_failures_and_counts_them_all():
    jobs = [job(f"f{i:02d}", "media-feed", "FAILED", created=NOW - timedelta(hours=i), reason="r")
            for i in range(1, 30)]
    group = by_name(reader_for(FakeAccount(jobs, ["media-feed"])).read())["media-feed"]
    assert group.recent_failure_count == 29
    assert [j.name for j in group.recent_failures] == [f"f{i:02d}" for i in range(1, FAILURES_PER_GROUP + 1)]


def test_a_group_missing_from_list_dataset_groups_is_still_counted():
    jobs = [job("x", "created-since", "COMPLETED", created=NOW - timedelta(days=1))]
    assert by_name(reader_for(FakeAccount(jobs, [])).read())["created-since"].total == 1


def test_a_read_that_runs_out_of_calls_says_how_far_back_it_got():
    jobs = [job(f"j{i}", "media-feed", "COMPLETED", created=NOW - timedelta(minutes=i)) for i in range(1, 301)]
    account = FakeAccount(jobs, ["media-feed"], page_size=100)
    snapshot = reader_for(account, max_calls=2).read()
    assert account.calls == 2
    assert not snapshot.complete
    assert snapshot.covers_since == jobs[199].created
    assert by_name(snapshot)["media-feed"].total == 200


def test_a_read_stopped_by_the_deadline_keeps_what_it_read_and_a_first_call_timing_out_is_an_error():
    jobs = [job(f"j{i}", "media-feed", "COMPLETED", created=NOW - timedelta(minutes=i)) for i in range(1, 301)]
    snapshot = reader_for(FakeAccount(jobs, ["media-feed"], time_out_after=1)).read()
    assert not snapshot.complete and by_name(snapshot)["media-feed"].total == 100
    from services.errors import AwsTimeout

    with pytest.raises(AwsTimeout):
        reader_for(FakeAccount(jobs, ["media-feed"], time_out_after=0)).read()


def test_a_snapshot_survives_its_json_round_trip():
    jobs = [job("a", "media-feed", "FAILED", created=NOW - timedelta(days=1), reason="<!channel> & co"),
            job("b", "media-feed", "PENDING", created=NOW - timedelta(hours=2))]
    snapshot = reader_for(FakeAccount(jobs, ["media-feed", "quiet"])).read()
    assert AccountSnapshot.from_json(snapshot.to_json()) == snapshot


# ---- sharing it ----------------------------------------------------------------------------------------


@pytest.fixture
def engine(database_url):
    with engine_with_schema(database_url) as engine:
        yield engine


def shared(engine, reader, clock, **kwargs) -> SharedSnapshot:
    """One process's SharedSnapshot: its own lock and owner id, the one shared row."""
    kwargs.setdefault("poll_seconds", 0.02)
    return SharedSnapshot(HomeSnapshotStore(engine, key="us-east-1:30d"), reader, refresh_after=REFRESH,
                          clock=clock, **kwargs)


def test_500_openings_within_the_refresh_interval_cost_one_read(engine):
    clock = Clock()
    reader = CountingReader(clock)
    processes = [shared(engine, reader, clock) for _ in range(2)]
    for opening in range(500):
        state = processes[opening % 2].current()
        assert state.snapshot is not None and state.snapshot.read_at == NOW
        clock.advance(milliseconds=590)  # 500 openings over 295 seconds
    assert reader.reads == 1
    clock.advance(seconds=10)  # now 305 s after the read
    assert processes[0].current().snapshot.read_at == clock()
    assert reader.reads == 2


def test_people_opening_home_at_once_in_two_processes_cause_one_read_and_all_get_it(engine):
    clock, hold = Clock(), threading.Event()
    reader = CountingReader(clock, hold=hold)
    processes = [shared(engine, reader, clock) for _ in range(2)]
    results = []

    def open_home(process):
        results.append(process.current())

    threads = [threading.Thread(target=open_home, args=(processes[i % 2],)) for i in range(20)]
    for thread in threads:
        thread.start()
    # Let every thread arrive while the one read is held up, then let it finish.
    wait_until(lambda: reader.reads >= 1)
    hold.set()
    for thread in threads:
        thread.join(60)
    assert reader.reads == 1
    assert len(results) == 20 and all(state.snapshot is not None for state in results)


def test_refresh_reads_again_only_when_the_snapshot_is_older_than_30_seconds(engine):
    clock = Clock()
    reader = CountingReader(clock)
    process = shared(engine, reader, clock)
    process.current()
    clock.advance(seconds=29)
    assert process.refreshed().snapshot.read_at == NOW
    assert reader.reads == 1
    clock.advance(seconds=2)
    assert process.refreshed().snapshot.read_at == clock()
    assert reader.reads == 2


def test_a_failed_read_is_shown_and_not_retried_by_anyone_for_30_seconds(engine):
    clock = Clock()
    reader = CountingReader(clock)
    first, second = shared(engine, reader, clock), shared(engine, reader, clock)
    first.current()
    clock.advance(seconds=301)
    reader.fail = AwsThrottled("slow down", code="ThrottlingException")
    failed = first.current()
    assert reader.reads == 2
    assert failed.snapshot.read_at == NOW  # the last good read, with the failure beside it
    assert failed.failure == "AwsThrottled" and failed.failed_at == clock()
    for _ in range(50):
        assert second.current().failure == "AwsThrottled"
        assert second.refreshed().failure == "AwsThrottled"
    assert reader.reads == 2
    reader.fail = None
    clock.advance(seconds=31)
    recovered = second.current()
    assert reader.reads == 3 and recovered.failure is None and recovered.snapshot.read_at == clock()


def test_a_failed_first_read_leaves_no_snapshot_and_says_why(engine):
    clock = Clock()
    reader = CountingReader(clock)
    reader.fail = AwsThrottled("slow down")
    state = shared(engine, reader, clock).current()
    assert state.snapshot is None and state.failure == "AwsThrottled"


def test_a_reader_that_died_holding_the_lease_delays_the_others_only_until_its_lease_runs_out(engine):
    clock = Clock()
    store = HomeSnapshotStore(engine, key="us-east-1:30d")
    # Another process took the lease and died before saving anything.
    assert store.take_lease("dead-process", now=clock(), lease_for=timedelta(seconds=60), read_before=clock(),
                            failed_before=clock())
    reader = CountingReader(clock)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        clock.advance(seconds=20)  # each poll, the lease gets 20 s closer to running out

    process = shared(engine, reader, clock, sleep=sleep, monotonic=lambda: 0.0)
    state = process.current()
    assert reader.reads == 1 and state.snapshot is not None
    assert len(ticks) == 4  # polled the row every 20 s until the 60 s lease had run out, then read


def test_a_slower_reader_never_replaces_a_newer_snapshot(engine):
    store = HomeSnapshotStore(engine, key="k")
    clock = Clock()
    store.take_lease("a", now=clock(), lease_for=timedelta(seconds=60), read_before=clock(), failed_before=clock())
    store.save("a", "newer", NOW)
    store.save("b", "older", NOW - timedelta(seconds=5))
    assert store.payload() == ("newer", NOW)


def wait_until(condition, timeout: float = 30) -> None:
    import time

    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "waited too long"
        time.sleep(0.01)


"""Scheduler leases (issue 14, section 1), driven in process with a fake clock: exactly one scheduler leads, a dead
leader is replaced once its lease has run out, a leader that cannot renew stops before that, and every job, today's
and any added later, runs only on the leader."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from services.scheduling.lease import LeaderOnlyExecutor, LeaseKeeper, SchedulerLease
from services.storage.store import StateStore, utcnow

LEASE = 30.0


class Clocks:
    """One fake time for the database's clock and every process's monotonic clock."""

    def __init__(self):
        self.wall = utcnow()
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def db_now(self, _connection):
        return self.wall

    def monotonic(self):
        return self.mono


@pytest.fixture
def engine(database_url):  # noqa: F811

    store = StateStore.from_url(database_url)
    store.create_schema()
    yield store.engine
    store.engine.dispose()


@pytest.fixture
def clocks():
    return Clocks()


def lease_for(engine, clocks, owner: str) -> SchedulerLease:
    return SchedulerLease(engine, lease_seconds=LEASE, owner=owner, now=clocks.db_now, monotonic=clocks.monotonic)


def test_one_of_three_leads_and_keeps_leading_while_it_renews(engine, clocks):
    a, b, c = (lease_for(engine, clocks, name) for name in "abc")
    assert [a.refresh(), b.refresh(), c.refresh()] == [True, False, False]
    for _ in range(20):  # ten minutes of ticks
        clocks.advance(a.tick_seconds)
        assert [a.refresh(), b.refresh(), c.refresh()] == [True, False, False]
        assert [x.is_leading() for x in (a, b, c)] == [True, False, False]
    assert b.holder == c.holder == "a"


def test_a_dead_leader_is_replaced_once_its_lease_runs_out_and_not_before(engine, clocks):
    a, b = lease_for(engine, clocks, "a"), lease_for(engine, clocks, "b")
    assert a.refresh() and not b.refresh()
    # a is SIGKILLed: it renews no more.
    clocks.advance(LEASE - 0.5)
    assert not b.refresh(), "the lease has not run out yet"
    clocks.advance(1.0)
    assert b.refresh() and b.is_leading()
    # a comes back (it was only paused): it finds b's lease and leads no more.
    assert not a.refresh() and not a.is_leading() and a.holder == "b"


def test_a_leader_that_cannot_renew_stops_before_anyone_can_take_over(engine, clocks):
    a, b = lease_for(engine, clocks, "a"), lease_for(engine, clocks, "b")
    assert a.refresh()
    renewed_at = clocks.mono
    broken = OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))
    a._engine = BrokenEngine(broken)  # a's connection to the database is cut
    stopped_at = None
    while clocks.mono < renewed_at + LEASE + 10:
        clocks.advance(0.25)
        with pytest.raises(OperationalError):
            a.refresh()
        b_leads = b.refresh()
        if stopped_at is None and not a.is_leading():
            stopped_at = clocks.mono
        assert not (a.is_leading() and b_leads), "two leaders at once"
        if b_leads:
            break
    assert stopped_at is not None and stopped_at <= renewed_at + LEASE - a.margin + 0.25
    assert b.is_leading() and clocks.mono >= renewed_at + LEASE


def test_a_renewal_that_hangs_counts_from_when_it_was_sent(engine, clocks):
    a = lease_for(engine, clocks, "a")
    slow = clocks.db_now

    def hanging_clock(connection):
        clocks.advance(LEASE)  # the statement took a whole lease to get through
        return slow(connection)

    a._now = hanging_clock
    assert a.refresh() is True
    assert not a.is_leading(), "a renewal sent a lease ago gives no time left"


def test_release_hands_the_lease_over_on_the_next_try(engine, clocks):
    a, b = lease_for(engine, clocks, "a"), lease_for(engine, clocks, "b")
    assert a.refresh() and not b.refresh()
    a.release()
    assert not a.is_leading()
    assert b.refresh()


def test_racing_schedulers_never_both_take_a_free_lease(database_url):  # noqa: F811
    from tests.helpers.waiting import race

    stores = [StateStore.from_url(database_url) for _ in range(4)]
    stores[0].create_schema()
    try:
        leases = [SchedulerLease(store.engine, lease_seconds=LEASE, owner=f"p{i}") for i, store in enumerate(stores)]
        assert sorted(race([lease.refresh for lease in leases])) == [False, False, False, True]
        for lease in leases:  # the holder leaves; the rest race for it again
            if lease.is_leading():
                lease.release()
        rest = [lease for lease in leases if lease.holder != lease.owner]
        assert sorted(race([lease.refresh for lease in rest])) == [False, False, True]
    finally:
        for store in stores:
            store.engine.dispose()


class BrokenEngine:
    def __init__(self, error):
        self.error = error

    def begin(self):
        raise self.error


# ---- the keeper and the executor --------------------------------------------------------------------------


def test_the_keeper_logs_each_change_of_role_and_catches_up_on_taking_over(engine, clocks, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="services.scheduling.lease")
    a, b = lease_for(engine, clocks, "a"), lease_for(engine, clocks, "b")
    took_over = []
    keeper_a = LeaseKeeper(a, on_leading=lambda: took_over.append("a"))
    keeper_b = LeaseKeeper(b, on_leading=lambda: took_over.append("b"))
    keeper_a.tick()
    keeper_b.tick()
    assert (keeper_a.role(), keeper_b.role()) == ("leading", "standby")
    clocks.advance(LEASE + 1)  # a died
    keeper_b.tick()
    assert took_over == ["a", "b"] and keeper_b.role() == "leading"
    keeper_a.tick()
    assert keeper_a.role() == "standby"
    assert "this scheduler (a) now leads" in caplog.text and "this scheduler (b) now leads" in caplog.text
    assert "this scheduler (a) no longer leads (b holds the lease)" in caplog.text


def test_every_job_runs_only_on_the_leader_including_jobs_added_later():
    import time

    leading = threading.Event()
    ran = []
    done = threading.Event()
    scheduler = BackgroundScheduler(executors={"default": LeaderOnlyExecutor(leading.is_set)})
    scheduler.start()
    try:
        # A job another feature adds later (a watch poll, say) is covered like the digest's own.
        scheduler.add_job(lambda: ran.append("standby"), id="watch:poll")
        scheduler.add_job(lambda: ran.append("digest standby"), id="digest:default")
        deadline = time.monotonic() + 30
        while scheduler.get_jobs() and time.monotonic() < deadline:  # one-off jobs leave once their time is handled
            time.sleep(0.02)
        assert scheduler.get_jobs() == []
        leading.set()
        scheduler.add_job(lambda: (ran.append("leading"), done.set()), id="watch:poll-2")
        assert done.wait(30)
        while scheduler.get_jobs() and time.monotonic() < deadline + 30:
            time.sleep(0.02)
    finally:
        scheduler.shutdown(wait=True)
    assert ran == ["leading"]


# ---- the digest scheduler with a lease ----------------------------------------------------------------------


def test_only_the_leading_digest_scheduler_catches_up_and_a_successor_catches_up_what_fell_due(
        engine, clocks, tmp_path):
    import time

    from services.scheduling.scheduler import DigestScheduler
    from services.storage.subscriptions import SubscriptionStore
    from tests.helpers.clock import Clock
    from tests.unit.services.scheduling.test_scheduler import NOW, SCHEDULE, RecordingDigest

    store = SubscriptionStore(engine, clock=Clock(NOW - timedelta(days=2)))
    store.subscribe("CMISSED", dataset_group_arn=None)  # its 09:00 digest is due, ten minutes ago

    def scheduler(owner: str, now):
        digest = RecordingDigest()
        return DigestScheduler(digest, store, SCHEDULE, clock=Clock(now), lease=lease_for(engine, clocks, owner),
                               scheduler_factory=BackgroundScheduler), digest

    def wait_for(condition):
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)

    a, a_runs = scheduler("a", NOW)
    b, b_runs = scheduler("b", NOW)
    try:
        a.start()
        b.start()
        assert (a.status(), b.status()) == ("leading", "standby")
        wait_for(lambda: a_runs.runs)
        assert a_runs.runs == [["CMISSED"]] and b_runs.runs == []
        # A job added later by another feature (a watch poll) does not run on the standby either.
        b.scheduler.add_job(lambda: b_runs.runs.append("watch poll"), id="watch:poll")
        wait_for(lambda: b.scheduler.get_job("watch:poll") is None)
        assert b_runs.runs == []
        store.record_success("CMISSED", NOW)  # what the real digest run records
        a.scheduler.shutdown(wait=True)
        a._keeper._stop.set()  # a is SIGKILLed: no release, no more renewals

        # The next day's 09:00 falls due while nobody leads; b takes over ten minutes later.
        b._clock = Clock(NOW + timedelta(days=1))
        clocks.advance(LEASE + 1)
        wait_for(lambda: b.status() == "leading" and b_runs.runs)
        assert b_runs.runs == [["CMISSED"]], "the digest that fell due in the gap, once"
        assert a_runs.runs == [["CMISSED"]]
    finally:
        a.shutdown(wait=False)
        b.shutdown(wait=False)

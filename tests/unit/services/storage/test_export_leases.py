"""ExportLeases on SQLite and PostgreSQL: one live lease per person, whoever races for it; freed on release, on
expiry, never by someone else's token."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from services.storage.export_leases import ExportLeases, Lease
from services.storage.store import StateStore

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def leases_on(engine, clock=None) -> ExportLeases:
    return ExportLeases(engine, ttl=TTL, clock=clock or Clock())


def test_create_schema_makes_the_table_whatever_was_imported(database_url):
    store = StateStore.from_url(database_url)
    store.create_schema()
    assert "export_leases" in inspect(store.engine).get_table_names()
    store.engine.dispose()


def test_one_live_lease_per_person(digest_engine):
    leases = leases_on(digest_engine)
    first = leases.claim("U1")
    assert first is not None
    assert leases.claim("U1") is None
    assert leases.started_at("U1") == T0
    assert leases.claim("U2") is not None
    leases.release(first)
    assert leases.claim("U1") is not None


def test_an_expired_lease_can_be_claimed_and_renewing_keeps_it_alive(digest_engine):
    clock = Clock()
    leases = leases_on(digest_engine, clock)
    lease = leases.claim("U1")
    clock.now += TTL - timedelta(seconds=1)
    leases.renew(lease)
    clock.now += TTL - timedelta(seconds=1)
    assert leases.claim("U1") is None
    clock.now += timedelta(seconds=2)
    assert leases.claim("U1") is not None


def test_releasing_with_another_token_frees_nothing(digest_engine):
    leases = leases_on(digest_engine)
    leases.claim("U1")
    leases.release(Lease("U1", "not-the-token"))
    assert leases.claim("U1") is None


def test_racing_claims_have_exactly_one_winner(digest_engine):
    leases = leases_on(digest_engine)
    barrier = threading.Barrier(8)
    won = []

    def claim():
        barrier.wait(30)
        won.append(leases.claim("U1"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(won) == 8 and sum(lease is not None for lease in won) == 1

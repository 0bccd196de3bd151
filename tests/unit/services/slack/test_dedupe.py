"""DeliveryLog and RequestDeduplicator: the first copy of a Slack request wins, in one process or many, and a
database that fails never stops a request from being processed (tests/unit/handlers/test_deliveries.py: nor delays
its ack)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from services.slack.dedupe import RequestDeduplicator, delivery_key
from services.storage.coordination import DeliveryLog, slack_deliveries
from services.storage.store import StateStore, utcnow
from tests.helpers.waiting import race


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def engine(database_url):  # noqa: F811 - the fixture above
    store = StateStore.from_url(database_url)
    store.create_schema()
    yield store.engine
    store.engine.dispose()


def test_keys_are_what_stays_the_same_across_deliveries():
    assert delivery_key({"command": "/deletion-jobs", "trigger_id": "1.2.abc"}) == "trigger:1.2.abc"
    assert delivery_key({"type": "block_actions", "trigger_id": "9.8.def"}) == "trigger:9.8.def"
    assert delivery_key({"type": "event_callback", "event_id": "Ev1", "event": {}}) == "event:Ev1"
    assert delivery_key({"type": "url_verification"}) is None
    assert delivery_key({"trigger_id": ""}) is None


def test_the_first_copy_is_taken_and_later_ones_are_not(engine):
    log = DeliveryLog(engine)
    assert log.take("trigger:a") is True
    assert log.take("trigger:a") is False
    assert log.take("trigger:b") is True


def test_a_key_is_remembered_for_ten_minutes_then_taken_again(engine):
    clock = Clock()
    log = DeliveryLog(engine, clock=clock)
    assert log.take("event:Ev1")
    clock.now += timedelta(minutes=9, seconds=59)
    assert not log.take("event:Ev1")
    clock.now += timedelta(seconds=2)
    assert log.take("event:Ev1")
    assert not log.take("event:Ev1")


def test_expired_keys_are_swept(engine):
    clock = Clock()
    log = DeliveryLog(engine, clock=clock, sweep_every=5)
    for i in range(4):
        log.take(f"trigger:old-{i}")
    clock.now += timedelta(minutes=11)
    log.take("trigger:new")  # the fifth take sweeps
    with engine.connect() as connection:
        keys = [row.key for row in connection.execute(slack_deliveries.select())]
    assert keys == ["trigger:new"]


def test_copies_racing_in_many_threads_and_engines_are_taken_once(database_url):  # noqa: F811
    stores = [StateStore.from_url(database_url) for _ in range(3)]  # three processes' engines
    stores[0].create_schema()
    logs = [DeliveryLog(store.engine) for store in stores]
    try:
        for round_ in range(5):
            key = f"trigger:race-{round_}"
            taken = race([lambda log=logs[i % 3], k=key: log.take(k) for i in range(12)])
            assert sorted(taken) == [False] * 11 + [True]
    finally:
        for store in stores:
            store.engine.dispose()


class BrokenLog:
    def take(self, key):
        raise OperationalError("INSERT", {}, Exception("connection refused"))


def test_a_database_that_fails_lets_the_request_through_with_one_warning(caplog):
    dedupe = RequestDeduplicator(BrokenLog())
    assert dedupe.first_copy({"trigger_id": "t1", "command": "/deletion-jobs"}) is True
    assert "could not check whether this command was already processed" in caplog.text
    assert "connection refused" in caplog.text and "Traceback" not in caplog.text


def test_a_repeated_delivery_is_logged_without_its_ids(engine, caplog):
    caplog.set_level(logging.INFO)
    dedupe = RequestDeduplicator(DeliveryLog(engine))
    body = {"trigger_id": "13345.secret-ish-trigger", "command": "/deletion-jobs"}
    assert dedupe.first_copy(body) is True
    assert dedupe.first_copy(body, retry_num="1") is False
    assert "a repeated delivery of a command (Slack retry 1) was acknowledged" in caplog.text
    assert "secret-ish-trigger" not in caplog.text

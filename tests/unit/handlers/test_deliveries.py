"""The duplicate-delivery check (a database write) runs after the ack, before the work: never on the ack's path."""

from __future__ import annotations

import threading

import pytest

PATIENCE = 30


class HeldLog:
    """services.storage.coordination.DeliveryLog whose database answers only once the test says so."""

    def __init__(self):
        self.asked = threading.Event()
        self.answer = threading.Event()
        self.keys: list[str] = []

    def take(self, key: str) -> bool:
        self.asked.set()
        self.answer.wait(4 * PATIENCE)
        first = key not in self.keys
        self.keys.append(key)
        return first


@pytest.fixture
def held(dispatch_bot, monkeypatch):
    bot = dispatch_bot()
    log = HeldLog()
    monkeypatch.setattr(bot.services.dedupe, "_log", log)
    yield bot, log
    log.answer.set()


def test_the_ack_does_not_wait_for_the_database(held, slack):
    bot, log = held
    acks = []
    sender = threading.Thread(target=lambda: acks.append(bot.command("help")))
    sender.start()
    sender.join(PATIENCE)
    assert [ack.status for ack in acks] == [200], "the ack waited for the duplicate check"
    assert log.asked.wait(PATIENCE), "the check runs after the ack"
    assert slack.responses(acks[0].response_key) == []  # and before the work
    log.answer.set()
    assert bot.answer(acks[0])["text"]


def test_a_second_copy_is_acknowledged_and_its_work_dropped(held, slack):
    bot, log = held
    log.answer.set()
    body_kwargs = {"trigger_id": "13345224609.738474920.8088930838d88f008e0"}
    first = bot.command("help", **body_kwargs)
    again = bot.command("help", **body_kwargs)
    assert (first.status, again.status) == (200, 200)
    assert bot.answer(first)["text"]
    bot.services.background.shutdown(wait=True)
    assert slack.responses(again.response_key) == []
    assert log.keys == ["trigger:" + body_kwargs["trigger_id"]] * 2

"""A listener that raises after its ack: Slack still gets its 200, the person the usual failure answer, the
operator one ERROR line with the traceback."""

from __future__ import annotations

import logging

import pytest

from handlers.requests import Requester
from tests.helpers.bots import find_button, job_arns


@pytest.fixture
def bot(dispatch_bot):
    return dispatch_bot()


def raising(*args, **kwargs):
    raise RuntimeError("a bug after the ack")


def failures(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_command_whose_listener_raises_after_the_ack_is_answered(bot, monkeypatch, caplog):
    monkeypatch.setattr(Requester, "from_command", raising)
    caplog.set_level(logging.INFO)
    ack = bot.command("failed")
    assert (ack.status, ack.body) == (200, "")
    message = bot.answer(ack)
    assert message["text"].startswith(":warning: Something went wrong on my side")
    [line] = failures(caplog)
    assert line.getMessage() == "a Slack listener failed: RuntimeError" and line.exc_info


def test_a_click_whose_listener_raises_after_the_ack_is_answered(bot, emulator, monkeypatch, caplog):
    emulator.seed_realistic(jobs=30)
    first = bot.ask("")
    monkeypatch.setattr(Requester, "from_action_body", raising)
    button = find_button(first, "Next page")
    ack = bot.click(button["action_id"], button["value"])
    assert ack.status == 200
    assert bot.answer(ack)["text"].startswith(":warning: Something went wrong")
    assert len(failures(caplog)) == 1


def test_the_bot_works_again_once_the_fault_is_gone(bot, emulator, monkeypatch):
    emulator.seed_realistic(jobs=30)
    with monkeypatch.context() as patch:
        patch.setattr(Requester, "from_command", raising)
        bot.ask("failed")
    assert job_arns(bot.ask("")) == [job["dataDeletionJobArn"] for job in emulator.jobs()][:10]

"""AWS misbehaving: hangs, refusals, expired credentials, an endpoint that is not there."""

from __future__ import annotations

import threading

import pytest

from tests.helpers.bots import job_arns
from tests.helpers.waiting import wait_until


@pytest.mark.slow
def test_a_hanging_aws_gets_a_timely_answer_and_frees_its_thread(emulator, run_bot):
    emulator.seed_realistic(jobs=30)
    bot = run_bot()
    emulator.hang(15)
    ack = bot.command("FAILED")
    assert ack.status == 200
    message = bot.answer(ack, timeout=40)
    assert "AWS did not answer in time" in message["text"]
    # one attempt timed out at the 10 s read timeout; no second attempt could finish inside the deadline
    assert emulator.call_count("ListDataDeletionJobs") == 1
    emulator.hang(0)
    # the worker that waited on AWS is free again: a new command is answered normally
    assert job_arns(bot.ask("FAILED"))
    # (Bounded: the worker that answered may still be on its way out of botocore.)
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("deletion-jobs-work") and _busy(t)],
               timeout=5, what="the bot's workers to leave botocore")


def _busy(thread: threading.Thread) -> bool:
    import sys
    import traceback

    frame = sys._current_frames().get(thread.ident)
    return frame is not None and any("botocore" in line for line in traceback.format_stack(frame))


def test_unreachable_endpoint_says_so(emulator, run_bot):
    bot = run_bot()
    emulator.stop()
    message = bot.ask("FAILED", )
    assert "cannot reach AWS" in message["text"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDeniedException", "not allowed to read deletion jobs"),
        ("ExpiredTokenException", "credentials are missing or expired"),
        ("UnrecognizedClientException", "credentials are missing or expired"),
    ],
)
def test_each_refusal_has_its_own_message_and_a_log_line_with_the_request_id(emulator, run_bot, caplog, code,
                                                                             expected):
    emulator.seed_realistic(jobs=10)
    bot = run_bot()
    emulator.inject_error("*", code, times=10)
    message = bot.ask("FAILED")
    assert expected in message["text"]
    assert any(code in r.getMessage() and "request id" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records if r.levelname == "ERROR")


def test_missing_credentials_say_so(emulator, run_bot, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    message = run_bot().ask("FAILED")
    assert "credentials are missing or expired" in message["text"]

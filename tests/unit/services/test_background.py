"""Handoff: a request's background work is held until its acknowledgement is written, then runs once, in order."""

from __future__ import annotations

import logging

from services.background import HANDOFF, Handoff, release_handoff


class RecordingRunner:
    """A BackgroundRunner that runs what it is given at once, on the caller's thread, and remembers it."""

    def __init__(self):
        self.submitted = []

    def submit(self, fn, /, *args, **kwargs):
        self.submitted.append(fn)
        fn(*args, **kwargs)


def test_work_waits_for_the_release_then_runs_once_in_order():
    runner, ran = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.submit(ran.append, "first")
    handoff.submit(ran.append, "second")
    assert ran == [] and runner.submitted == [] and handoff.held == 2
    handoff.release()
    handoff.release()
    assert ran == ["first", "second"] and len(runner.submitted) == 1


def test_work_handed_over_after_the_release_runs_at_once():
    runner, ran = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.release()
    handoff.submit(ran.append, "late")
    assert ran == ["late"]


def test_a_gate_that_says_no_drops_the_work_and_runs_on_the_pool():
    runner, ran, checked = RecordingRunner(), [], []
    handoff = Handoff(runner)
    handoff.gate(lambda: checked.append("gate") or False)
    handoff.submit(ran.append, "work")
    assert checked == []  # not on the caller's path
    handoff.release()
    assert checked == ["gate"] and ran == []


def test_a_gate_that_says_yes_runs_before_the_work():
    runner, order = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.gate(lambda: order.append("gate") or True)
    handoff.submit(order.append, "work")
    handoff.release()
    assert order == ["gate", "work"]


def test_nothing_handed_over_submits_nothing_not_even_the_gate():
    runner = RecordingRunner()
    handoff = Handoff(runner)
    handoff.gate(lambda: True)
    handoff.release()
    assert runner.submitted == []


def test_one_failing_piece_of_work_does_not_stop_the_next(caplog):
    runner, ran = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.gate(lambda: True)
    handoff.submit(lambda: 1 / 0)
    handoff.submit(ran.append, "after")
    with caplog.at_level(logging.ERROR):
        handoff.release()
    assert ran == ["after"]
    assert [r.getMessage() for r in caplog.records] == ["background task <lambda> failed"]


def test_release_handoff_reads_the_request_context():
    runner, ran = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.submit(ran.append, "work")
    release_handoff({})
    release_handoff(None)
    release_handoff({HANDOFF: handoff})
    assert ran == ["work"]


def test_a_gate_that_fails_lets_the_work_through(caplog):
    runner, ran = RecordingRunner(), []
    handoff = Handoff(runner)
    handoff.gate(lambda: 1 / 0)
    handoff.submit(ran.append, "work")
    with caplog.at_level(logging.ERROR):
        handoff.release()
    assert ran == ["work"]
    assert [r.getMessage() for r in caplog.records] == ["the check before a request's work failed; doing the work"
                                                        " anyway"]

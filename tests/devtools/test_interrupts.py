"""stop_signals_interrupt_main_thread: a stop signal ends the main thread's blocking call, whichever thread got it."""

from __future__ import annotations

import os
import select
import signal
import threading
import time

import pytest

from devtools.interrupts import NUDGE_SIGNAL, stop_signals_interrupt_main_thread

# Only a safety net: releases the main thread if nothing else does, and the test then fails on that count.
WATCHDOG_SECONDS = 30


def blocked_in_select(native_id: int) -> bool:
    """The thread sleeps in select() (its kernel wait channel), not on the GIL (a futex) nor running."""
    with open(f"/proc/self/task/{native_id}/wchan") as file:
        wchan = file.read()
    return "select" in wchan or "poll" in wchan


def test_a_stop_signal_handled_on_another_thread_ends_the_main_threads_select():
    read_fd, write_fd = os.pipe()
    main, done = threading.get_native_id(), threading.Event()
    signalled, released_by_watchdog = threading.Event(), threading.Event()

    def signal_this_thread_once_main_is_blocked():
        # Only once the main thread sleeps in select(): a signal handled before that is noticed at its next
        # bytecode, and proves nothing. SIGTERM's C handler then runs on this thread and the main thread's
        # select() is not interrupted, as when the kernel picks a worker thread, or when Ctrl-C lands just
        # before readline's select() at the demo's prompt.
        deadline = time.monotonic() + WATCHDOG_SECONDS
        while not blocked_in_select(main):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        signalled.set()
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        if not done.wait(WATCHDOG_SECONDS):
            released_by_watchdog.set()
            os.write(write_fd, b"x")

    helper = threading.Thread(target=signal_this_thread_once_main_is_blocked, daemon=True)
    try:
        with stop_signals_interrupt_main_thread(), pytest.raises(KeyboardInterrupt):
            helper.start()
            # Blocked like readline at the prompt: select() on a descriptor nothing writes to but the watchdog.
            select.select([read_fd], [], [], WATCHDOG_SECONDS)
    finally:
        done.set()
        helper.join()
        os.close(read_fd)
        os.close(write_fd)
    assert signalled.is_set(), "the main thread was never seen blocked in select()"
    assert not released_by_watchdog.is_set(), "the signal did not end the main thread's select()"


def test_signal_handling_is_restored_afterwards():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, NUDGE_SIGNAL)}
    with stop_signals_interrupt_main_thread():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.set_wakeup_fd(-1) == -1
    assert "demo-signals" not in {thread.name for thread in threading.enumerate()}

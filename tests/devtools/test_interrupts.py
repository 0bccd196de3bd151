"""runtime/signals.py: a stop signal ends the main thread's blocking call, whichever thread got it: the demo's
prompt (stop_signals_interrupt_main_thread), the scheduler process's wait and `python bot.py`'s HTTP server."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time

import pytest

from runtime.signals import NUDGE_SIGNAL, stop_signals_interrupt_main_thread, wait_for_stop_signal

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
    assert "stop-signals" not in {thread.name for thread in threading.enumerate()}


# ---- the processes: `python bot.py scheduler` and `python bot.py` over HTTP ------------------------------------


def wait_channel(native_id: int) -> str:
    with open(f"/proc/self/task/{native_id}/wchan") as file:
        return file.read()


def signal_another_thread_once_main_sleeps(sleeping_in, stop_main) -> tuple[threading.Thread, dict]:
    """A thread that waits until the main thread sleeps in the kernel as `sleeping_in(native_id)` says (seen
    three times in a row), then takes a SIGTERM itself: its C handler runs there, not on the main thread. After
    WATCHDOG_SECONDS without the main thread returning, `stop_main()` releases it and the test fails on that."""
    main = threading.get_native_id()
    state = {"signalled": False, "released_by_watchdog": False, "done": threading.Event()}

    def run():
        deadline, seen = time.monotonic() + WATCHDOG_SECONDS, 0
        while seen < 3:
            if time.monotonic() > deadline:
                return
            seen = seen + 1 if sleeping_in(main) else 0
            time.sleep(0.01)
        state["signalled"] = True
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        if not state["done"].wait(WATCHDOG_SECONDS):
            state["released_by_watchdog"] = True
            stop_main()

    return threading.Thread(target=run, daemon=True), state


def test_the_scheduler_process_stops_on_a_sigterm_handled_on_another_thread():
    main_ident = threading.get_ident()
    helper, state = signal_another_thread_once_main_sleeps(
        lambda native_id: "futex" in wait_channel(native_id),  # Event.wait(): a lock, in the kernel a futex
        lambda: signal.pthread_kill(main_ident, signal.SIGTERM),
    )
    helper.start()
    try:
        wait_for_stop_signal(stopping="the digest scheduler")
    finally:
        state["done"].set()
        helper.join()
    assert state["signalled"], "the main thread was never seen waiting"
    assert not state["released_by_watchdog"], "the signal did not end the main thread's wait"


def test_the_http_server_stops_on_a_sigterm_handled_on_another_thread(make_settings, monkeypatch):
    import web
    from runtime import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(web, "create_wsgi_app", lambda app, secret, **_: lambda environ, start_response: [])
    main_ident = threading.get_ident()
    helper, state = signal_another_thread_once_main_sleeps(
        lambda native_id: "poll" in wait_channel(native_id),  # the event loop, idle in epoll_wait()
        lambda: signal.pthread_kill(main_ident, signal.SIGTERM),
    )
    helper.start()
    try:
        serve.serve_http(None, make_settings(port=port))
    finally:
        state["done"].set()
        helper.join()
    assert state["signalled"], "the main thread was never seen in its event loop"
    assert not state["released_by_watchdog"], "the signal did not stop the server"

"""Ctrl-C and SIGTERM reach the main thread wherever it is blocked, whichever thread the kernel picked.

Every process that waits for a stop signal uses this: the demo at its prompt, `python bot.py` serving HTTP or
Socket Mode, and the scheduler process (`python bot.py scheduler`).

CPython runs a Python signal handler only in the main thread, between bytecodes. The C-level handler, on
whichever thread the kernel delivered the signal to, only sets a flag (and writes the signal number to
`signal.set_wakeup_fd`). A main thread blocked in a system call notices the flag only if that very call is
interrupted (EINTR), and at the demo's prompt it is blocked in readline's select() on stdin, with no timeout.
So a Ctrl-C whose C handler ran a moment before that select() (readline writes the prompt, then calls select:
the prompt can be on screen while the thread is not yet in select, easily when the CPU is busy) or on another
thread (the kernel may pick any thread that does not block the signal) sets the flag, and nothing looks at it
until the next keystroke: the demo ignores Ctrl-C. A server idle in its event loop's epoll, or the scheduler
process waiting on an Event, would likewise go on until its next request or for good.

Both entry points close that gap: a watcher thread reads the wakeup fd and, until the handler has run, keeps
sending the main thread a signal of its own, which does nothing but interrupt whatever the main thread is blocked
in, so that CPython runs the pending handler there. `stop_signals_interrupt_main_thread` (the demo) raises
KeyboardInterrupt; `on_stop_signal` (the processes) hands a stop function to a new thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator

logger = logging.getLogger("deletion_jobs.signals")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Sent only by the watcher to the main thread; its handler does nothing, its delivery interrupts a blocking call.
NUDGE_SIGNAL = signal.SIGUSR1
# The main thread is nudged again this often until the stop signal's handler has run (one nudge nearly always does).
NUDGE_INTERVAL = 0.2


@contextlib.contextmanager
def stop_signals_interrupt_main_thread() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, even when it is blocked in C code.

    SIGTERM is handled as Ctrl-C is, so both leave the same way (everything stopped and removed). Outside the
    main thread (where signal handlers cannot be set) this does nothing.
    """
    with _stop_signals_handled_by(_raise_keyboard_interrupt):
        yield


@contextlib.contextmanager
def on_stop_signal(stop: Callable[[], None], *, stopping: str) -> Iterator[None]:
    """Within: SIGTERM or SIGINT logs that `stopping` stops and runs `stop()` on a new thread, promptly.

    On a new thread because a signal handler runs in the main thread between any two bytecodes, maybe while it
    holds the very lock `stop` needs (`Event.set()` while the main thread is inside `Event.wait()`'s lock, a
    server's `shutdown()` that waits for the main thread's own `serve_forever()`).
    """

    def handler(signum: int) -> None:
        def stop_and_log() -> None:
            logger.info("%s received, stopping %s", signal.Signals(signum).name, stopping)
            stop()

        threading.Thread(target=stop_and_log, name="stop-signal", daemon=True).start()

    with _stop_signals_handled_by(handler):
        yield


def wait_for_stop_signal(stopping: str) -> None:
    """Block the main thread until SIGTERM (Heroku, systemd, docker stop) or SIGINT (Ctrl-C)."""
    stopped = threading.Event()
    with on_stop_signal(stopped.set, stopping=stopping):
        stopped.wait()


def _raise_keyboard_interrupt(_signum: int) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals_handled_by(handle: Callable[[int], None]) -> Iterator[None]:
    """Within: `handle(signum)` runs in the main thread for SIGINT and SIGTERM, whichever thread got the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watcher = _Watcher(handle)
    previous_handlers = {sig: signal.signal(sig, watcher.stop) for sig in STOP_SIGNALS}
    previous_handlers[NUDGE_SIGNAL] = signal.signal(NUDGE_SIGNAL, _nudged)
    previous_fd = signal.set_wakeup_fd(watcher.write_fd, warn_on_full_buffer=False)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        # Before the nudge handler goes: a nudge after it would find SIGUSR1's default action, which kills.
        watcher.close()
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)


def _nudged(_signum, _frame) -> None:
    """The nudge's only work is done by its delivery: the main thread's blocking call returns with EINTR."""


class _Watcher:
    """Reads the signal numbers the C handler writes; nudges the main thread until a stop signal is handled."""

    def __init__(self, handle: Callable[[int], None]) -> None:
        self._handle = handle
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)  # the C handler must never block on it
        self._handled = threading.Event()
        self._closing = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, name="stop-signals", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, signum, _frame):
        """The Python handler of the stop signals: runs in the main thread."""
        self._handled.set()
        self._handle(signum)

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(BlockingIOError):
            os.write(self.write_fd, b"\0")  # wakes the watcher's read
        self._thread.join()
        os.close(self.read_fd)
        os.close(self.write_fd)

    def _run(self) -> None:
        stop_numbers = {int(sig) for sig in STOP_SIGNALS}
        while not self._closing.is_set():
            received = os.read(self.read_fd, 64)
            if stop_numbers.isdisjoint(received):
                continue
            # Nudge until the handler has run; after the first stop the process is leaving, so no further nudging.
            while not (self._handled.is_set() or self._closing.is_set()):
                signal.pthread_kill(self._main, NUDGE_SIGNAL)
                self._handled.wait(NUDGE_INTERVAL)

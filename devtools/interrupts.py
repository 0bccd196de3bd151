"""Ctrl-C and SIGTERM reach the demo's main thread wherever it is blocked, whichever thread the kernel picked.

CPython runs a Python signal handler only in the main thread, between bytecodes. The C-level handler, on
whichever thread the kernel delivered the signal to, only sets a flag (and writes the signal number to
`signal.set_wakeup_fd`). A main thread blocked in a system call notices the flag only if that very call is
interrupted (EINTR), and at the demo's prompt it is blocked in readline's select() on stdin, with no timeout.
So a Ctrl-C whose C handler ran a moment before that select() (readline writes the prompt, then calls select:
the prompt can be on screen while the thread is not yet in select, easily when the CPU is busy) or on another
thread (the kernel may pick any thread that does not block the signal) sets the flag, and nothing looks at it
until the next keystroke: the demo ignores Ctrl-C.

`stop_signals_interrupt_main_thread` closes that gap: a watcher thread reads the wakeup fd and, until the
handler has run, keeps sending the main thread a signal of its own, which does nothing but interrupt whatever
the main thread is blocked in, so that CPython runs the pending handler there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

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
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watcher = _Watcher()
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

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)  # the C handler must never block on it
        self._handled = threading.Event()
        self._closing = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, name="demo-signals", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, _signum, _frame):
        """The Python handler of the stop signals: runs in the main thread."""
        self._handled.set()
        raise KeyboardInterrupt

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
            # Nudge until the handler has run; after the first stop the demo is leaving, so no further nudging.
            while not (self._handled.is_set() or self._closing.is_set()):
                signal.pthread_kill(self._main, NUDGE_SIGNAL)
                self._handled.wait(NUDGE_INTERVAL)

"""Bounded polling: wait for something another thread or process does, never a bare sleep of a guessed length.

The bounds are generous (the machine may be busy): a safety net for a stuck test, never a measure of speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PATIENCE = 60.0


def wait_until(condition: Callable[[], object], *, timeout: float = PATIENCE, interval: float = 0.02,
               what: str = "the condition") -> object:
    """Poll `condition` until it returns something truthy, and return that; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)


def race(calls: list) -> list:
    """Run each call in a thread of its own, all released at once; their results in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results

"""The slow half of every Slack request runs on a background pool, after its acknowledgement has been sent.

`BackgroundRunner` is that pool. `Handoff` is one request's share of it: the listener acks, then hands its work to
the request's Handoff, which holds it until the server has written the acknowledgement and then submits it. Work
that started at once would compete with the request's own thread for the GIL (boto3 building a request, Block
Kit rendering) before the 200 is on the wire. A `gate` (the duplicate-delivery check) runs first, on the pool: a
request whose gate says no is acknowledged and nothing more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

logger = logging.getLogger(__name__)

# The request context's keys: the request's Handoff, and a mark set by a server that releases it itself once the
# response is written (web.py, Socket Mode). Without the mark, the app releases it when dispatch returns.
HANDOFF = "handoff"
RELEASED_AFTER_RESPONSE = "handoff_released_after_response"


class BackgroundRunner:
    def __init__(self, max_workers: int = 32, *, name: str = "deletion-jobs-work"):
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        def run():
            try:
                return fn(*args, **kwargs)
            except Exception:
                logger.exception("background task %s failed", getattr(fn, "__name__", fn))
                raise

        return self._executor.submit(run)

    def shutdown(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


class Handoff:
    """One request's background work, held until `release()` (after the response is written), then run in order.

    Work handed over after the release runs at once. Releasing twice is harmless: the second does nothing.
    """

    def __init__(self, runner):
        self._runner = runner
        self._lock = threading.Lock()
        self._work: list[tuple[Callable, tuple, dict]] = []
        self._gate: Callable[[], bool] | None = None
        self._released = False

    def gate(self, check: Callable[[], bool]) -> None:
        """`check()` runs on the pool before the work; when it returns False the work is dropped."""
        self._gate = check

    def submit(self, fn: Callable, /, *args, **kwargs) -> None:
        with self._lock:
            if not self._released:
                self._work.append((fn, args, kwargs))
                return
        self._runner.submit(fn, *args, **kwargs)

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
            work, self._work = self._work, []
        if not work:
            return
        if self._gate is None and len(work) == 1:
            fn, args, kwargs = work[0]
            self._runner.submit(fn, *args, **kwargs)
            return
        self._runner.submit(_run_gated, self._gate, work)

    @property
    def held(self) -> int:
        """How many pieces of work wait for the release (for tests)."""
        with self._lock:
            return len(self._work)


def _run_gated(gate: Callable[[], bool] | None, work: list[tuple[Callable, tuple, dict]]) -> None:
    if gate is not None and not _passes(gate):
        return
    for fn, args, kwargs in work:
        try:
            fn(*args, **kwargs)
        except Exception:
            logger.exception("background task %s failed", getattr(fn, "__name__", fn))


def _passes(gate: Callable[[], bool]) -> bool:
    """A gate that fails lets the work through: a request answered twice beats one never answered."""
    try:
        return gate()
    except Exception:
        logger.exception("the check before a request's work failed; doing the work anyway")
        return True


def release_handoff(context) -> None:
    """Release the request's Handoff, if it has one (a server calls this once its response is written)."""
    handoff = context.get(HANDOFF) if context is not None else None
    if handoff is not None:
        handoff.release()

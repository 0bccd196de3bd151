"""BackgroundRunner: the slow half of every Slack request runs here, so acknowledgements never queue behind AWS.

Bolt runs `ack()` in its own listener pool; if that pool also waited on AWS, a burst of slow commands would
hold every thread and the next `ack()` would miss Slack's 3 seconds. Handlers ack, then hand the rest here.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

logger = logging.getLogger(__name__)


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

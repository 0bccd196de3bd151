"""JobPageCache: `ListDataDeletionJobs` pages shared between requests for a few seconds, one call in flight per page.

Fifty people running `/deletion-jobs failed` during an incident ask AWS for the same pages; Personalize throttles
its control-plane reads and publishes no rate for them. A page is kept for `ttl_seconds` after its answer arrived,
keyed by what fetched it (region, dataset group or whole account, maxResults, nextToken), and a request for a
page already being fetched waits for that call instead of making its own (single-flight).

Only answers are kept. A call that failed (an AWS error, a malformed answer, a timeout) is not: every request
waiting on it gets the same error, and the next request calls again. Waiters do not retry on their own: the
failure is most likely throttling or an outage, and fifty retries at once are what we are avoiding.

Per process: gunicorn workers each keep their own. Bounded: at most `max_entries` pages (oldest dropped first).
A kept JobsPage is handed to every request that asks for it: callers read it, never change it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from services.errors import AwsTimeout, DeadlineSpent
from services.models import JobsPage

# A page of 100 jobs held about 160 KB of Python objects (tracemalloc, emulator data): 64 pages are 10 MB at most
# per process. Fifty people asking the same thing need a few pages; 256 made the bench's steady-state RSS grow 20 MB.
MAX_ENTRIES = 64

PageKey = tuple[str, str | None, int, str | None]


def page_key(region: str, dataset_group_arn: str | None, max_results: int, next_token: str | None) -> PageKey:
    """What identifies one `ListDataDeletionJobs` answer (no dataset group: the whole account)."""
    return (region, dataset_group_arn or None, max_results, next_token or None)


@dataclass
class Flight:
    """One call in flight: its waiters block on `done`, then take `value` or `error` (`result`)."""

    done: threading.Event = field(default_factory=threading.Event)
    value: object = None
    error: BaseException | None = None
    waiters: int = 0

    def result(self, wait_seconds: float, what: str):
        """The call's answer, or a copy of its error; AwsTimeout past `wait_seconds`; LeaderOutOfTime when the call
        ended because its own caller's deadline had passed (the waiter, which may have time left, calls itself)."""
        if not self.done.wait(max(wait_seconds, 0.0)):
            raise AwsTimeout(f"{what}: deadline passed waiting for the same call in flight")
        if isinstance(self.error, DeadlineSpent):
            raise LeaderOutOfTime
        if self.error is not None:
            error = _own_copy(self.error)
            if error is self.error:
                raise error
            raise error from self.error
        return self.value


class LeaderOutOfTime(Exception):
    """The call a request waited for ended on its caller's own deadline, not on an AWS answer."""


class JobPageCache:
    """Thread-safe. `clock` is monotonic seconds (injectable for tests)."""

    def __init__(self, ttl_seconds: float, *, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        if ttl_seconds <= 0:
            raise ValueError("a cache that keeps nothing: build none instead (LIST_CACHE_SECONDS=0)")
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key → (when the answer arrived, page); insertion order is arrival order, so the oldest come first.
        self._entries: OrderedDict[PageKey, tuple[float, JobsPage]] = OrderedDict()
        self._flights: dict[PageKey, Flight] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def waiting(self) -> int:
        """How many requests are waiting for a call in flight (for tests and debugging)."""
        with self._lock:
            return sum(flight.waiters for flight in self._flights.values())

    def get(self, key: PageKey, fetch: Callable[[], JobsPage], *, wait_seconds: float) -> JobsPage:
        """The page at `key`: kept, or the answer of the call in flight for it, or `fetch()`'s (then kept).

        A waiter gives up after `wait_seconds` with AwsTimeout; `fetch`'s errors reach its caller and every waiter,
        except a call that ended on its own caller's deadline: a waiter with time left then calls itself.
        """
        give_up = time.monotonic() + wait_seconds
        while True:
            with self._lock:
                kept = self._fresh(key)
                if kept is not None:
                    return kept
                flight = self._flights.get(key)
                leading = flight is None
                if leading:
                    flight = self._flights[key] = Flight()
                else:
                    flight.waiters += 1
            if leading:
                return self._fetch(key, flight, fetch)
            try:
                return flight.result(give_up - time.monotonic(), "list_data_deletion_jobs")
            except LeaderOutOfTime:
                continue
            finally:
                with self._lock:
                    flight.waiters -= 1

    def _fresh(self, key: PageKey) -> JobsPage | None:
        """The kept page at `key` if it is younger than the TTL; drops it when it is not. Holds the lock."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry[0] < self._ttl:
            return entry[1]
        del self._entries[key]
        return None

    def _fetch(self, key: PageKey, flight: Flight, fetch: Callable[[], JobsPage]) -> JobsPage:
        try:
            page = fetch()
        except BaseException as err:
            flight.error = err
            with self._lock:
                del self._flights[key]
            flight.done.set()
            raise
        flight.value = page
        with self._lock:
            del self._flights[key]
            self._keep(key, page)
        flight.done.set()
        return page

    def _keep(self, key: PageKey, page: JobsPage) -> None:
        """Store `page`, after dropping expired pages and, past `max_entries`, the oldest. Holds the lock."""
        now = self._clock()
        self._entries.pop(key, None)
        while self._entries:
            oldest_key, (arrived, _) = next(iter(self._entries.items()))
            if now - arrived < self._ttl and len(self._entries) < self._max_entries:
                break
            del self._entries[oldest_key]
        self._entries[key] = (now, page)


def _own_copy(error: BaseException) -> BaseException:
    """A copy of `error` for one waiter: one exception object raised in several threads shares one traceback."""
    try:
        return copy.copy(error)
    except Exception:  # an exception type that cannot be rebuilt from its args: the original will do
        return error

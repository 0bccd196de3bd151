"""A clock the test sets: services that take `clock=` read the time from it, and it moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The digest tests' "now": a Monday, 09:00 UTC, in November (no DST change near it).
CLOCK_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = CLOCK_START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move on by `timedelta(**delta)`; returns the new time."""
        self.now += timedelta(**delta)
        return self.now

"""The digest's time window: which failures a run reports for a channel, and how far back it must read.

Pure functions of the subscription, the clock and the ledger's unposted failures, so they test without I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from services.models import DeletionJob, DigestWindow, as_utc

# A window re-reads a few minutes before the last digest: a failure stamped just before that digest may show up
# in ListDataDeletionJobs only after it. The ledger keeps the overlap from repeating anything already posted.
WINDOW_OVERLAP = timedelta(minutes=5)


def window_for(
    last_digest_at: datetime | None,
    *,
    now: datetime,
    lookback: timedelta,
    oldest_pending: datetime | None = None,
    overlap: timedelta = WINDOW_OVERLAP,
) -> DigestWindow:
    """After the channel's last successful digest; on its first run, the last `lookback`.

    `oldest_pending` is the earliest failure the ledger holds unposted for the channel (a refused post, a run
    that died): the window reaches back to it, so those failures are offered again whoever moved the watermark.
    """
    now = as_utc(now)
    if last_digest_at is None:
        since = read_from = now - lookback
    else:
        since = as_utc(last_digest_at)
        read_from = since - overlap
    if oldest_pending is not None and as_utc(oldest_pending) < read_from:
        read_from = as_utc(oldest_pending)
    return DigestWindow(since=since, until=now, read_from=read_from, first=last_digest_at is None)


def read_cutoff(windows: Iterable[DigestWindow], max_job_age: timedelta) -> datetime:
    """Stop reading (newest created first) at jobs created before this: none of them can have failed in any window.

    A job fails at most `max_job_age` after it was created, so a failure at or after `read_from` belongs to a job
    created at or after `read_from - max_job_age`.
    """
    return min(window.read_from for window in windows) - max_job_age


def created_before(job: DeletionJob, cutoff: datetime) -> bool:
    return job.created is not None and as_utc(job.created) < cutoff

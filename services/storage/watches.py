"""Watch state: who watches which deletion job, what was last seen of it, and the claim on the message owed.

One table, `watches` (declared in `schema.py`, with every other table). A row lives from `/deletion-jobs watch`
until its watcher has been told how it ended (or the watch was ended otherwise); then it is deleted.

Exactly one message per watch, across threads, processes and crashes, is the digest ledger's protocol
(`services/storage/ledger.py`) applied to one row, plus one step the digest does not have:

- once the job's end is known, `outcome` is set (only on rows where it is still NULL, so it is set once);
- `claim()` takes the row by an UPDATE whose WHERE clause re-checks it under the row lock: free, or claimed more
  than the claim TTL ago. Two pollers racing for a row: the database lets exactly one of them have it;
- `begin_post()` renews the claim right before the post, and records *that a post is being sent*
  (`post_started_at`, committed before the HTTP request). A claim found expired with `post_started_at` set
  belongs to a poller that died, or gave up waiting, while its post was in flight: the post may have reached
  Slack. The next claimant looks for it in the watcher's DM (`services/watches/poller.py`) before posting;
- `finish()` deletes the row once Slack has taken the post; `release()` frees the claim when it did not.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from services.models import DeletionJob, DeletionJobDetails, Watch, as_utc
from services.storage.schema import watches
from services.storage.store import stored_utc, utcnow

logger = logging.getLogger(__name__)

# Bound parameter lists: SQLite caps the number of variables in one statement.
_CHUNK = 400

STARTED = "started"
ALREADY = "already"
LIMIT = "limit"


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite stores datetimes without their zone: always write UTC.
    return None if moment is None else stored_utc(moment)


def _read_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def watch_from_row(row) -> Watch:
    return Watch(
        id=row.id, user_id=row.user_id, job_arn=row.job_arn, job_name=row.job_name,
        dataset_group_arn=row.dataset_group_arn, started_at=as_utc(row.started_at), last_status=row.last_status,
        job_created_at=_read_utc(row.job_created_at), last_checked_at=_read_utc(row.last_checked_at),
        outcome=row.outcome, num_deleted=row.num_deleted, failure_reason=row.failure_reason,
        data_location=row.data_location, finished_at=_read_utc(row.finished_at),
    )


def _serialize_per_user(connection: Connection, user_id: str) -> None:
    """On PostgreSQL, one person's watch starts take turns (a lock until the transaction ends): under READ
    COMMITTED two could otherwise count 19 watches each and both insert a 20th."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"watches:{user_id}"})


@dataclass(frozen=True)
class WatchClaim:
    """A poller's hold on one watch's message. `post_started_at` set: an earlier post may have reached Slack."""

    watch: Watch
    token: str
    notice_key: str
    team_id: str | None
    post_started_at: datetime | None

    @property
    def in_doubt(self) -> bool:
        return self.post_started_at is not None


class WatchStore:
    def __init__(self, engine: Engine, *, claim_ttl: timedelta, clock=utcnow):
        self._engine = engine
        self._claim_ttl = claim_ttl
        self._clock = clock

    @property
    def claim_ttl(self) -> timedelta:
        return self._claim_ttl

    # ---- starting, ending, listing ------------------------------------------------------------------

    def start(self, user_id: str, job: DeletionJob, *, team_id: str | None, limit: int) -> tuple[Watch | None, str]:
        """A watch of `job` for `user_id`: (the watch, STARTED or ALREADY), or (None, LIMIT) at `limit` watches."""
        now = _utc(self._clock())
        c = watches.c
        try:
            with self._engine.begin() as connection:
                _serialize_per_user(connection, user_id)
                existing = connection.execute(
                    select(watches).where(c.user_id == user_id, c.job_arn == job.arn)).first()
                if existing is not None:
                    return watch_from_row(existing), ALREADY
                count = connection.execute(select(func.count()).where(c.user_id == user_id)).scalar()
                if count >= limit:
                    return None, LIMIT
                new_id = connection.execute(insert(watches).values(
                    user_id=user_id, team_id=team_id, job_arn=job.arn, job_name=job.name[:64],
                    dataset_group_arn=job.dataset_group_arn, started_at=now, job_created_at=_utc(job.created),
                    last_status=job.status[:32], last_checked_at=now, beyond_first_page=False,
                    notice_key=secrets.token_hex(12),
                )).inserted_primary_key[0]
        except IntegrityError:
            # The same person pressed Watch twice at once: the other press made the watch.
            existing = self._get(user_id, job.arn)
            if existing is None:
                raise
            return existing, ALREADY
        # SQLite runs the count outside the write transaction, so two watches started at once by one person can
        # both pass it; its writes are serialised, so ids follow commit order and the later one gives way here.
        with self._engine.begin() as connection:
            if connection.execute(select(func.count()).where(c.user_id == user_id, c.id <= new_id)).scalar() > limit:
                connection.execute(delete(watches).where(c.id == new_id))
                return None, LIMIT
        watch = self._get(user_id, job.arn)
        assert watch is not None
        return watch, STARTED

    def _get(self, user_id: str, job_arn: str) -> Watch | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(watches).where(watches.c.user_id == user_id, watches.c.job_arn == job_arn)).first()
        return watch_from_row(row) if row else None

    def of_user(self, user_id: str) -> list[Watch]:
        """The person's watches, oldest first (ended ones are gone)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(watches).where(watches.c.user_id == user_id).order_by(watches.c.started_at, watches.c.id))
            return [watch_from_row(row) for row in rows]

    def stop(self, user_id: str, *, job_arn: str | None = None, job_name: str | None = None) -> Watch | None:
        """End the person's watch of this job (by ARN, or by name); the ended watch, or None when there was none."""
        c = watches.c
        match = c.job_arn == job_arn if job_arn is not None else c.job_name == job_name
        with self._engine.begin() as connection:
            row = connection.execute(select(watches).where(c.user_id == user_id, match).order_by(c.id)).first()
            if row is None:
                return None
            connection.execute(delete(watches).where(c.id == row.id))
        return watch_from_row(row)

    def end(self, watch_id: int) -> bool:
        """Delete a watch whatever its state (its owner or group is no longer allowed, Slack refused the DM)."""
        with self._engine.begin() as connection:
            return connection.execute(delete(watches).where(watches.c.id == watch_id)).rowcount == 1

    def all(self) -> list[Watch]:
        with self._engine.connect() as connection:
            return [watch_from_row(row) for row in connection.execute(select(watches).order_by(watches.c.id))]

    def beyond_first_page(self) -> set[str]:
        """Job ARNs known to lie beyond their dataset group's first ListDataDeletionJobs page."""
        with self._engine.connect() as connection:
            return set(connection.execute(
                select(watches.c.job_arn).where(watches.c.beyond_first_page.is_(True)).distinct()).scalars())

    # ---- what a poll saw ------------------------------------------------------------------------------

    def record(self, *, seen: Sequence[DeletionJob] = (), finished: Sequence[DeletionJobDetails] = (),
               vanished: Sequence[str] = (), beyond: Sequence[str] = ()) -> None:
        """Store one poll's findings on every still-open watch of each job, in one transaction.

        `seen`: still running (status and check time); `finished`: COMPLETED or FAILED, as described (sets the
        outcome); `vanished`: AWS no longer knows the job; `beyond`: not in the group's first page.
        """
        now = _utc(self._clock())
        c = watches.c
        with self._engine.begin() as connection:
            for job in seen:
                connection.execute(update(watches).where(c.job_arn == job.arn, c.outcome.is_(None)).values(
                    last_status=job.status[:32], last_checked_at=now))
            for details in finished:
                job = details.job
                connection.execute(update(watches).where(c.job_arn == job.arn, c.outcome.is_(None)).values(
                    last_status=job.status, last_checked_at=now, outcome=job.status,
                    num_deleted=details.num_deleted, failure_reason=job.failure_reason,
                    data_location=details.data_location, finished_at=_utc(job.updated)))
            for chunk in _chunks(list(vanished)):
                connection.execute(update(watches).where(c.job_arn.in_(chunk), c.outcome.is_(None)).values(
                    last_checked_at=now, outcome="VANISHED"))
            for chunk in _chunks(list(beyond)):
                connection.execute(update(watches).where(c.job_arn.in_(chunk)).values(beyond_first_page=True))

    def set_outcome(self, watch_ids: Sequence[int], outcome: str) -> int:
        """Give these watches an outcome (EXPIRED) unless they already have one; how many changed."""
        c = watches.c
        with self._engine.begin() as connection:
            return sum(connection.execute(
                update(watches).where(c.id.in_(chunk), c.outcome.is_(None)).values(outcome=outcome)).rowcount
                for chunk in _chunks(list(watch_ids)))

    # ---- the message owed: claim, post, finish or release -------------------------------------------------

    def _takeable(self, now: datetime):
        c = watches.c
        return or_(c.claim_token.is_(None), c.claimed_at < now - self._claim_ttl)

    def claim(self, watch_id: int) -> WatchClaim | None:
        """Take the message of this watch, unless it has none or another poller holds it (a live claim)."""
        now = _utc(self._clock())
        token = secrets.token_hex(12)
        c = watches.c
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(watches).where(c.id == watch_id, c.outcome.is_not(None), self._takeable(now))
                .values(claim_token=token, claimed_at=now)).rowcount
            if not taken:
                return None
            row = connection.execute(select(watches).where(c.id == watch_id, c.claim_token == token)).first()
        if row is None:
            return None
        return WatchClaim(watch_from_row(row), token, row.notice_key, row.team_id, _read_utc(row.post_started_at))

    def _ours(self, claim: WatchClaim, now: datetime) -> tuple:
        c = watches.c
        return (c.id == claim.watch.id, c.claim_token == claim.token, c.claimed_at >= now - self._claim_ttl)

    def begin_post(self, claim: WatchClaim) -> bool:
        """Renew the claim and record that a post is going out; False when the claim was lost (do not post)."""
        now = _utc(self._clock())
        c = watches.c
        with self._engine.begin() as connection:
            return connection.execute(update(watches).where(*self._ours(claim, now)).values(
                claimed_at=now, post_started_at=func.coalesce(c.post_started_at, now))).rowcount == 1

    def finish(self, claim: WatchClaim) -> None:
        """Slack has the message: the watch is over."""
        c = watches.c
        with self._engine.begin() as connection:
            done = connection.execute(
                delete(watches).where(c.id == claim.watch.id, c.claim_token == claim.token)).rowcount
            if not done:
                # The post outlasted the claim and another poller took the row over; it finds this post in the DM
                # before posting, unless it has posted already. Deleting stops it from trying.
                logger.error("watch %s: the claim lapsed while its message was being posted; raise"
                             " DIGEST_CLAIM_TTL_MINUTES (now %s)", claim.watch.id,
                             self._claim_ttl.total_seconds() / 60)
                connection.execute(delete(watches).where(c.id == claim.watch.id))

    def release(self, claim: WatchClaim, *, in_doubt: bool) -> None:
        """Not posted (or not known to be): free the row for the next poll. `in_doubt` keeps the post's trace."""
        values: dict = {"claim_token": None, "claimed_at": None}
        if not in_doubt:
            values["post_started_at"] = None
        with self._engine.begin() as connection:
            connection.execute(update(watches).where(
                watches.c.id == claim.watch.id, watches.c.claim_token == claim.token).values(**values))

"""The digest ledger: (channel, job ARN) failures claimed or posted, so that each failure is posted once.

The table is declared in `services.storage.schema`; this module owns its queries. The ledger is what makes
"each failure once" hold across threads, processes and crashes:

- `claim()` inserts one row per (channel, job) with a UNIQUE constraint, in one transaction
  (`INSERT … ON CONFLICT DO NOTHING` on SQLite and PostgreSQL). Two runs racing for the same failure both
  try the insert; the database lets exactly one of them own it. No in-memory check decides anything.
- A claim that was never marked posted (its process died, or its post was refused and released) can be taken
  again: released rows at once, expired ones after the claim TTL, by an UPDATE whose WHERE clause re-checks the
  row, so two runs cannot both take it.
- Right before each post, `renew()` re-takes the message's failures with the same rule the other way round: it
  succeeds only on rows this run still holds with a live claim, and restarts their TTL. A run whose claim was
  taken over (or lapsed) skips the post, so the TTL only has to outlast one post, and Slack waits are capped
  well below it (`services/slack/retry.py`).
- Released and expired rows are kept, with the job's failure time, so the next run reads back far enough to
  offer them again even after another run has moved the channel's watermark on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from services.models import as_utc
from services.storage.schema import digest_ledger
from services.storage.store import stored_utc, utcnow

logger = logging.getLogger(__name__)

# Bound parameter lists: SQLite caps the number of variables in one statement.
_CHUNK = 400


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _update_unposted(connection: Connection, channel_id: str, job_arns: Sequence[str], values: dict,
                     *conditions) -> int:
    """Set `values` on the channel's unposted ledger rows for these jobs (and `conditions`); how many changed."""
    c = digest_ledger.c
    return sum(
        connection.execute(
            update(digest_ledger)
            .where(c.channel_id == channel_id, c.job_arn.in_(chunk), c.posted_at.is_(None), *conditions)
            .values(**values)
        ).rowcount
        for chunk in _chunks(job_arns)
    )


@dataclass(frozen=True)
class Claim:
    """Failures one run now owns for one channel; `token` proves it when marking or releasing them."""

    channel_id: str
    token: str
    job_arns: frozenset[str]


class DigestLedger:
    """(channel, job ARN) pairs claimed and posted; see the module docstring for the protocol."""

    def __init__(self, engine: Engine, *, claim_ttl: timedelta, clock=utcnow):
        self._engine = engine
        self._claim_ttl = claim_ttl
        self._clock = clock

    @property
    def claim_ttl(self) -> timedelta:
        return self._claim_ttl

    def claim(self, channel_id: str, failures: Sequence[tuple[str, datetime]]) -> Claim:
        """Take every failure (job ARN, failure time) that no other run has posted or holds a live claim on."""
        token = secrets.token_hex(12)
        now = stored_utc(self._clock())
        failures = list({arn: when for arn, when in failures}.items())
        if not failures:
            return Claim(channel_id, token, frozenset())
        c = digest_ledger.c
        with self._engine.begin() as connection:
            self._insert_new(connection, [
                {"channel_id": channel_id, "job_arn": arn, "failed_at": stored_utc(when),
                 "claim_token": token, "claimed_at": now}
                for arn, when in failures
            ])
            arns = [arn for arn, _ in failures]
            for chunk in _chunks(arns):
                # Re-checked row by row under the row lock: a concurrent run that took the row first has
                # refreshed claimed_at, so this WHERE no longer matches it.
                connection.execute(
                    update(digest_ledger)
                    .where(c.channel_id == channel_id, c.job_arn.in_(chunk), c.posted_at.is_(None))
                    .where(self._takeable(now))
                    .values(claim_token=token, claimed_at=now)
                )
            owned: set[str] = set()
            for chunk in _chunks(arns):
                owned.update(connection.execute(
                    select(c.job_arn).where(
                        c.channel_id == channel_id, c.job_arn.in_(chunk), c.claim_token == token,
                        c.posted_at.is_(None))
                ).scalars())
        return Claim(channel_id, token, frozenset(owned))

    def _takeable(self, now: datetime):
        """Rows nobody holds: released, or claimed more than the TTL ago. `renew` uses the exact opposite."""
        c = digest_ledger.c
        return or_(c.claim_token.is_(None), c.claimed_at < now - self._claim_ttl)

    def renew(self, claim: Claim, job_arns: Iterable[str]) -> frozenset[str]:
        """Restart the TTL of these failures while this claim still holds them; returns the ones it holds.

        Called right before each post: a failure missing from the answer was taken over by another run (or its
        claim lapsed, so another run may take it at any moment), and must not be posted by this one.
        """
        arns = list(job_arns)
        now = stored_utc(self._clock())
        c = digest_ledger.c
        held: set[str] = set()
        with self._engine.begin() as connection:
            for chunk in _chunks(arns):
                ours = (c.channel_id == claim.channel_id, c.job_arn.in_(chunk), c.claim_token == claim.token,
                        c.posted_at.is_(None), c.claimed_at >= now - self._claim_ttl)
                connection.execute(update(digest_ledger).where(*ours).values(claimed_at=now))
                # Renewed rows now have claimed_at == now, so the same WHERE finds exactly them.
                held.update(connection.execute(select(c.job_arn).where(*ours)).scalars())
        return frozenset(held)

    @staticmethod
    def _insert_new(connection: Connection, rows: list[dict]) -> None:
        dialect = connection.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            statement = dialect_insert(digest_ledger).on_conflict_do_nothing(
                index_elements=["channel_id", "job_arn"])
            for chunk in _chunks(rows):
                connection.execute(statement, list(chunk))
            return
        # Other databases: one savepoint per row, the unique constraint still decides.
        for row in rows:
            try:
                with connection.begin_nested():
                    connection.execute(insert(digest_ledger).values(**row))
            except IntegrityError:
                pass

    def mark_posted(self, claim: Claim, job_arns: Iterable[str], *, message_ts: str | None) -> None:
        """These failures reached the channel: never offer them again."""
        arns = list(job_arns)
        if not arns:
            return
        now = stored_utc(self._clock())
        c = digest_ledger.c
        posted = {"posted_at": now, "message_ts": message_ts}
        with self._engine.begin() as connection:
            marked = _update_unposted(connection, claim.channel_id, arns, posted, c.claim_token == claim.token)
            if marked < len(arns):
                # The post outlasted the claim renewed just before it, and another run took some over. They are
                # in the channel now: marking them stops that run's own renew() from posting them again, unless
                # it has already sent its post.
                logger.error(
                    "digest for %s: %d of %d claims expired while the post was in flight, so another run may have"
                    " posted them as well; raise DIGEST_CLAIM_TTL_MINUTES (now %s)",
                    claim.channel_id, len(arns) - marked, len(arns), self._claim_ttl.total_seconds() / 60,
                )
                _update_unposted(connection, claim.channel_id, arns, posted)

    def release(self, claim: Claim, job_arns: Iterable[str]) -> int:
        """These failures were not posted: let the next run take them at once. Returns how many."""
        arns = list(job_arns)
        with self._engine.begin() as connection:
            return _update_unposted(connection, claim.channel_id, arns, {"claim_token": None, "claimed_at": None},
                                    digest_ledger.c.claim_token == claim.token)

    def posted_among(self, channel_id: str, job_arns: Sequence[str]) -> set[str]:
        """Which of these failures the channel has already been shown."""
        c = digest_ledger.c
        posted: set[str] = set()
        with self._engine.connect() as connection:
            for chunk in _chunks(list(job_arns)):
                posted.update(connection.execute(
                    select(c.job_arn).where(c.channel_id == channel_id, c.job_arn.in_(chunk), c.posted_at.is_not(None))
                ).scalars())
        return posted

    def pending(self, channel_id: str) -> dict[str, datetime]:
        """Failures claimed or released but never posted: job ARN → failure time."""
        c = digest_ledger.c
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(c.job_arn, c.failed_at).where(c.channel_id == channel_id, c.posted_at.is_(None))
            )
            return {row.job_arn: as_utc(row.failed_at) for row in rows}

    def oldest_pending(self, channel_id: str) -> datetime | None:
        c = digest_ledger.c
        with self._engine.connect() as connection:
            value = connection.execute(
                select(func.min(c.failed_at)).where(c.channel_id == channel_id, c.posted_at.is_(None))
            ).scalar()
        return as_utc(value) if value else None

    def forget_pending(self, channel_id: str, job_arns: Iterable[str]) -> int:
        """Drop unposted rows that nobody holds, for failures AWS no longer lists (e.g. the group was deleted)."""
        arns = list(job_arns)
        now = stored_utc(self._clock())
        c = digest_ledger.c
        dropped = 0
        with self._engine.begin() as connection:
            for chunk in _chunks(arns):
                dropped += connection.execute(
                    delete(digest_ledger).where(
                        c.channel_id == channel_id, c.job_arn.in_(chunk), c.posted_at.is_(None),
                        self._takeable(now))
                ).rowcount
        return dropped

    def sweep(self, channel_id: str, *, failed_before: datetime) -> int:
        """Forget posted failures too old to fall in any future window, so the ledger stays small."""
        c = digest_ledger.c
        with self._engine.begin() as connection:
            return connection.execute(
                delete(digest_ledger).where(
                    and_(c.channel_id == channel_id, c.posted_at.is_not(None), c.failed_at < stored_utc(failed_before)))
            ).rowcount

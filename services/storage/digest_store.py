"""Digest state: channel subscriptions and the ledger of (channel, job ARN) failures already claimed or posted.

Both tables live on the shared `services.state.metadata`, so `StateStore.create_schema()` creates them.

The ledger is what makes "each failure once" hold across threads, processes and crashes:

- `claim()` inserts one row per (channel, job) with a UNIQUE constraint, in one transaction
  (`INSERT … ON CONFLICT DO NOTHING` on SQLite and PostgreSQL). Two runs racing for the same failure both
  try the insert; the database lets exactly one of them own it. No in-memory check decides anything.
- A claim that was never marked posted (its process died, or its post was refused and released) can be taken
  again: released rows at once, expired ones after the claim TTL, by an UPDATE whose WHERE clause re-checks the
  row, so two runs cannot both take it.
- Right before each post, `renew()` re-takes the message's failures with the same rule the other way round: it
  succeeds only on rows this run still holds with a live claim, and restarts their TTL. A run whose claim was
  taken over (or lapsed) skips the post, so the TTL only has to outlast one post, and Slack waits are capped
  well below it (`services.slack_retry`).
- Released and expired rows are kept, with the job's failure time, so the next run reads back far enough to
  offer them again even after another run has moved the channel's watermark on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from services.models import ORIGIN_SETTINGS, ORIGIN_SLACK, Subscription, as_utc
from services.storage.store import metadata, utcnow

logger = logging.getLogger(__name__)

# Bound parameter lists: SQLite caps the number of variables in one statement.
_CHUNK = 400

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("channel_id", String(32), primary_key=True),
    Column("dataset_group_arn", String(256), nullable=True),
    # "HH:MM" and an IANA zone; both NULL means the bot's DIGEST_SCHEDULE in DIGEST_TIMEZONE.
    Column("at_time", String(5), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("origin", String(16), nullable=False),
    Column("created_by", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # End of the window of the last digest that reached the channel (or found nothing to post).
    Column("last_digest_at", DateTime(timezone=True), nullable=True),
)

digest_ledger = Table(
    "digest_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(32), nullable=False),
    Column("job_arn", String(256), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("message_ts", String(32), nullable=True),
    UniqueConstraint("channel_id", "job_arn", name="uq_digest_ledger_channel_job"),
    Index("ix_digest_ledger_channel_posted", "channel_id", "posted_at"),
)


def _utc(moment: datetime) -> datetime:
    # SQLite stores datetimes without their zone: always write UTC.
    return as_utc(moment).astimezone(UTC)


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


# ---- subscriptions -------------------------------------------------------------------------------------


class SubscriptionStore:
    """Which channels get a digest, of which dataset group (None: all), and when."""

    def __init__(self, engine: Engine, *, clock=utcnow):
        self._engine = engine
        self._clock = clock

    def get(self, channel_id: str) -> Subscription | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id)
            ).first()
        return Subscription.from_row(row) if row else None

    def list(self) -> list[Subscription]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(digest_subscriptions).order_by(digest_subscriptions.c.channel_id))
            return [Subscription.from_row(row) for row in rows]

    def subscribe(
        self,
        channel_id: str,
        *,
        dataset_group_arn: str | None,
        at_time: str | None = None,
        timezone: str | None = None,
        created_by: str | None = None,
        origin: str = ORIGIN_SLACK,
    ) -> tuple[Subscription, bool]:
        """Create or replace the channel's subscription; True when it is new. The watermark is kept."""
        now = _utc(self._clock())
        values = {
            "dataset_group_arn": dataset_group_arn,
            "at_time": at_time,
            "timezone": timezone,
            "origin": origin,
            "updated_at": now,
        }
        created = False
        for _attempt in range(2):
            try:
                with self._engine.begin() as connection:
                    changed = connection.execute(
                        update(digest_subscriptions)
                        .where(digest_subscriptions.c.channel_id == channel_id)
                        .values(**values)
                    ).rowcount
                    if not changed:
                        connection.execute(insert(digest_subscriptions).values(
                            channel_id=channel_id, created_by=created_by, created_at=now, **values))
                        created = True
                break
            except IntegrityError:
                # Someone subscribed the same channel between our UPDATE and INSERT: update theirs.
                created = False
        subscription = self.get(channel_id)
        assert subscription is not None
        return subscription, created

    def unsubscribe(self, channel_id: str) -> Subscription | None:
        """Remove the channel's subscription; the removed one, or None when there was none."""
        with self._engine.begin() as connection:
            row = connection.execute(
                select(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id)
            ).first()
            if row is None:
                return None
            connection.execute(delete(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id))
        return Subscription.from_row(row)

    def record_success(self, channel_id: str, until: datetime) -> None:
        """Move the channel's watermark to `until`, never backwards (a slower concurrent run may finish later)."""
        until = _utc(until)
        column = digest_subscriptions.c.last_digest_at
        with self._engine.begin() as connection:
            connection.execute(
                update(digest_subscriptions)
                .where(digest_subscriptions.c.channel_id == channel_id)
                .where(or_(column.is_(None), column < until))
                .values(last_digest_at=until)
            )

    def sync_configured(self, channel_ids: Sequence[str], *, dataset_group_arn: str | None) -> list[str]:
        """Make DIGEST_CHANNELS subscriptions match the settings; returns a line per change, for the log.

        Channels subscribed from Slack are left alone; settings-made ones no longer listed are removed.
        """
        wanted = list(dict.fromkeys(channel_ids))
        existing = {s.channel_id: s for s in self.list()}
        changes = []
        for channel_id in wanted:
            current = existing.get(channel_id)
            if current is None:
                self.subscribe(channel_id, dataset_group_arn=dataset_group_arn, origin=ORIGIN_SETTINGS)
                changes.append(f"subscribed {channel_id} (DIGEST_CHANNELS)")
            elif current.origin == ORIGIN_SETTINGS and current.dataset_group_arn != dataset_group_arn:
                self.subscribe(channel_id, dataset_group_arn=dataset_group_arn, origin=ORIGIN_SETTINGS)
                changes.append(f"changed {channel_id} to dataset group {dataset_group_arn or 'all'} (DIGEST_CHANNELS)")
        for channel_id, current in existing.items():
            if current.origin == ORIGIN_SETTINGS and channel_id not in wanted:
                self.unsubscribe(channel_id)
                changes.append(f"unsubscribed {channel_id}: no longer in DIGEST_CHANNELS")
        return changes


# ---- ledger --------------------------------------------------------------------------------------------


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
        now = _utc(self._clock())
        failures = list({arn: when for arn, when in failures}.items())
        if not failures:
            return Claim(channel_id, token, frozenset())
        c = digest_ledger.c
        with self._engine.begin() as connection:
            self._insert_new(connection, [
                {"channel_id": channel_id, "job_arn": arn, "failed_at": _utc(when),
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
        now = _utc(self._clock())
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
        now = _utc(self._clock())
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
        now = _utc(self._clock())
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
                    and_(c.channel_id == channel_id, c.posted_at.is_not(None), c.failed_at < _utc(failed_before)))
            ).rowcount

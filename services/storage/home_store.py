"""The Home tab's shared read of the account: one row holding the snapshot JSON, when it was read, and a lease.
The table is declared in `services.storage.schema`; this module owns its queries.

Every process that serves Home reads this row; only the holder of the lease reads AWS. `take_lease` is one UPDATE
whose WHERE clause re-checks the row (no lease alive, the snapshot still older than the caller accepts, no read
failed in the back-off), so of any number of processes asking at once exactly one gets it, on SQLite and
PostgreSQL alike. A holder that dies leaves a lease that lapses after `lease_for`; `save` only ever replaces an
older snapshot. Times are the bot's clock (UTC): processes on one database should agree to within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from services.models import as_utc
from services.storage.schema import home_snapshots
from services.storage.store import stored_utc, utcnow


@dataclass(frozen=True)
class SnapshotRow:
    """The row without its payload: cheap to read on every opening of Home."""

    read_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    failed_at: datetime | None
    failure: str | None


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


class HomeSnapshotStore:
    def __init__(self, engine: Engine, *, key: str):
        self._engine = engine
        self._key = key

    def row(self) -> SnapshotRow | None:
        t = home_snapshots.c
        with self._engine.connect() as connection:
            found = connection.execute(
                select(t.read_at, t.lease_owner, t.lease_until, t.failed_at, t.failure).where(t.scope == self._key)
            ).first()
        if found is None:
            return None
        return SnapshotRow(_utc(found.read_at), found.lease_owner, _utc(found.lease_until), _utc(found.failed_at),
                           found.failure)

    def payload(self) -> tuple[str, datetime] | None:
        """The snapshot JSON and its read time, or None before the first read."""
        t = home_snapshots.c
        with self._engine.connect() as connection:
            found = connection.execute(select(t.payload, t.read_at).where(t.scope == self._key)).first()
        if found is None or found.payload is None or found.read_at is None:
            return None
        return found.payload, as_utc(found.read_at)

    def take_lease(self, owner: str, *, now: datetime | None = None, lease_for: timedelta, read_before: datetime,
                   failed_before: datetime) -> bool:
        """Take the right to read AWS: only when no lease is alive, the snapshot was read before `read_before`
        (or never), and no read failed since `failed_before`. True for exactly one of any concurrent callers."""
        now = stored_utc(now or utcnow())
        self._ensure_row()
        t = home_snapshots.c
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(home_snapshots)
                .where(t.scope == self._key)
                .where(or_(t.lease_until.is_(None), t.lease_until < now))
                .where(or_(t.read_at.is_(None), t.read_at < stored_utc(read_before)))
                .where(or_(t.failed_at.is_(None), t.failed_at < stored_utc(failed_before)))
                .values(lease_owner=owner, lease_until=now + lease_for)
            )
        return taken.rowcount == 1

    def save(self, owner: str, payload: str, read_at: datetime) -> None:
        """Store a snapshot (unless a newer one is there already) and give the lease back."""
        t = home_snapshots.c
        read_at = stored_utc(read_at)
        with self._engine.begin() as connection:
            connection.execute(
                update(home_snapshots)
                .where(t.scope == self._key)
                .where(or_(t.read_at.is_(None), t.read_at < read_at))
                .values(payload=payload, read_at=read_at, failed_at=None, failure=None)
            )
            self._release(connection, owner)

    def record_failure(self, owner: str, failure: str, *, at: datetime | None = None) -> None:
        """A read failed: say so (Home shows it, and nobody reads again during the back-off); give the lease back."""
        with self._engine.begin() as connection:
            connection.execute(update(home_snapshots).where(home_snapshots.c.scope == self._key)
                               .values(failed_at=stored_utc(at or utcnow()), failure=failure[:64]))
            self._release(connection, owner)

    def release(self, owner: str) -> None:
        with self._engine.begin() as connection:
            self._release(connection, owner)

    def _release(self, connection, owner: str) -> None:
        t = home_snapshots.c
        connection.execute(update(home_snapshots).where(t.scope == self._key).where(t.lease_owner == owner)
                           .values(lease_owner=None, lease_until=None))

    def _ensure_row(self) -> None:
        try:
            with self._engine.begin() as connection:
                exists = connection.execute(
                    select(home_snapshots.c.scope).where(home_snapshots.c.scope == self._key)).first()
                if exists is None:
                    connection.execute(insert(home_snapshots).values(scope=self._key))
        except IntegrityError:
            pass  # another process inserted it between our check and our insert: the row is there

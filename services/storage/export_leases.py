"""ExportLeases: one export at a time per person, across every process that shares the database.

A lease is a row per Slack user in the `export_leases` table (services/storage/schema.py): its primary key makes
the database pick one winner when two exports start at once, in one process or in two gunicorn workers. The
export renews it while it runs; a process that dies leaves a lease that expires after its TTL, so nobody waits
for good.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.models import as_utc
from services.storage.schema import export_leases
from services.storage.store import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    user_id: str
    token: str


class ExportLeases:
    def __init__(self, engine: Engine, *, ttl: timedelta = timedelta(minutes=10), clock=utcnow):
        self._engine = engine
        self._ttl = ttl
        self._clock = clock

    def claim(self, user_id: str) -> Lease | None:
        """The user's lease, or None while another live one exists (see `started_at`)."""
        now = self._clock()
        token = secrets.token_hex(16)
        with self._engine.begin() as connection:
            connection.execute(delete(export_leases).where(export_leases.c.user_id == user_id,
                                                           export_leases.c.expires_at < now))
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(export_leases).values(user_id=user_id, token=token, started_at=now,
                                                                expires_at=now + self._ttl))
        except IntegrityError:
            return None
        return Lease(user_id, token)

    def started_at(self, user_id: str) -> datetime | None:
        with self._engine.connect() as connection:
            value = connection.execute(select(export_leases.c.started_at)
                                       .where(export_leases.c.user_id == user_id)).scalar()
        return as_utc(value) if value is not None else None

    def renew(self, lease: Lease) -> None:
        """Push the lease's expiry on; a database that does not answer only costs the renewal (logged)."""
        c = export_leases.c
        try:
            with self._engine.begin() as connection:
                connection.execute(update(export_leases).where(c.user_id == lease.user_id, c.token == lease.token)
                                   .values(expires_at=self._clock() + self._ttl))
        except SQLAlchemyError as err:
            logger.warning("could not renew the export lease of %s (%s); it expires on its own",
                           lease.user_id, type(err).__name__)

    def release(self, lease: Lease) -> None:
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(export_leases).where(export_leases.c.user_id == lease.user_id,
                                                               export_leases.c.token == lease.token))
        except SQLAlchemyError as err:
            logger.warning("could not release the export lease of %s (%s); it expires after %s",
                           lease.user_id, type(err).__name__, self._ttl)

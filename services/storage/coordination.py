"""Tables that let several processes share work through the state store: Slack deliveries already taken, and the
scheduler lease. Both tables are declared in `schema.py`; this module owns their queries.

- `slack_deliveries`: one row per Slack request key (`trigger_id` of a command or click, `event_id` of an event),
  inserted by the first copy to arrive. A later copy's insert finds the row and does nothing: that copy is
  acknowledged and not processed. Rows live `DELIVERY_MEMORY` (10 minutes: Slack's 5-minute signature window and
  its event retries fall well inside) and are swept as new ones come in.
- `scheduler_lease`: one row per lease name, with its owner and expiry. The scheduler that holds a live row leads
  (services/scheduling/lease.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, delete
from sqlalchemy.engine import Connection, Engine

from services.storage.schema import slack_deliveries
from services.storage.store import utcnow

DELIVERY_MEMORY = timedelta(minutes=10)

def upsert_statement(connection: Connection, table: Table):
    """`INSERT … ON CONFLICT` for this connection's dialect (SQLite and PostgreSQL both have it)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class DeliveryLog:
    """Which Slack deliveries some process has already taken, for `DELIVERY_MEMORY`."""

    def __init__(self, engine: Engine, *, memory: timedelta = DELIVERY_MEMORY, clock=utcnow,
                 sweep_every: int = 100):
        self._engine = engine
        self._memory = memory
        self._clock = clock
        self._sweep_every = sweep_every
        self._since_sweep = 0

    def take(self, key: str) -> bool:
        """True for the first copy of `key` within the memory (an expired row is taken again), False after."""
        now = self._clock()
        with self._engine.begin() as connection:
            statement = upsert_statement(connection, slack_deliveries).values(key=key, expires_at=now + self._memory)
            # The WHERE re-checks the row under the conflict's lock: of two copies racing, exactly one gets it.
            statement = statement.on_conflict_do_update(
                index_elements=[slack_deliveries.c.key],
                set_={"expires_at": statement.excluded.expires_at},
                where=slack_deliveries.c.expires_at <= now,
            )
            # RETURNING, not rowcount: drivers differ on what rowcount says for an upsert.
            taken = connection.execute(statement.returning(slack_deliveries.c.key)).first() is not None
            self._maybe_sweep(connection, now)
        return taken

    def _maybe_sweep(self, connection: Connection, now: datetime) -> None:
        # Every so many takes, not each: one more statement on the path that acknowledges Slack.
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self._since_sweep = 0
            connection.execute(delete(slack_deliveries).where(slack_deliveries.c.expires_at <= now))

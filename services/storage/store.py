"""The state store: SQLAlchemy tables shared by paging (long cursors) and the digest (subscriptions, ledger)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.errors import StateStoreUnavailable
from services.models import as_utc

logger = logging.getLogger(__name__)

# What the operator should look at when the database does not answer.
CHECK_DATABASE_URL = "check DATABASE_URL and that the database is running"

metadata = MetaData()

cursors = Table(
    "cursors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_state_engine(database_url: str) -> Engine:
    """An engine for DATABASE_URL, set up for several threads (and, on SQLite, several processes)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers and one writer work at once; busy_timeout makes writers wait, not fail.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args = {}
    if database_url.startswith("postgresql+psycopg"):
        # A server that accepts connections but never answers would otherwise hang start-up, and every request
        # and digest after it, for good: fail in seconds with a message instead.
        connect_args = {
            "connect_timeout": 5,
            "options": "-c statement_timeout=30000",
            # A connection whose peer vanished (a partition, a firewall dropping idle flows) is noticed by the
            # kernel and fails, instead of leaving a digest or a click waiting on it for good.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 30000,
        }
    return create_engine(
        database_url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10, pool_recycle=1800,
        connect_args=connect_args,
    )


def redact_url(database_url: str) -> str:
    """DATABASE_URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as its scheme only
        return database_url.split(":", 1)[0] + "://…"


class StateStore:
    """Owns the engine and the schema."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str) -> StateStore:
        try:
            return cls(create_state_engine(database_url))
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise StateStoreUnavailable(f"DATABASE_URL {redact_url(database_url)} is not usable: {err}") from err

    def create_schema(self) -> None:
        """Create missing tables; raise StateStoreUnavailable when the database does not answer."""
        try:
            with self.engine.begin() as connection:
                connection.execute(text("SELECT 1"))
            self._create_tables()
        except SQLAlchemyError as err:
            url = redact_url(self.engine.url.render_as_string(hide_password=False))
            reason = str(getattr(err, "orig", err)).strip().splitlines()[0] if str(err) else type(err).__name__
            raise StateStoreUnavailable(f"the database at {url} does not answer: {reason}") from err

    def _create_tables(self, attempts: int = 3) -> None:
        # gunicorn workers, or web and clock, start together on a fresh database: between create_all's "is the
        # table there?" and its CREATE TABLE, another process may create it ("table ... already exists").
        # Checking again then finds the table; an error that persists is a real one and is raised.
        import services.storage.home_store  # noqa: F401 - declares the Home tab's snapshot table on the metadata

        for attempt in range(1, attempts + 1):
            try:
                metadata.create_all(self.engine)
                return
            except SQLAlchemyError:
                if attempt == attempts:
                    raise


class CursorStore:
    """Paging cursors too long for a button's value, kept under a short id until they expire."""

    def __init__(self, engine: Engine, *, ttl: timedelta):
        self._engine = engine
        self._ttl = ttl

    def put(self, payload: str) -> str:
        cursor_id = secrets.token_urlsafe(12)
        now = utcnow()
        with self._engine.begin() as connection:
            connection.execute(insert(cursors).values(id=cursor_id, payload=payload, expires_at=now + self._ttl))
            # Sweep a few expired rows as we go, so the table never needs a cron job.
            connection.execute(delete(cursors).where(cursors.c.expires_at < now))
        return cursor_id

    def get(self, cursor_id: str) -> str | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(cursors.c.payload, cursors.c.expires_at).where(cursors.c.id == cursor_id)
            ).first()
        if row is None or as_utc(row.expires_at) < utcnow():
            return None
        return row.payload

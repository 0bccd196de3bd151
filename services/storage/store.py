"""The state store: the engine for DATABASE_URL, the schema it creates (declared in `schema.py`), paging cursors."""

from __future__ import annotations

import logging
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, delete, event, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.errors import StateStoreUnavailable
from services.models import as_utc
from services.storage.schema import cursors, metadata

logger = logging.getLogger(__name__)

# What the operator should look at when the database does not answer.
CHECK_DATABASE_URL = "check DATABASE_URL and that the database is running"


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_utc(moment: datetime) -> datetime:
    """A moment as written to the database: SQLite stores datetimes without their zone, so always UTC."""
    return as_utc(moment).astimezone(UTC)


def database_reason(err: SQLAlchemyError) -> str:
    """The driver's first line (e.g. "connection refused"), without SQLAlchemy's SQL and parameters."""
    reason = str(getattr(err, "orig", None) or err).strip()
    return reason.splitlines()[0] if reason else type(err).__name__


DEFAULT_TIMEOUT_SECONDS = 30.0
# The client-side bound waits this much longer than the server's statement_timeout, so that a merely slow statement
# is cancelled by the server (an error that leaves the connection usable) before the client gives up on it.
CLIENT_BOUND_MARGIN_SECONDS = 5.0


def create_state_engine(database_url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> Engine:
    """An engine for DATABASE_URL, set up for several threads (and, on SQLite, several processes).

    `timeout_seconds` (DATABASE_TIMEOUT_SECONDS) bounds one database operation: SQLite's wait for the write lock;
    PostgreSQL's statement_timeout, and on the client side every wait for the server (see `bound_every_wait`).
    """
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": timeout_seconds},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers and one writer work at once; busy_timeout makes writers wait, not fail.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}")
            cursor.close()

        return engine
    connect_args = {}
    if database_url.startswith("postgresql+psycopg"):
        # A server that accepts connections but never answers would otherwise hang start-up, and every request
        # and digest after it, for good: fail in seconds with a message instead.
        connect_args = {
            "connect_timeout": 5,
            "options": f"-c statement_timeout={int(timeout_seconds * 1000)}",
            # A connection whose peer vanished (a partition, a firewall dropping idle flows) is noticed by the
            # kernel and fails, instead of leaving a digest or a click waiting on it for good.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 30000,
        }
    engine = create_engine(
        database_url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10, pool_recycle=1800,
        connect_args=connect_args,
    )
    if database_url.startswith("postgresql+psycopg"):
        bound_every_wait(engine, timeout_seconds + CLIENT_BOUND_MARGIN_SECONDS)
    return engine


def bound_every_wait(engine: Engine, seconds: float) -> None:
    """Make every psycopg connection of `engine` give up on the server after `seconds`, and close itself.

    A frozen server (SIGSTOP, a hung VM, a proxy that stops forwarding) is the case nothing else covers: its
    statement_timeout cannot fire, and its kernel still acknowledges our packets and keepalives, so neither
    tcp_user_timeout nor keepalives ever notice. psycopg 3 runs every exchange with the server (execute, fetch,
    commit, rollback, SQLAlchemy's pre-ping) through `Connection.wait()`, whose `timeout` (psycopg >= 3.2) bounds
    the whole exchange; connecting is bounded by connect_timeout already. A timed-out connection is in an unknown
    protocol state, so it is closed: SQLAlchemy then sees a disconnect, invalidates it, and never reuses it.
    """
    connection_class = _bounded_connection_class(seconds)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        return connection_class.connect(*cargs, **cparams)


def _bounded_connection_class(seconds: float):
    import psycopg

    # psycopg's own wait-timeout error: internal, documented as "handle it or convert it to a public one".
    from psycopg.errors import _WaitTimeout

    class BoundedConnection(psycopg.Connection):
        def wait(self, gen, interval=0.1, timeout=None):
            if timeout is not None:  # psycopg's own timed waits (notifies, cancelling on Ctrl-C) keep theirs
                return super().wait(gen, interval=interval, timeout=timeout)
            try:
                return super().wait(gen, interval=interval, timeout=seconds)
            except _WaitTimeout:
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database did not answer within {seconds:g} s (the bot's client-side limit,"
                    " DATABASE_TIMEOUT_SECONDS + 5); the connection was closed"
                ) from None

    return BoundedConnection


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
    def from_url(cls, database_url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> StateStore:
        try:
            return cls(create_state_engine(database_url, timeout_seconds=timeout_seconds))
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise StateStoreUnavailable(f"DATABASE_URL {redact_url(database_url)} is not usable: {err}") from err

    def create_schema(self) -> None:
        """Create the missing tables of `schema.py` (all of them, whatever was imported before); raise
        StateStoreUnavailable when the database does not answer."""
        try:
            self._create_tables()
        except SQLAlchemyError as err:
            url = redact_url(self.engine.url.render_as_string(hide_password=False))
            reason = str(getattr(err, "orig", err)).strip().splitlines()[0] if str(err) else type(err).__name__
            raise StateStoreUnavailable(f"the database at {url} does not answer: {reason}") from err

    def _create_tables(self, attempts: int | None = None) -> None:
        # gunicorn workers, or web and clock, start together on a fresh database: between create_all's "is the
        # table there?" and its CREATE TABLE, another process may create it ("table ... already exists"), and on
        # SQLite two first connections switching the file to WAL at once may find it locked. Trying again, a moment
        # later, finds the table there or the lock gone. Each clash means one more table exists, so one attempt per
        # table (three were not enough: the bench's two workers clashed three times and one exited); an error that
        # persists is a real one and is raised.
        attempts = attempts or len(metadata.tables) + 1
        for attempt in range(1, attempts + 1):
            try:
                with self.engine.begin() as connection:
                    connection.execute(text("SELECT 1"))
                metadata.create_all(self.engine)
                return
            except SQLAlchemyError as err:
                if attempt == attempts or not _a_clash(err):
                    raise
                time.sleep(random.uniform(0, 0.05 * attempt))


def _a_clash(err: SQLAlchemyError) -> bool:
    """Another process creating the same schema at the same moment, not a database that does not answer."""
    reason = str(getattr(err, "orig", err)).lower()
    return any(sign in reason for sign in ("already exists", "database is locked", "duplicate key"))


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

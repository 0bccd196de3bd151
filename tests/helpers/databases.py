"""Databases for the tests: a SQLite file, and PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth).

`postgres_database()` creates a database from `test` and drops it afterwards: for tests whose processes race on a
fresh server database. The `database_url` fixture (tests/conftest.py) instead reuses one PostgreSQL database per
test session, emptied before each test (`empty_database`): as good as new for a test, without the cost of a
CREATE DATABASE and a DROP DATABASE each time. When the server does not answer, the PostgreSQL variants skip and
say why, unless REQUIRE_POSTGRES=1 (CI), which makes them fail instead: a CI run must not pass with PostgreSQL
silently untested.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pytest
from sqlalchemy import MetaData, create_engine, text

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USERS = ("postgres", "root")
REQUIRE_POSTGRES = "REQUIRE_POSTGRES"

DATABASE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES, "").strip().lower() in ("1", "true", "yes", "on")


def _admin_connection():
    import psycopg

    problems = []
    for user in PG_USERS:
        try:
            return psycopg.connect(host=PG_HOST, port=PG_PORT, dbname="test", user=user, connect_timeout=3,
                                   autocommit=True), user
        except psycopg.Error as err:
            problems.append(f"{user}: {str(err).strip().splitlines()[0] if str(err) else type(err).__name__}")
    why = f"PostgreSQL at {PG_HOST}:{PG_PORT} (database test) does not answer ({'; '.join(problems)})"
    if postgres_required():
        pytest.fail(f"{why}, and {REQUIRE_POSTGRES} is set: start PostgreSQL, or unset {REQUIRE_POSTGRES} to skip",
                    pytrace=False)
    pytest.skip(f"{why}, so the PostgreSQL variant is skipped")


@contextmanager
def postgres_database():
    """A fresh, empty database; yields its `postgresql+psycopg://` URL and drops it afterwards."""
    admin, user = _admin_connection()
    name = f"digest_test_{secrets.token_hex(6)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def empty_database(url: str) -> None:
    """Drop every table of the PostgreSQL database at `url`, after ending any connection a previous test left."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


def sqlite_url_in(directory) -> str:
    return f"sqlite:///{directory / 'state.sqlite3'}"


def _state_store(url: str):
    from services.storage.store import StateStore

    return StateStore.from_url(url)


@contextmanager
def database_url_for(kind: str, tmp_path):
    """A database of `kind` ("sqlite" or "postgresql") of its own, for tests whose processes share it."""
    if kind == "sqlite":
        yield sqlite_url_in(tmp_path)
    else:
        with postgres_database() as url:
            yield url


def create_schema(url: str) -> None:
    """Every table of the bot, created as the bot creates them at start-up."""
    store = _state_store(url)
    store.create_schema()
    store.engine.dispose()


@contextmanager
def engine_with_schema(url: str):
    """An engine on `url` with every table created; disposed afterwards."""
    store = _state_store(url)
    store.create_schema()
    try:
        yield store.engine
    finally:
        store.engine.dispose()

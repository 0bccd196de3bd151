"""Database URLs for the digest's ledger and concurrency tests: a SQLite file, and a throwaway PostgreSQL database.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth); each test gets its own database, created from `test`
and dropped afterwards. When the server does not answer, the PostgreSQL variants skip and say why, unless
REQUIRE_POSTGRES=1 (CI), which makes them fail instead: a CI run must not pass with PostgreSQL silently untested.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USERS = ("postgres", "root")
REQUIRE_POSTGRES = "REQUIRE_POSTGRES"


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


DATABASE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def database_url_for(kind: str, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request, tmp_path):
    """Runs the test once on SQLite and once on PostgreSQL."""
    with database_url_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def digest_engine(database_url):
    """An engine with every table of the state store."""
    from services.storage.store import StateStore

    store = StateStore.from_url(database_url)
    store.create_schema()
    yield store.engine
    store.engine.dispose()

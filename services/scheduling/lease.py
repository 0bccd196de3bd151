"""Scheduler leases: any number of scheduler processes, exactly one of them at work.

Every process that runs the scheduler keeps trying to hold one row of `scheduler_lease` (services/storage/
coordination.py): `refresh()` renews the row when this process owns it, takes it over when it has expired, and
otherwise leaves it alone, all in one UPDATE (or the first INSERT) whose WHERE clause the database checks under the
row's lock, so two processes can never both get it. Expiry times are the database's own clock on PostgreSQL (so
machines whose clocks disagree still agree on who leads) and this machine's clock on SQLite (one machine).

The leader stops before its lease runs out. `is_leading()` is true only until `lease_seconds - margin` after the
moment the last successful renewal was *sent* (this process's monotonic clock): the row's expiry, set by the
database after it received the renewal, is later than that. A leader that cannot reach the database, or whose
renewal hangs, so stops leading on its own before anyone else can take the row; a successor takes it at the
expiry, on its next try (`tick_seconds`). Every scheduled job goes through `LeaderOnlyExecutor`, which runs a job
only while `is_leading()`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from sqlalchemy import or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from services.storage.coordination import upsert_statement
from services.storage.schema import scheduler_lease
from services.storage.store import as_utc, utcnow

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def new_owner_id() -> str:
    """Who holds the lease, as the log and the table show it: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def database_now(connection: Connection) -> datetime:
    """The database's clock on PostgreSQL; this machine's on SQLite (a file on this machine)."""
    if connection.dialect.name == "postgresql":
        return as_utc(connection.execute(text("SELECT clock_timestamp()")).scalar_one())
    return utcnow()


class SchedulerLease:
    """One process's hold on the scheduler lease."""

    def __init__(self, engine: Engine, *, lease_seconds: float = 30.0, owner: str | None = None,
                 name: str = LEASE_NAME, now: Callable[[Connection], datetime] = database_now,
                 monotonic: Callable[[], float] = time.monotonic):
        self._engine = engine
        self.lease_seconds = lease_seconds
        self.owner = owner or new_owner_id()
        self._name = name
        self._now = now
        self._monotonic = monotonic
        # Stop this long before the lease could run out: slack for a scheduled job's check to be a moment old.
        self.margin = 1.0 + lease_seconds / 10
        # How often to renew (the leader) or try to take over (the others).
        self.tick_seconds = max(0.5, lease_seconds / 6)
        self._valid_until = 0.0
        self.holder: str | None = None

    def is_leading(self) -> bool:
        return self._monotonic() < self._valid_until

    def refresh(self) -> bool:
        """Renew or take the lease; True when this process leads now. A database error keeps what is left of the
        current term (it runs out on its own) and is raised for the caller to log."""
        sent = self._monotonic()
        with self._engine.begin() as connection:
            now = self._now(connection)
            expires = now + timedelta(seconds=self.lease_seconds)
            held = connection.execute(
                update(scheduler_lease)
                .where(scheduler_lease.c.name == self._name,
                       or_(scheduler_lease.c.owner == self.owner, scheduler_lease.c.expires_at <= now))
                .values(owner=self.owner, expires_at=expires)
            ).rowcount == 1
            if not held:
                statement = upsert_statement(connection, scheduler_lease).values(
                    name=self._name, owner=self.owner, expires_at=expires)
                held = connection.execute(
                    statement.on_conflict_do_nothing(index_elements=[scheduler_lease.c.name])
                    .returning(scheduler_lease.c.name)
                ).first() is not None
            if not held:
                self.holder = connection.execute(
                    select(scheduler_lease.c.owner).where(scheduler_lease.c.name == self._name)).scalar_one_or_none()
        self._valid_until = sent + self.lease_seconds - self.margin if held else 0.0
        if held:
            self.holder = self.owner
        return held

    def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so another scheduler takes over on its next try."""
        self._valid_until = 0.0
        with self._engine.begin() as connection:
            now = self._now(connection)
            connection.execute(
                update(scheduler_lease)
                .where(scheduler_lease.c.name == self._name, scheduler_lease.c.owner == self.owner)
                .values(expires_at=now)
            )


class LeaseKeeper:
    """A thread that refreshes the lease every tick, logs each change of role, and calls `on_leading` on taking it."""

    def __init__(self, lease: SchedulerLease, *, on_leading: Callable[[], None] | None = None, metrics=None):
        self.lease = lease
        self._on_leading = on_leading
        self._metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_leading = False
        self._failing = False

    def start(self) -> None:
        self.tick()  # the first decision before start() returns: a lone scheduler leads at once
        self._thread = threading.Thread(target=self._run, name="scheduler-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.lease.tick_seconds):
            self.tick()

    def tick(self) -> None:
        try:
            self.lease.refresh()
            if self._failing:
                logger.info("scheduler lease: the database answers again")
            self._failing = False
        except SQLAlchemyError as err:
            if not self._failing:
                reason = str(getattr(err, "orig", None) or err).strip().splitlines()
                logger.error("scheduler lease: could not renew (the database does not answer: %s); this scheduler"
                             " stops running jobs when its lease runs out", reason[0] if reason else type(err).__name__)
            self._failing = True
        self._note_role()

    def _note_role(self) -> None:
        leading = self.lease.is_leading()
        if self._metrics is not None:
            self._metrics.leading(leading)
        if leading == self._was_leading:
            return
        self._was_leading = leading
        if leading:
            logger.info("scheduler lease: this scheduler (%s) now leads and runs the jobs", self.lease.owner)
            if self._on_leading is not None:
                self._on_leading()
        else:
            logger.warning("scheduler lease: this scheduler (%s) no longer leads (%s holds the lease); it runs no"
                           " jobs until it leads again", self.lease.owner, self.lease.holder or "nobody")

    def role(self) -> str:
        return "leading" if self.lease.is_leading() else "standby"

    def stop(self, *, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        leading = self.lease.is_leading()
        if release and leading:
            try:
                self.lease.release()
                logger.info("scheduler lease: released by %s on shutdown", self.lease.owner)
            except SQLAlchemyError:
                logger.warning("scheduler lease: could not release it on shutdown; it runs out by itself")
        if self._metrics is not None:
            self._metrics.leading(False)


class LeaderOnlyExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool executor, running a job only while this process leads.

    Every job of the scheduler, today's and any added later, goes through here: followers keep the same schedule
    and skip each run (the leader's catch-up on taking over covers a run that fell due in the gap)."""

    def __init__(self, is_leading: Callable[[], bool], max_workers: int = 10):
        super().__init__(max_workers)
        self._is_leading = is_leading

    def submit_job(self, job, run_times) -> None:
        if not self._is_leading():
            logger.debug("scheduler: skipped %s, this scheduler does not lead", job.id)
            return
        super().submit_job(job, run_times)

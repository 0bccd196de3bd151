"""When digests run: APScheduler 3.x cron jobs for the default schedule and for each subscription's own time.

Jobs:

- `digest:default`: DIGEST_SCHEDULE (crontab) in DIGEST_TIMEZONE, for every subscription without its own time;
- `digest:at:<HH:MM>@<zone>`: daily at that time, for every subscription with that own time and time zone, in
  one run: thirty channels at 09:00 read AWS once, not thirty times (a run reads each scope once);
- `digest:sync`: every minute, adds and removes the own-time jobs to match the subscriptions table,
  so `/deletion-jobs digest subscribe` and `unsubscribe` take effect without a restart; and, until it has worked
  once, stores DIGEST_CHANNELS as subscriptions (it needs AWS when DIGEST_DATASET_GROUP is a name, and the
  database: either may be down when the scheduler starts);
- `digest:catch-up:N`: once at start-up, when needed (below), and again whenever this scheduler takes the lease;
  each a one-off job of its own id (APScheduler's loop removes a finished one-off job by id, and died with a
  JobLookupError when a later catch-up had replaced it under the same id meanwhile);
- `watch:poll`: every WATCH_POLL_SECONDS, first at start-up, when a watch poller is given (services/watches).

Any number of scheduler processes may run against one database: with a `lease` (services/scheduling/lease.py)
every job goes through `LeaderOnlyExecutor`, so only the process holding the lease runs anything. The others keep
the same schedule and skip each run; the one that takes over syncs the subscriptions and catches up what fell due
while nobody led.

Every job has an explicit id, `replace_existing=True`, `coalesce=True`, `max_instances=1` and a one-hour
`misfire_grace_time`; misses and errors are logged by listeners.

Missed digests across a restart. The jobs live in APScheduler's MemoryJobStore, and the catch-up is ours: at
start-up, for each subscription we find the last time its schedule should have fired; if that was within the
grace time and the subscription has had no successful digest since (its watermark in the subscriptions table is
older), one catch-up run posts it. We chose this over a persistent SQLAlchemyJobStore because the subscriptions
table already is the source of truth for what to run and when, and the watermark already records what was
posted: a job store would be a second copy of the schedule to keep in step (and must never be shared between
schedulers, so the web processes could not touch it), while a catch-up that compares fire time and watermark is
correct after any restart, including one onto a fresh machine with the same database. The ledger still stops a
catch-up from repeating anything an earlier run posted.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from config.crontab import crontab_trigger
from services.errors import DigestGroupInvalid, DigestScheduleInvalid
from services.models import Subscription
from services.scheduling.lease import LeaderOnlyExecutor, LeaseKeeper
from services.storage.store import database_reason, utcnow

logger = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600
SYNC_INTERVAL_SECONDS = 60
DEFAULT_JOB_ID = "digest:default"
SYNC_JOB_ID = "digest:sync"
CATCH_UP_JOB_ID = "digest:catch-up"
TIME_JOB_PREFIX = "digest:at:"
WATCH_JOB_ID = "watch:poll"


def time_job_id(when: tuple[str, str]) -> str:
    """`digest:at:09:00@Europe/Berlin`: the job of every subscription with that own time and zone."""
    at_time, timezone = when
    return f"{TIME_JOB_PREFIX}{at_time}@{timezone}"


class WallClockCronTrigger(CronTrigger):
    """A CronTrigger that fires once for a wall-clock time that happens twice when DST ends.

    APScheduler 3.11.3 fires `30 1 * * *` in America/New_York twice on the first Sunday of November (at 01:30
    EDT and again at 01:30 EST); cron, and people, expect one digest that day.
    """

    def get_next_fire_time(self, previous_fire_time, now):
        fire = super().get_next_fire_time(previous_fire_time, now)
        if fire is not None and previous_fire_time is not None:
            previous_wall = previous_fire_time.astimezone(self.timezone).replace(tzinfo=None, fold=0)
            if fire.astimezone(self.timezone).replace(tzinfo=None, fold=0) == previous_wall:
                fire = super().get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
        return fire


def last_fire_time(trigger: BaseTrigger, *, now: datetime, within: timedelta) -> datetime | None:
    """The latest time in (now - within, now] at which `trigger` fires, if any."""
    fire = trigger.get_next_fire_time(None, now - within)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
    return last


@dataclass(frozen=True)
class DigestSchedule:
    """The bot's default schedule and the triggers of each subscription; validates DIGEST_SCHEDULE on creation."""

    cron: str
    timezone: str

    def __post_init__(self):
        try:
            self.default_trigger()
        except (ValueError, TypeError, ZoneInfoNotFoundError) as err:
            raise DigestScheduleInvalid(
                f"DIGEST_SCHEDULE {self.cron!r} is not a crontab with five fields (minute hour day month weekday),"
                f" such as '0 9 * * *' or '30 8 * * mon-fri': {err}"
            ) from None

    @classmethod
    def from_settings(cls, settings) -> DigestSchedule:
        return cls(settings.digest_schedule, settings.digest_timezone)

    def default_trigger(self) -> BaseTrigger:
        # DIGEST_SCHEDULE is a standard crontab (0 or 7 is Sunday; both day fields restricted means either day);
        # crontab_trigger translates it for APScheduler.
        return crontab_trigger(self.cron, ZoneInfo(self.timezone), trigger_class=WallClockCronTrigger)

    def own_trigger(self, at_time: str, timezone: str | None) -> CronTrigger:
        hour, minute = (int(part) for part in at_time.split(":"))
        return WallClockCronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(timezone or self.timezone))

    def trigger_for(self, subscription: Subscription) -> BaseTrigger:
        if subscription.at_time:
            return self.own_trigger(subscription.at_time, subscription.timezone)
        return self.default_trigger()

    def own_time(self, subscription: Subscription) -> tuple[str, str] | None:
        """(HH:MM, time zone) of a subscription with its own time (no zone: the bot's); None for the default."""
        if not subscription.at_time:
            return None
        return subscription.at_time, subscription.timezone or self.timezone

    def next_run(self, subscription: Subscription, now: datetime | None = None) -> datetime | None:
        return self.trigger_for(subscription).get_next_fire_time(None, now or utcnow())

    def describe(self, subscription: Subscription) -> str:
        if subscription.at_time:
            return f"every day at {subscription.at_time} {subscription.timezone or self.timezone}"
        return f"on the bot's schedule `{self.cron}` ({self.timezone})"


def due_for_catch_up(subscription: Subscription, schedule: DigestSchedule, *, now: datetime,
                     grace: timedelta) -> datetime | None:
    """The missed fire time when this subscription's digest should have run within `grace` but did not."""
    fired = last_fire_time(schedule.trigger_for(subscription), now=now, within=grace)
    if fired is None or subscription.created_at >= fired:
        return None
    if subscription.last_digest_at is not None and subscription.last_digest_at >= fired:
        return None
    return fired


class DigestScheduler:
    """Owns one APScheduler scheduler; `start()` adds every job, catches up, and starts it."""

    def __init__(
        self,
        digest,
        subscriptions,
        schedule: DigestSchedule,
        *,
        scheduler_factory: Callable | None = None,
        grace_seconds: int = MISFIRE_GRACE_SECONDS,
        sync_seconds: int = SYNC_INTERVAL_SECONDS,
        clock=utcnow,
        watch_poller=None,
        watch_poll_seconds: int = 60,
        lease=None,
        metrics=None,
    ):
        from apscheduler.schedulers.background import BackgroundScheduler

        self._digest = digest
        self._subscriptions = subscriptions
        self._schedule = schedule
        self._grace = grace_seconds
        self._sync_seconds = sync_seconds
        self._clock = clock
        self._watch_poller = watch_poller
        self._watch_poll_seconds = watch_poll_seconds
        self._sync_lock = threading.Lock()
        # services.scheduling.lease.SchedulerLease; None: this scheduler always runs its jobs (a single process).
        self._lease = lease
        self._keeper = LeaseKeeper(lease, on_leading=self._took_over, metrics=metrics) if lease else None
        factory = scheduler_factory or BackgroundScheduler
        executors = {"default": LeaderOnlyExecutor(lease.is_leading)} if lease else None
        self.scheduler = factory(
            timezone=ZoneInfo(schedule.timezone),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace_seconds},
            **({"executors": executors} if executors else {}),
        )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
        # channel id → its own (at_time, timezone), and the own times that have a job now
        self._channel_times: dict[str, tuple[str, str]] = {}
        self._time_jobs: set[tuple[str, str]] = set()
        self._configured_synced = False
        self._catch_ups = itertools.count(1)

    def start(self) -> None:
        if self._keeper is None:
            self.add_jobs()
        else:
            self._add_schedule()
        self.scheduler.start()
        if self._keeper is not None:
            # Leading or not is decided (and logged) before this returns; taking the lease syncs and catches up.
            self._keeper.start()
            if not self._lease.is_leading():
                logger.info("digest scheduler: standing by, %s leads", self._lease.holder or "another scheduler")
        logger.info("digest scheduler started: %s in %s, next default run %s", self._schedule.cron,
                    self._schedule.timezone, self._next_run(DEFAULT_JOB_ID))

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        if self._keeper is not None:
            # After the running jobs have finished: the successor must not start a digest this one is posting.
            self._keeper.stop(release=True)

    def status(self) -> str:
        """`leading` or `standby`, for /healthz."""
        return self._keeper.role() if self._keeper is not None else "leading"

    def add_jobs(self) -> None:
        self._add_schedule()
        self.sync(at_start_up=True)
        self.schedule_catch_up()

    def _add_schedule(self) -> None:
        self.scheduler.add_job(self.run_default, self._schedule.default_trigger(), id=DEFAULT_JOB_ID,
                               name="digest (default schedule)", replace_existing=True)
        self.scheduler.add_job(self.sync, "interval", seconds=self._sync_seconds, id=SYNC_JOB_ID,
                               name="digest subscription sync", replace_existing=True,
                               misfire_grace_time=self._sync_seconds)
        if self._watch_poller is not None:
            # At once, then every WATCH_POLL_SECONDS: a restart checks the watched jobs (and finishes any message a
            # stopped poller left in flight) without waiting. A poll still running when the next is due is skipped.
            self.scheduler.add_job(self._watch_poller.poll, "interval", seconds=self._watch_poll_seconds,
                                   id=WATCH_JOB_ID, name="watch poll", replace_existing=True,
                                   misfire_grace_time=self._watch_poll_seconds, next_run_time=self._clock())

    def _took_over(self) -> None:
        """This scheduler has just taken the lease: the subscriptions as they are now, and what fell due meanwhile."""
        self.sync()
        self.schedule_catch_up()

    def _next_run(self, job_id: str):
        job = self.scheduler.get_job(job_id)
        return getattr(job, "next_run_time", None) if job else None

    # -- jobs ---------------------------------------------------------------------------------------------

    def run_default(self) -> None:
        try:
            channels = [s.channel_id for s in self._subscriptions.list() if not s.at_time]
        except SQLAlchemyError as err:
            logger.error("digest (default schedule) not run: the database does not answer (%s); the next run"
                         " covers its window", database_reason(err))
            return
        if channels:
            self._digest.run(channels)

    def run_at(self, at_time: str, timezone: str) -> None:
        """One run for every subscription whose own time is `at_time` in `timezone`, as the table says now."""
        try:
            channels = [s.channel_id for s in self._subscriptions.list()
                        if self._schedule.own_time(s) == (at_time, timezone)]
        except SQLAlchemyError as err:
            logger.error("digest at %s %s not run: the database does not answer (%s); the next run covers its"
                         " window", at_time, timezone, database_reason(err))
            return
        if channels:
            self._digest.run(channels)

    def run_catch_up(self, channel_ids: list[str]) -> None:
        logger.info("digest: catching up the digest missed while the scheduler was down, for %s",
                    ", ".join(channel_ids))
        self._digest.run(channel_ids)

    def sync(self, *, at_start_up: bool = False) -> None:
        """Store DIGEST_CHANNELS (until that has worked once), then make the per-channel jobs match the table.

        Each failure is one ERROR line, and the next sync, a minute later, tries again. At start-up only, a
        DIGEST_DATASET_GROUP that names no dataset group is raised: the process stops with that setting named.
        """
        with self._sync_lock:  # the sync job and a takeover may run it at once
            self._sync(at_start_up=at_start_up)

    def _sync(self, *, at_start_up: bool) -> None:
        if not self._configured_synced:
            self._configured_synced = self._sync_configured(at_start_up=at_start_up)
        try:
            subscriptions = self._subscriptions.list()
        except SQLAlchemyError as err:
            logger.error("digest scheduler: could not read the subscriptions, the database does not answer (%s);"
                         " trying again in %d s", database_reason(err), self._sync_seconds)
            return
        self._sync_own_times(subscriptions)

    def _sync_configured(self, *, at_start_up: bool) -> bool:
        retry = f"; the scheduler tries again every {self._sync_seconds} s"
        try:
            return self._digest.apply_configured_channels(then=retry)
        except DigestGroupInvalid as err:
            if at_start_up:
                raise
            logger.error("%s. DIGEST_CHANNELS were not synced%s", err, retry)
            return False

    def _sync_own_times(self, subscriptions: list[Subscription]) -> None:
        wanted = {s.channel_id: self._schedule.own_time(s) for s in subscriptions if s.at_time}
        for channel_id in list(self._channel_times):
            if channel_id not in wanted:
                del self._channel_times[channel_id]
                logger.info("digest scheduler: removed %s's own schedule", channel_id)
        for channel_id, when in wanted.items():
            if self._channel_times.get(channel_id) != when:
                self._channel_times[channel_id] = when
                logger.info("digest scheduler: %s gets its digest daily at %s %s", channel_id, *when)
        self._sync_time_jobs(set(self._channel_times.values()))

    def _sync_time_jobs(self, times: set[tuple[str, str]]) -> None:
        """One job per own time in use: channels due at the same moment share one run, and so their reads."""
        for when in self._time_jobs - times:
            if self.scheduler.get_job(time_job_id(when)):
                self.scheduler.remove_job(time_job_id(when))
        for when in times - self._time_jobs:
            at_time, timezone = when
            if self.scheduler.get_job(time_job_id(when)):
                # replace_existing does not reach jobs added before the scheduler started: remove it ourselves.
                self.scheduler.remove_job(time_job_id(when))
            self.scheduler.add_job(
                self.run_at, self._schedule.own_trigger(at_time, timezone), args=[at_time, timezone],
                id=time_job_id(when), name=f"digest at {at_time} {timezone}", replace_existing=True,
            )
        self._time_jobs = times

    def catch_up_jobs(self) -> list:
        """The catch-up runs scheduled and not yet run."""
        return [job for job in self.scheduler.get_jobs() if job.id.startswith(CATCH_UP_JOB_ID + ":")]

    def schedule_catch_up(self) -> list[str]:
        """One run now for subscriptions whose digest was due within the grace time and has not been posted."""
        now = self._clock()
        grace = timedelta(seconds=self._grace)
        due = []
        for subscription in self._subscriptions.list():
            fired = due_for_catch_up(subscription, self._schedule, now=now, grace=grace)
            if fired is not None:
                logger.warning("digest for %s was due at %s while the scheduler was not running; posting it now",
                               subscription.channel_id, fired.isoformat())
                due.append(subscription.channel_id)
        if due:
            # A one-off job, so start-up does not wait for AWS and Slack.
            job_id = f"{CATCH_UP_JOB_ID}:{next(self._catch_ups)}"
            self.scheduler.add_job(self.run_catch_up, args=[due], id=job_id, name="digest catch-up")
        return due

    def _on_event(self, event) -> None:
        if event.code == EVENT_JOB_MISSED:
            logger.error("digest job %s missed its run at %s by more than %d s (scheduler blocked or asleep);"
                         " the next run covers its window", event.job_id, event.scheduled_run_time, self._grace)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("digest job %s is still running; skipped the run due at %s", event.job_id,
                           getattr(event, "scheduled_run_times", None))
        elif event.code == EVENT_JOB_ERROR:
            logger.error("digest job %s failed: %r", event.job_id, event.exception,
                         exc_info=(type(event.exception), event.exception, event.exception.__traceback__))

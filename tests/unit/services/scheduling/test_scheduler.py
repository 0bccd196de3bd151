"""The digest schedule: cron in a time zone across DST changes, per-subscription jobs, catch-up after downtime."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from services.digest.errors import DigestScheduleInvalid, InvalidDigestTime, UnknownTimeZone
from services.scheduling.scheduler import (
    CATCH_UP_JOB_ID,
    CHANNEL_JOB_PREFIX,
    DEFAULT_JOB_ID,
    MISFIRE_GRACE_SECONDS,
    SYNC_JOB_ID,
    DigestSchedule,
    DigestScheduler,
    WallClockCronTrigger,
    due_for_catch_up,
    last_fire_time,
    parse_time,
    parse_timezone,
)
from services.storage.digest_store import Subscription, SubscriptionStore
from tests.helpers.clock import Clock


def fire_times(trigger, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, the way APScheduler asks: previous fire time, then now."""
    times, previous, now = [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        times.append(fire)
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return times


def utc(times):
    return [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in times]


def test_daily_9am_berlin_follows_the_clock_across_the_spring_dst_change():
    trigger = DigestSchedule("0 9 * * *", "Europe/Berlin").default_trigger()
    times = fire_times(trigger, datetime(2026, 3, 27, tzinfo=UTC), 4)
    # 09:00 CET is 08:00 UTC; from 29 March 09:00 CEST is 07:00 UTC. One run a day, always at 09:00 local.
    assert utc(times) == ["03-27 08:00", "03-28 08:00", "03-29 07:00", "03-30 07:00"]
    assert {t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for t in times} == {"09:00"}


def test_daily_9am_new_york_follows_the_clock_across_the_autumn_dst_change():
    trigger = DigestSchedule("0 9 * * *", "America/New_York").default_trigger()
    times = fire_times(trigger, datetime(2026, 10, 31, tzinfo=UTC), 3)
    assert utc(times) == ["10-31 13:00", "11-01 14:00", "11-02 14:00"]


def test_a_time_in_the_hour_repeated_when_dst_ends_runs_once_that_day():
    start = datetime(2026, 10, 31, tzinfo=UTC)
    plain = CronTrigger.from_crontab("30 1 * * *", timezone=ZoneInfo("America/New_York"))
    # APScheduler's own trigger fires at 01:30 EDT and again at 01:30 EST on 1 November: two digests.
    assert utc(fire_times(plain, start, 3)) == ["10-31 05:30", "11-01 05:30", "11-01 06:30"]
    ours = DigestSchedule("30 1 * * *", "America/New_York").default_trigger()
    assert utc(fire_times(ours, start, 3)) == ["10-31 05:30", "11-01 05:30", "11-02 06:30"]


def test_a_time_skipped_when_dst_starts_still_runs_once_that_day():
    schedule = DigestSchedule("0 9 * * *", "UTC")
    trigger = schedule.own_trigger("02:30", "Europe/Berlin")
    times = fire_times(trigger, datetime(2026, 3, 28, tzinfo=UTC), 3)
    # 02:30 does not exist on 29 March in Berlin; the digest runs once that night, an hour later on the clock.
    assert utc(times) == ["03-28 01:30", "03-29 01:30", "03-30 00:30"]


def test_a_subscription_time_uses_its_own_zone_or_the_bot_zone():
    schedule = DigestSchedule("0 9 * * *", "Europe/Berlin")
    trigger = schedule.own_trigger("08:30", "America/New_York")
    assert utc(fire_times(trigger, datetime(2026, 7, 1, tzinfo=UTC), 1)) == ["07-01 12:30"]
    assert utc(fire_times(schedule.own_trigger("08:30", None), datetime(2026, 7, 1, tzinfo=UTC), 1)) == [
        "07-01 06:30"]


def test_a_bad_crontab_is_a_settings_error_naming_digest_schedule():
    with pytest.raises(DigestScheduleInvalid, match="DIGEST_SCHEDULE '0 9 \\* \\*'"):
        DigestSchedule("0 9 * *", "UTC")


@pytest.mark.parametrize("token, expected", [("9:30", "09:30"), ("09:30", "09:30"), ("23:59", "23:59"),
                                             ("0:00", "00:00")])
def test_times_are_24_hour_hh_mm(token, expected):
    assert parse_time(token) == expected


@pytest.mark.parametrize("token", ["24:00", "9", "9am", "09:60", "9:5", "noon", "-1:00"])
def test_other_times_are_refused(token):
    with pytest.raises(InvalidDigestTime):
        parse_time(token)


def test_time_zones_are_iana_names_in_any_case_with_suggestions():
    assert parse_timezone("europe/berlin") == "Europe/Berlin"
    assert parse_timezone("UTC") == "UTC"
    with pytest.raises(UnknownTimeZone) as caught:
        parse_timezone("Europe/Berln")
    assert "Europe/Berlin" in caught.value.suggestions
    with pytest.raises(UnknownTimeZone):
        parse_timezone("../../etc/passwd")


# ---- catch-up after downtime -----------------------------------------------------------------------------

NOW = datetime(2026, 11, 2, 9, 40, tzinfo=UTC)  # the 09:00 UTC digest was due 40 minutes ago
SCHEDULE = DigestSchedule("0 9 * * *", "UTC")
GRACE = timedelta(seconds=MISFIRE_GRACE_SECONDS)


def subscription(*, created: datetime, last: datetime | None, at_time=None, tz=None) -> Subscription:
    return Subscription("C1", None, at_time, tz, "slack", None, created, last)


def test_last_fire_time_finds_the_latest_fire_within_the_grace_time():
    trigger = SCHEDULE.default_trigger()
    assert last_fire_time(trigger, now=NOW, within=GRACE) == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert last_fire_time(trigger, now=NOW + timedelta(hours=1), within=GRACE) is None


def test_a_digest_missed_within_the_grace_time_is_caught_up_once():
    long_ago = NOW - timedelta(days=10)
    yesterday = datetime(2026, 11, 1, 9, 0, 1, tzinfo=UTC)
    assert due_for_catch_up(subscription(created=long_ago, last=yesterday), SCHEDULE, now=NOW, grace=GRACE)
    assert due_for_catch_up(subscription(created=long_ago, last=None), SCHEDULE, now=NOW, grace=GRACE)
    # Posted at (or after) the fire time: a second restart does not post it again.
    today = datetime(2026, 11, 2, 9, 0, 2, tzinfo=UTC)
    assert due_for_catch_up(subscription(created=long_ago, last=today), SCHEDULE, now=NOW, grace=GRACE) is None
    # Missed by more than the grace time: left to the next scheduled run.
    assert due_for_catch_up(subscription(created=long_ago, last=yesterday), SCHEDULE,
                            now=NOW + timedelta(hours=1), grace=GRACE) is None
    # Subscribed after the fire time: nothing was missed.
    assert due_for_catch_up(subscription(created=NOW - timedelta(minutes=5), last=None), SCHEDULE, now=NOW,
                            grace=GRACE) is None


def test_catch_up_uses_the_subscription_own_time():
    sub = subscription(created=NOW - timedelta(days=3), last=None, at_time="10:30", tz="Europe/Berlin")
    # 10:30 in Berlin (UTC+1 in November) is 09:30 UTC: ten minutes ago.
    assert due_for_catch_up(sub, SCHEDULE, now=NOW, grace=GRACE) == datetime(
        2026, 11, 2, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))


# ---- the scheduler's jobs --------------------------------------------------------------------------------


class RecordingDigest:
    def __init__(self):
        self.runs: list[list[str] | None] = []

    def run(self, channel_ids=None, *, dry_run=False):
        self.runs.append(list(channel_ids) if channel_ids is not None else None)


@pytest.fixture
def store(state_engine):
    return SubscriptionStore(state_engine, clock=Clock(NOW - timedelta(days=1)))


@pytest.fixture
def make_scheduler(store):
    made = []

    def build(clock=None):
        digest = RecordingDigest()
        scheduler = DigestScheduler(digest, store, SCHEDULE, clock=clock or Clock(NOW),
                                    scheduler_factory=BackgroundScheduler)
        made.append(scheduler)
        return scheduler, digest

    yield build
    for scheduler in made:
        scheduler.shutdown(wait=False)


def test_jobs_have_explicit_ids_and_the_required_defaults(make_scheduler):
    scheduler, _ = make_scheduler()
    scheduler.add_jobs()
    apscheduler = scheduler.scheduler
    assert {job.id for job in apscheduler.get_jobs()} == {DEFAULT_JOB_ID, SYNC_JOB_ID}
    assert apscheduler._job_defaults == {"coalesce": True, "max_instances": 1,
                                         "misfire_grace_time": MISFIRE_GRACE_SECONDS}
    default = apscheduler.get_job(DEFAULT_JOB_ID)
    assert isinstance(default.trigger, CronTrigger) and str(default.trigger.timezone) == "UTC"


def test_subscriptions_with_their_own_time_get_jobs_that_follow_changes_without_restart(make_scheduler, store):
    scheduler, digest = make_scheduler()
    scheduler.add_jobs()
    store.subscribe("CDEF", dataset_group_arn=None)
    store.subscribe("COWN", dataset_group_arn=None, at_time="07:15", timezone="Asia/Tokyo")
    scheduler.sync()
    job = scheduler.scheduler.get_job(CHANNEL_JOB_PREFIX + "COWN")
    assert job is not None and str(job.trigger.timezone) == "Asia/Tokyo"
    assert scheduler.scheduler.get_job(CHANNEL_JOB_PREFIX + "CDEF") is None

    store.subscribe("COWN", dataset_group_arn=None, at_time="18:00", timezone="Asia/Tokyo")
    scheduler.sync()
    fields = {f.name: str(f) for f in scheduler.scheduler.get_job(CHANNEL_JOB_PREFIX + "COWN").trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("18", "0")

    store.unsubscribe("COWN")
    scheduler.sync()
    assert scheduler.scheduler.get_job(CHANNEL_JOB_PREFIX + "COWN") is None

    # The default job runs only subscriptions without their own time; the channel job only its channel.
    store.subscribe("COWN", dataset_group_arn=None, at_time="18:00", timezone="Asia/Tokyo")
    scheduler.run_default()
    scheduler.run_channel("COWN")
    assert digest.runs == [["CDEF"], ["COWN"]]


def test_start_up_schedules_one_catch_up_for_a_missed_digest(make_scheduler, store):
    store.subscribe("CMISSED", dataset_group_arn=None)
    store.subscribe("CPOSTED", dataset_group_arn=None)
    store.record_success("CPOSTED", datetime(2026, 11, 2, 9, 0, 3, tzinfo=UTC))
    scheduler, digest = make_scheduler()
    scheduler.add_jobs()
    catch_up = scheduler.scheduler.get_job(CATCH_UP_JOB_ID)
    assert catch_up is not None and catch_up.args == (["CMISSED"],)
    scheduler.run_catch_up(*catch_up.args)
    assert digest.runs == [["CMISSED"]]

    store.record_success("CMISSED", NOW)
    again, _ = make_scheduler()
    again.add_jobs()
    assert again.scheduler.get_job(CATCH_UP_JOB_ID) is None, "a second restart does not post it again"


def test_a_started_scheduler_runs_the_catch_up_by_itself(make_scheduler, store):
    store.subscribe("CMISSED", dataset_group_arn=None)
    scheduler, digest = make_scheduler()
    scheduler.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while not digest.runs and datetime.now(UTC) < deadline:
        time.sleep(0.05)
    assert digest.runs == [["CMISSED"]]


def test_missed_and_failed_jobs_are_logged_at_error(make_scheduler, caplog):
    scheduler, _ = make_scheduler()
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    try:
        raise RuntimeError("database went away")
    except RuntimeError as err:
        error = err
    with caplog.at_level(logging.ERROR, logger="services.scheduling.scheduler"):
        scheduler._on_event(JobExecutionEvent(EVENT_JOB_MISSED, DEFAULT_JOB_ID, "default", when))
        scheduler._on_event(JobExecutionEvent(EVENT_JOB_ERROR, DEFAULT_JOB_ID, "default", when, exception=error,
                                              traceback=""))
    lines = [r.getMessage() for r in caplog.records]
    assert any("missed its run" in line and DEFAULT_JOB_ID in line for line in lines)
    assert any("failed" in line and "database went away" in line for line in lines)


def test_the_trigger_class_is_ours_everywhere():
    assert isinstance(SCHEDULE.default_trigger(), WallClockCronTrigger)
    assert isinstance(SCHEDULE.own_trigger("09:00", "UTC"), WallClockCronTrigger)

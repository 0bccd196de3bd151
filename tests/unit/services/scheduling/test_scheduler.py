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

from services.aws.dataset_groups import DatasetGroupResolver
from services.digest.service import DigestService
from services.errors import (
    AwsUnreachable,
    DigestGroupInvalid,
    DigestScheduleInvalid,
    InvalidDigestTime,
    UnknownTimeZone,
)
from services.listing.command_parser import parse_time, parse_timezone
from services.models import ORIGIN_SETTINGS, DatasetGroup, Subscription
from services.scheduling.scheduler import (
    DEFAULT_JOB_ID,
    MISFIRE_GRACE_SECONDS,
    SYNC_JOB_ID,
    TIME_JOB_PREFIX,
    WATCH_JOB_ID,
    DigestSchedule,
    DigestScheduler,
    WallClockCronTrigger,
    due_for_catch_up,
    last_fire_time,
    time_job_id,
)
from services.storage.ledger import DigestLedger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.clock import Clock
from tests.helpers.digest_fakes import DIGEST_RENDERER, FakeGateway, FakePacer, FakeSlack


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


def test_either_day_schedule_fires_once_a_day_across_the_autumn_dst_change():
    # 1 November 2026 is a Sunday and the day New York's 01:00-02:00 happens twice; the 2nd is a Monday.
    trigger = DigestSchedule("30 1 1,2 * 0", "America/New_York").default_trigger()
    times = fire_times(trigger, datetime(2026, 10, 24, tzinfo=UTC), 5)
    assert utc(times) == ["10-25 05:30", "11-01 05:30", "11-02 06:30", "11-08 06:30", "11-15 06:30"]
    assert {t.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") for t in times} == {"01:30"}


def test_either_day_schedule_runs_once_on_the_spring_dst_change():
    # 29 March 2026: a Sunday, and 02:30 does not exist in Berlin. The 1st is a Wednesday.
    trigger = DigestSchedule("30 2 1 * 0", "Europe/Berlin").default_trigger()
    times = fire_times(trigger, datetime(2026, 3, 21, tzinfo=UTC), 4)
    assert utc(times) == ["03-22 01:30", "03-29 01:30", "04-01 00:30", "04-05 00:30"]


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

    def apply_configured_channels(self, *, then=""):
        return True


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


def own_time_jobs(scheduler) -> dict[str, tuple]:
    return {job.id: job.args for job in scheduler.scheduler.get_jobs() if job.id.startswith(TIME_JOB_PREFIX)}


def test_subscriptions_with_their_own_time_get_jobs_that_follow_changes_without_restart(make_scheduler, store):
    scheduler, digest = make_scheduler()
    scheduler.add_jobs()
    store.subscribe("CDEF", dataset_group_arn=None)
    store.subscribe("COWN", dataset_group_arn=None, at_time="07:15", timezone="Asia/Tokyo")
    scheduler.sync()
    assert own_time_jobs(scheduler) == {"digest:at:07:15@Asia/Tokyo": ("07:15", "Asia/Tokyo")}
    job = scheduler.scheduler.get_job(time_job_id(("07:15", "Asia/Tokyo")))
    assert str(job.trigger.timezone) == "Asia/Tokyo"

    store.subscribe("COWN", dataset_group_arn=None, at_time="18:00", timezone="Asia/Tokyo")
    scheduler.sync()
    assert list(own_time_jobs(scheduler)) == ["digest:at:18:00@Asia/Tokyo"]
    fields = {f.name: str(f) for f in scheduler.scheduler.get_job("digest:at:18:00@Asia/Tokyo").trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("18", "0")

    store.unsubscribe("COWN")
    scheduler.sync()
    assert own_time_jobs(scheduler) == {}

    # The default job runs only subscriptions without their own time; an own-time job only the channels at its time.
    store.subscribe("COWN", dataset_group_arn=None, at_time="18:00", timezone="Asia/Tokyo")
    scheduler.run_default()
    scheduler.run_at("18:00", "Asia/Tokyo")
    scheduler.run_at("07:15", "Asia/Tokyo")
    assert digest.runs == [["CDEF"], ["COWN"]]


def test_channels_with_the_same_own_time_share_one_job_and_one_run(make_scheduler, store, caplog):
    scheduler, digest = make_scheduler()
    scheduler.add_jobs()
    channels = [f"C{i:02d}" for i in range(20)]
    for channel in channels:
        store.subscribe(channel, dataset_group_arn=None, at_time="09:30", timezone="Europe/Berlin")
    # No zone of its own is the bot's zone (UTC here): the same moment as an explicit UTC.
    store.subscribe("CNOZONE", dataset_group_arn=None, at_time="09:30", timezone=None)
    store.subscribe("CUTC", dataset_group_arn=None, at_time="09:30", timezone="UTC")
    with caplog.at_level(logging.INFO, logger="services.scheduling.scheduler"):
        scheduler.sync()
    assert own_time_jobs(scheduler) == {"digest:at:09:30@Europe/Berlin": ("09:30", "Europe/Berlin"),
                                        "digest:at:09:30@UTC": ("09:30", "UTC")}
    assert sum("gets its digest daily at 09:30" in r.getMessage() for r in caplog.records) == 22

    scheduler.run_at("09:30", "Europe/Berlin")
    scheduler.run_at("09:30", "UTC")
    assert digest.runs == [channels, ["CNOZONE", "CUTC"]]

    # One channel moves away: the shared job stays for the others; the last one leaving removes it.
    store.subscribe("CUTC", dataset_group_arn=None, at_time="10:00", timezone="UTC")
    store.unsubscribe("CNOZONE")
    scheduler.sync()
    assert set(own_time_jobs(scheduler)) == {"digest:at:09:30@Europe/Berlin", "digest:at:10:00@UTC"}


def test_an_own_time_run_waits_for_the_database_and_logs_it(make_scheduler, store, caplog, monkeypatch):
    from sqlalchemy.exc import OperationalError

    scheduler, digest = make_scheduler()

    def down():
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "list", down)
    scheduler.run_at("09:30", "UTC")
    assert digest.runs == []
    assert "digest at 09:30 UTC not run: the database does not answer" in caplog.text


def test_start_up_schedules_one_catch_up_for_a_missed_digest(make_scheduler, store):
    store.subscribe("CMISSED", dataset_group_arn=None)
    store.subscribe("CPOSTED", dataset_group_arn=None)
    store.record_success("CPOSTED", datetime(2026, 11, 2, 9, 0, 3, tzinfo=UTC))
    scheduler, digest = make_scheduler()
    scheduler.add_jobs()
    [catch_up] = scheduler.catch_up_jobs()
    assert catch_up.args == (["CMISSED"],)
    scheduler.run_catch_up(*catch_up.args)
    assert digest.runs == [["CMISSED"]]

    store.record_success("CMISSED", NOW)
    again, _ = make_scheduler()
    again.add_jobs()
    assert again.catch_up_jobs() == [], "a second restart does not post it again"


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


def test_the_scheduler_runs_an_either_day_schedule_and_catches_it_up(store):
    schedule = DigestSchedule("0 9 1,15 * 1", "UTC")
    scheduler = DigestScheduler(RecordingDigest(), store, schedule, clock=Clock(NOW),
                                scheduler_factory=BackgroundScheduler)
    scheduler.add_jobs()
    job = scheduler.scheduler.get_job(DEFAULT_JOB_ID)
    assert str(job.trigger.timezone) == "UTC"
    # NOW is Monday 2 November 2026, 09:40: it fired 40 minutes ago by its weekday; next on Monday the 9th.
    assert last_fire_time(job.trigger, now=NOW, within=timedelta(hours=1)) == NOW - timedelta(minutes=40)
    assert schedule.next_run(subscription(created=NOW - timedelta(days=3), last=None), NOW) == datetime(
        2026, 11, 9, 9, tzinfo=UTC)


# ---- DIGEST_CHANNELS while AWS is down -------------------------------------------------------------------

MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"


class FlakyGroupsGateway(FakeGateway):
    """ListDatasetGroups that fails with AwsUnreachable `failures` times, then answers."""

    def __init__(self, failures: int, groups=(("media-feed", MEDIA),)):
        super().__init__()
        self.failures = failures
        self.groups = [DatasetGroup(name, arn) for name, arn in groups]
        self.group_calls = 0

    def list_dataset_groups(self):
        self.group_calls += 1
        if self.group_calls <= self.failures:
            raise AwsUnreachable("could not connect to the endpoint")
        return self.groups


def configured_digest(store, gateway, channels=("CNEW",)) -> DigestService:
    ledger = DigestLedger(store._engine, claim_ttl=timedelta(minutes=15))
    return DigestService(gateway, store, ledger, FakeSlack(), renderer=DIGEST_RENDERER, lookback=timedelta(hours=24),
                         max_job_age=timedelta(hours=48), configured_channels=channels,
                         configured_group="media-feed", resolver=DatasetGroupResolver(gateway), clock=Clock(NOW))


def stored(store) -> dict[str, str | None]:
    return {s.channel_id: s.dataset_group_arn for s in store.list()}


def test_digest_channels_are_stored_by_the_sync_after_aws_comes_back_and_the_setting_change_applied(store, caplog):
    # COLD came from an earlier DIGEST_CHANNELS; the setting now lists CNEW only. AWS is down at start-up.
    store.subscribe("COLD", dataset_group_arn=None, origin=ORIGIN_SETTINGS)
    gateway = FlakyGroupsGateway(failures=2)
    scheduler = DigestScheduler(configured_digest(store, gateway), store, SCHEDULE, clock=Clock(NOW),
                                scheduler_factory=BackgroundScheduler)

    with caplog.at_level(logging.INFO):
        scheduler.add_jobs()
        assert stored(store) == {"COLD": None}
        scheduler.sync()  # a minute later: AWS still down
        assert stored(store) == {"COLD": None}
        scheduler.sync()  # AWS is back

    assert stored(store) == {"CNEW": MEDIA}, "CNEW subscribed to the named group, COLD removed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info is None for r in errors), "one line per failure, no traceback"
    assert all("DIGEST_DATASET_GROUP" in r.getMessage() and "AwsUnreachable" in r.getMessage()
               and "tries again" in r.getMessage() for r in errors)
    scheduler.sync()
    assert gateway.group_calls == 3, "once synced, no more attempts"


def test_a_group_that_turns_out_not_to_exist_is_logged_by_the_sync_and_stops_start_up(store, caplog):
    gateway = FlakyGroupsGateway(failures=1, groups=(("retail", MEDIA.replace("media-feed", "retail")),))
    scheduler = DigestScheduler(configured_digest(store, gateway), store, SCHEDULE, clock=Clock(NOW),
                                scheduler_factory=BackgroundScheduler)
    scheduler.add_jobs()  # AWS down: logged, start-up goes on
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        scheduler.sync()  # AWS answers: there is no media-feed
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "DIGEST_DATASET_GROUP 'media-feed' is not a dataset group" in line and "tries again" in line
    assert stored(store) == {}

    with pytest.raises(DigestGroupInvalid):
        DigestScheduler(configured_digest(store, FlakyGroupsGateway(failures=0, groups=())), store, SCHEDULE,
                        clock=Clock(NOW), scheduler_factory=BackgroundScheduler).add_jobs()


def test_a_running_scheduler_retries_digest_channels_by_itself(store, caplog):
    gateway = FlakyGroupsGateway(failures=1)
    scheduler = DigestScheduler(configured_digest(store, gateway), store, SCHEDULE, clock=Clock(NOW),
                                scheduler_factory=BackgroundScheduler, sync_seconds=1)
    try:
        with caplog.at_level(logging.ERROR):
            scheduler.start()
            assert stored(store) == {}
            deadline = time.monotonic() + 60
            while not stored(store) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert stored(store) == {"CNEW": MEDIA}
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1, "one failure, one line"


def test_the_scheduler_jobs_log_a_database_outage_in_one_line_without_a_traceback(make_scheduler, store, caplog,
                                                                                   monkeypatch):
    from sqlalchemy.exc import OperationalError

    scheduler, digest = make_scheduler()
    scheduler.add_jobs()

    def down():
        raise OperationalError("SELECT ...", {}, Exception("connection timeout expired"))

    monkeypatch.setattr(store, "list", down)
    with caplog.at_level(logging.ERROR):
        scheduler.sync()
        scheduler.run_default()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info is None for r in errors)
    assert all("database does not answer (connection timeout expired)" in r.getMessage() for r in errors)
    assert digest.runs == []


class CountingPoller:
    def __init__(self):
        self.polls = 0

    def poll(self):
        self.polls += 1


def test_the_watch_poll_runs_at_start_up_then_every_watch_poll_seconds(store):
    poller = CountingPoller()
    scheduler = DigestScheduler(RecordingDigest(), store, SCHEDULE, scheduler_factory=BackgroundScheduler,
                                watch_poller=poller, watch_poll_seconds=5)
    try:
        scheduler.add_jobs()
        job = scheduler.scheduler.get_job(WATCH_JOB_ID)
        assert job.trigger.interval == timedelta(seconds=5) and job.misfire_grace_time == 5
        scheduler.scheduler.start()
        deadline = time.monotonic() + 30
        while poller.polls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert poller.polls == 1, "the first poll does not wait WATCH_POLL_SECONDS"
    finally:
        scheduler.shutdown(wait=False)
    without = DigestScheduler(RecordingDigest(), store, SCHEDULE, scheduler_factory=BackgroundScheduler)
    without.add_jobs()
    assert without.scheduler.get_job(WATCH_JOB_ID) is None


def test_twenty_channels_at_the_same_own_time_cost_one_run_and_one_read(store, state_engine):
    from services.models import DeletionJob

    failed_at = NOW - timedelta(hours=1)
    gateway = FakeGateway([DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j{i}",
                                       name=f"j{i}", dataset_group_arn="arn:aws:personalize:us-east-1:123456789012:"
                                       "dataset-group/g", status="FAILED", created=failed_at, updated=failed_at,
                                       failure_reason="x") for i in range(3)])
    slack = FakeSlack()
    digest = DigestService(gateway, store, DigestLedger(state_engine, claim_ttl=timedelta(minutes=15)), slack,
                           renderer=DIGEST_RENDERER, lookback=timedelta(hours=24), max_job_age=timedelta(hours=48),
                           clock=Clock(NOW), pacer=FakePacer())
    scheduler = DigestScheduler(digest, store, SCHEDULE, clock=Clock(NOW), scheduler_factory=BackgroundScheduler)
    channels = [f"C{i:02d}" for i in range(20)]
    for channel in channels:
        store.subscribe(channel, dataset_group_arn=None, at_time="09:30", timezone="Europe/Berlin")
    scheduler.sync()
    (job,) = [job for job in scheduler.scheduler.get_jobs() if job.id.startswith(TIME_JOB_PREFIX)]
    job.func(*job.args)
    assert gateway.list_calls == 1
    assert sorted({post["channel"] for post in slack.posts}) == channels

"""DIGEST_SCHEDULE is a standard crontab: weekdays count from Sunday = 0 (or 7), as in cron, not as in APScheduler;
with both day fields restricted it fires on either day, as cron does, not only when both match."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

import pytest
import tzlocal
import tzlocal.unix as tzlocal_unix
from apscheduler.triggers.cron import CronTrigger
from pydantic import ValidationError

from config.crontab import CrontabError, crontab_trigger, to_apscheduler, weekday_field


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("mon-fri", "mon-fri"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("0,6", "sun,sat"),
        ("*/2", "tue,thu,sat,sun"),
        ("1,sat", "mon,sat"),
    ],
)
def test_weekday_numbers_are_cron_numbers(field, expected):
    assert weekday_field(field) == expected


def next_fires(expression, start, n=5):
    trigger = CronTrigger.from_crontab(to_apscheduler(expression), timezone=UTC)
    fires, previous, now = [], None, start
    for _ in range(n):
        previous = trigger.get_next_fire_time(previous, now)
        fires.append(previous.strftime("%a"))
        now = previous
    return fires


def test_weekdays_fire_monday_to_friday():
    monday = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
    assert next_fires("0 9 * * 1-5", monday) == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert next_fires("0 9 * * 0", monday, 2) == ["Sun", "Sun"]
    assert next_fires("0 9 * * 7", monday, 1) == ["Sun"]


@pytest.mark.parametrize("expression", ["0 9 * *", "0 9 * * 8", "0 9 * * x-1"])
def test_bad_weekdays_are_refused(expression):
    with pytest.raises(CrontabError):
        to_apscheduler(expression)


def test_settings_refuse_a_schedule_that_never_fires(make_settings):
    with pytest.raises(ValidationError, match="never fires"):
        make_settings(digest_schedule="0 9 31 2 *")


def test_settings_do_not_depend_on_the_machine_time_zone(make_settings, monkeypatch):
    """Without an explicit zone APScheduler asks tzlocal for the machine's, which need not be an IANA name."""
    monkeypatch.setenv("TZ", "UTC0")
    # tzlocal keeps the first zone it found for the whole process: forget it, so this test sees the machine's zone
    # as it is now, whatever ran before it (monkeypatch puts the cached zone back afterwards).
    monkeypatch.setattr(tzlocal_unix, "_cache_tz", None)
    monkeypatch.setattr(tzlocal_unix, "_cache_tz_name", None)
    with pytest.raises(ZoneInfoNotFoundError):
        tzlocal.get_localzone()  # the premise: asking the machine for its zone fails here
    assert make_settings(digest_schedule="0 9 * * 1-5").digest_schedule == "0 9 * * 1-5"


# ---- both day fields restricted: cron fires on either day -------------------------------------------------


def fire_dates(expression, start, until, timezone=UTC):
    trigger = crontab_trigger(expression, timezone)
    fires, previous, now = [], None, start
    while True:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None or previous >= until:
            return fires
        fires.append(previous)
        now = previous + timedelta(seconds=1)


def days_at_nine(start, until, matches):
    day, found = start, []
    while day < until:
        if matches(day):
            found.append(day.replace(hour=9))
        day += timedelta(days=1)
    return found


def test_both_day_fields_restricted_fire_on_either_day_as_cron_does():
    start, until = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    fires = fire_dates("0 9 1,15 * 1", start, until)
    # The 1st, the 15th and every Monday (weekday() == 0); a Monday the 1st or 15th fires once.
    assert fires == days_at_nine(start, until, lambda d: d.day in (1, 15) or d.weekday() == 0)
    assert len(fires) == 18 and len(set(fires)) == len(fires)  # June 5, July 6, August 7
    assert datetime(2026, 7, 1, 9, tzinfo=UTC) in fires  # a Wednesday: by its day of the month
    assert datetime(2026, 6, 8, 9, tzinfo=UTC) in fires  # the 8th: by its weekday


def test_a_day_field_starting_with_a_star_leaves_the_other_one_alone_deciding():
    start, until = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    # `*/2` in the day of month counts as unrestricted (vixie cron): Mondays on odd days, not odd days or Mondays.
    assert fire_dates("0 9 */2 * 1", start, until) == days_at_nine(
        start, until, lambda d: d.day % 2 == 1 and d.weekday() == 0)
    assert fire_dates("0 9 1,15 * *", start, until) == days_at_nine(start, until, lambda d: d.day in (1, 15))
    assert fire_dates("0 9 * * 1", start, until) == days_at_nine(start, until, lambda d: d.weekday() == 0)


def test_an_impossible_day_of_month_still_fires_on_the_weekday(make_settings):
    # Cron runs `0 9 31 2 1` on the Mondays of February; only a schedule that never fires is refused.
    assert make_settings(digest_schedule="0 9 31 2 1").digest_schedule == "0 9 31 2 1"
    fires = fire_dates("0 9 31 2 1", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC))
    assert [f.day for f in fires] == [1, 8, 15, 22]

"""DIGEST_SCHEDULE is a standard crontab: weekdays count from Sunday = 0 (or 7), as in cron, not as in APScheduler."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfoNotFoundError

import pytest
import tzlocal
import tzlocal.unix as tzlocal_unix
from apscheduler.triggers.cron import CronTrigger
from pydantic import ValidationError

from config.crontab import CrontabError, to_apscheduler, weekday_field


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

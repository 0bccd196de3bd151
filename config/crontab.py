"""Standard crontab for APScheduler 3: weekday numbers, and the day fields' OR, translated.

Two differences from APScheduler's `CronTrigger.from_crontab`:

- numeric weekdays: cron's start at Sunday = 0 (or 7), APScheduler 3's at Monday = 0;
- both day fields restricted (`0 9 1,15 * 1`): cron fires when *either* matches (the 1st, the 15th and every
  Monday), CronTrigger only when both do (Mondays that fall on the 1st or 15th). We follow cron (vixie cron and
  POSIX): a day field that starts with `*` (`*`, `*/2`) is unrestricted, and then the other one alone decides.
"""

from __future__ import annotations

import re

from apscheduler.triggers.combining import OrTrigger

# cron: 0 and 7 are Sunday, 1 is Monday. APScheduler 3: 0 is Monday. Names mean the same in both.
_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"^(?:(\*)|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


class CrontabError(ValueError):
    pass


def _cron_days(part: str) -> list[int]:
    match = _PART.match(part)
    if not match:
        raise CrontabError(f"weekday {part!r} is not a number, a range, a step or a day name")
    star, start, end, step = match.groups()
    low, high = (0, 6) if star else (int(start), int(end) if end else (6 if step else int(start)))
    stride = int(step) if step else 1
    if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high and stride >= 1):
        raise CrontabError(f"weekday {part!r} is out of range (0-7, where 0 and 7 are Sunday)")
    return [day % 7 for day in range(low, high + 1, stride)]


def weekday_field(field: str) -> str:
    """A cron weekday field in APScheduler's terms: numbers become day names; names and `*` pass through."""
    if field == "*" or not re.search(r"\d", field):
        return field
    parts = []
    for part in field.split(","):
        if re.search(r"\d", part):
            days = sorted(set(_cron_days(part)), key=lambda d: (d + 6) % 7)
            parts.extend(_CRON_DAY_NAMES[day] for day in days)
        else:
            parts.append(part)
    return ",".join(parts)


class EitherDayTrigger(OrTrigger):
    """Cron's day rule for a crontab with both day fields restricted: the earlier of a day-of-month trigger and a
    day-of-week trigger, identical in every other field.

    APScheduler's OrTrigger asks each trigger with the same previous fire time and `now`, and CronTrigger uses the
    previous fire time only as a lower bound, so each side computes exactly what it would alone; a day that
    matches both fires once (both give the same time). DST is each side's own handling (WallClockCronTrigger's,
    in the scheduler), unchanged: both sides share the hour and minute fields.
    """

    def __init__(self, by_day_of_month, by_day_of_week, expression: str):
        super().__init__([by_day_of_month, by_day_of_week])
        self.expression = expression

    @property
    def timezone(self):
        return self.triggers[0].timezone

    def __str__(self):
        return f"crontab[{self.expression}] ({self.triggers[0]} or {self.triggers[1]})"


def _restricted(day_field: str) -> bool:
    # vixie cron sets DOM_STAR/DOW_STAR when the field starts with `*`, so `*/2` counts as unrestricted too.
    return not day_field.startswith("*")


def crontab_trigger(expression: str, timezone, *, trigger_class=None):
    """A trigger for a standard crontab in `timezone`: a CronTrigger (of `trigger_class`), or an EitherDayTrigger
    of two when both day fields are restricted; CrontabError when it cannot be read or never fires."""
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    cls = trigger_class or CronTrigger
    fields = to_apscheduler(expression).split()
    minute, hour, day, month, weekday = fields
    # Decided on the fields as written: the translation turns a numeric `*/2` weekday into day names.
    as_written = expression.split()
    try:
        if _restricted(as_written[2]) and _restricted(as_written[4]):
            trigger = EitherDayTrigger(
                cls.from_crontab(f"{minute} {hour} {day} {month} *", timezone=timezone),
                cls.from_crontab(f"{minute} {hour} * {month} {weekday}", timezone=timezone),
                expression,
            )
        else:
            trigger = cls.from_crontab(" ".join(fields), timezone=timezone)
    except (ValueError, TypeError) as err:
        raise CrontabError(str(err)) from err
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise CrontabError("it never fires (check the day and month)")
    return trigger


def to_apscheduler(expression: str) -> str:
    """A five-field crontab with its weekday field translated; other fields mean the same in both."""
    fields = expression.split()
    if len(fields) != 5:
        raise CrontabError(
            f"a crontab has five fields (minute hour day month weekday), {expression!r} has {len(fields)}"
        )
    fields[4] = weekday_field(fields[4])
    return " ".join(fields)

"""Standard crontab weekdays for APScheduler 3, whose numeric weekdays start at Monday (cron's start at Sunday)."""

from __future__ import annotations

import re

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


def crontab_trigger(expression: str, timezone, *, trigger_class=None):
    """A CronTrigger for a standard crontab in `timezone`; CrontabError when it cannot be read or never fires."""
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = (trigger_class or CronTrigger).from_crontab(to_apscheduler(expression), timezone=timezone)
    except CrontabError:
        raise
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

"""Parses the text of `/deletion-jobs …` into a command, or a CommandError that says what is wrong.

Every argument is checked here, the digest's too (`digest subscribe [dataset-group] [at HH:MM] [time-zone]`):
a dataset group name or ARN passes the same checks in a listing and in a subscription.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import available_timezones

from services.errors import CommandError, DigestUsageError, InvalidDigestTime, MalformedArn, UnknownTimeZone
from services.models import STATUSES

ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:personalize:[a-z0-9-]+:\d{12}:dataset-group/[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
MAX_ARN_LENGTH = 256
DIGEST_ACTIONS = ("subscribe", "unsubscribe", "list", "now")
# Keywords, like `help` and `digest`: a dataset group with one of these names is reached by its ARN.
WATCH_ACTIONS = ("watch", "unwatch", "watching")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_LOOKS_LIKE_TIME = re.compile(r"^\d{1,2}([:.h]\d{0,2})?\s*(am|pm)?$", re.IGNORECASE)


@dataclass(frozen=True)
class HelpCommand:
    pass


@dataclass(frozen=True)
class ListCommand:
    """`group` is a dataset group ARN or name as typed (None: every group); `status` is normalised."""

    group: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class DigestCommand:
    """`digest subscribe|unsubscribe|list|now`. Only `subscribe` has arguments: a dataset group as typed (None: all
    groups), a 24-hour "HH:MM" (None: the bot's schedule) and an IANA zone (None: the bot's DIGEST_TIMEZONE)."""

    action: str
    group: str | None = None
    at_time: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class WatchCommand:
    """`watch <job>`, `unwatch <job>` or `watching`; `job` is a deletion job name or ARN as typed."""

    action: str
    job: str | None = None


@dataclass(frozen=True)
class ExportCommand:
    """`/deletion-jobs export …`: a listing's filter plus creation dates (UTC days; `until` exclusive)."""

    group: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None


Command = HelpCommand | ListCommand | DigestCommand | WatchCommand | ExportCommand


def normalise_status(token: str) -> str | None:
    candidate = token.strip().upper().replace("-", "_")
    return candidate if candidate in STATUSES else None


def is_arn(token: str) -> bool:
    return token.lower().startswith("arn:")


def is_dataset_group(token: str) -> bool:
    """Whether the token can name a dataset group: a name, or a well-formed ARN (MalformedArn for any other ARN)."""
    if is_arn(token):
        if len(token) > MAX_ARN_LENGTH or not ARN_PATTERN.match(token):
            raise MalformedArn(token)
        return True
    return bool(NAME_PATTERN.match(token))


def parse_command(text: str | None) -> Command:
    # Slack sends &, < and > entity-encoded; work on what the user typed.
    tokens = html.unescape(text or "").split()
    if not tokens:
        return ListCommand()
    head = tokens[0].lower()
    if head in {"help", "-h", "--help", "?", "usage"} and len(tokens) == 1:
        return HelpCommand()
    if head == "digest":
        return _parse_digest(tokens[1:])
    if head in WATCH_ACTIONS:
        return _parse_watch(head, tokens[1:])
    if head == "export":
        return parse_export(tokens[1:])
    if len(tokens) > 2:
        raise CommandError("too many words: give at most a dataset group and a status", " ".join(tokens[2:]))
    return ListCommand(*group_and_status(tokens))


def group_and_status(tokens: list[str]) -> tuple[str | None, str | None]:
    """A dataset group (name or ARN) and a status, in either order, each optional."""
    group: str | None = None
    status: str | None = None
    for token in tokens:
        normalised = normalise_status(token)
        if normalised is not None:
            if status is not None:
                raise CommandError("give only one status", token)
            status = normalised
            continue
        if group is not None:
            raise CommandError("give only one dataset group", token)
        group = check_group(token)
    return group, status


def check_group(token: str) -> str:
    """A dataset group name or ARN as typed; MalformedArn or CommandError when it can be neither."""
    if not is_dataset_group(token):
        raise CommandError("not a status or a dataset group name", token)
    return token


def _parse_digest(args: list[str]) -> DigestCommand:
    if not args:
        raise CommandError("say what to do with the digest: subscribe, unsubscribe, list or now", "digest")
    action = args[0].lower()
    if action not in DIGEST_ACTIONS:
        raise CommandError("unknown digest action (use subscribe, unsubscribe, list or now)", args[0])
    if action == "subscribe":
        return _parse_subscribe(args[1:])
    if len(args) > 1:
        raise DigestUsageError(f"`digest {action}` takes no more words", " ".join(args[1:]))
    return DigestCommand(action=action)


def _parse_subscribe(tokens: list[str]) -> DigestCommand:
    """`[dataset-group] [at HH:MM] [time-zone]`; errors name the word."""
    marker = next((i for i, t in enumerate(tokens) if t.lower() == "at" or (":" in t and not is_arn(t))), None)
    before, at_time, zone = (tokens if marker is None else tokens[:marker]), None, None
    if marker is not None:
        at_time, zone = _parse_when(tokens[marker + 1:] if tokens[marker].lower() == "at" else tokens[marker:])
    if len(before) > 1:
        if _LOOKS_LIKE_TIME.match(before[1]):
            # `subscribe media-feed 9am`: a time, but not in a form we take.
            raise InvalidDigestTime(before[1])
        raise DigestUsageError("give at most one dataset group; a time goes after `at`", " ".join(before[1:]))
    group = before[0] if before else None
    if group is not None and not is_dataset_group(group):
        if "/" in group or group.upper() == "UTC":
            raise DigestUsageError("a time zone needs a time before it, e.g. `at 09:30 Europe/Berlin`", group)
        raise DigestUsageError("not a dataset group name", group)
    return DigestCommand("subscribe", group=group, at_time=at_time, timezone=zone)


def _parse_when(after: list[str]) -> tuple[str, str | None]:
    """The words after `at` (or from the first `HH:MM`): a time and, optionally, a time zone."""
    if not after:
        raise DigestUsageError("say when after `at`, e.g. `at 09:30`", "at")
    at_time = parse_time(after[0])
    if len(after) > 2:
        raise DigestUsageError("too many words after the time: give at most a time zone", " ".join(after[2:]))
    return at_time, parse_timezone(after[1]) if len(after) == 2 else None


def parse_time(token: str) -> str:
    """`9:30`, `09:30` → `09:30`; InvalidDigestTime otherwise."""
    match = _TIME.match(token.strip())
    if not match:
        raise InvalidDigestTime(token)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_timezone(token: str) -> str:
    """An IANA zone name, matched case-insensitively; UnknownTimeZone (with close names) otherwise."""
    zones = available_timezones()
    if token in zones:
        return token
    by_folded = {zone.casefold(): zone for zone in zones}
    if token.casefold() in by_folded:
        return by_folded[token.casefold()]
    close = difflib.get_close_matches(token.casefold(), list(by_folded), n=3, cutoff=0.6)
    raise UnknownTimeZone(token, tuple(by_folded[c] for c in close))


def _parse_watch(action: str, args: list[str]) -> WatchCommand:
    if action == "watching":
        if args:
            raise CommandError("`watching` takes nothing after it", " ".join(args))
        return WatchCommand(action)
    if len(args) != 1:
        raise CommandError(f"give one deletion job name or ARN after `{action}`", " ".join(args) or action)
    return WatchCommand(action, args[0])


# ---- export -------------------------------------------------------------------------------------------------

EXPORT_DATE_WORDS = ("since", "until")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(token: str, word: str) -> date:
    """`YYYY-MM-DD` → a date; CommandError naming `word` (since/until) otherwise."""
    try:
        if _DATE.match(token):
            return date.fromisoformat(token)
    except ValueError:
        pass
    raise CommandError(f"`{word}` needs a date as YYYY-MM-DD (UTC), e.g. {word} 2026-11-01", token)


def parse_export(args: list[str]) -> ExportCommand:
    """`[dataset-group] [status] [since YYYY-MM-DD] [until YYYY-MM-DD]`, in any order."""
    dates: dict[str, date] = {}
    typed: dict[str, str] = {}
    rest: list[str] = []
    words = iter(args)
    for token in words:
        word = token.lower()
        if word not in EXPORT_DATE_WORDS:
            rest.append(token)
            continue
        if word in dates:
            raise CommandError(f"give `{word}` only once", token)
        value = next(words, None)
        if value is None:
            raise CommandError(f"`{word}` needs a date as YYYY-MM-DD (UTC), e.g. {word} 2026-11-01", token)
        dates[word] = parse_date(value, word)
        typed[word] = value
    if len(rest) > 2:
        raise CommandError("too many words: an export takes a dataset group, a status, since and until", rest[2])
    return export_command(*group_and_status(rest), since=dates.get("since"), until=dates.get("until"),
                          since_typed=typed.get("since"))


def export_command(group: str | None, status: str | None, since: date | None, until: date | None, *,
                   since_typed: str | None = None) -> ExportCommand:
    """The command, once `since` is known to come before `until` (the error names `since` as it was typed)."""
    if since and until and since >= until:
        raise CommandError("`since` must be before `until` (until is exclusive)", since_typed or since.isoformat())
    return ExportCommand(group=group, status=status, since=since, until=until)

"""Parses the text of `/deletion-jobs …` into a command, or a CommandError that says what is wrong."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

from services.errors import CommandError, MalformedArn
from services.models import STATUSES

ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:personalize:[a-z0-9-]+:\d{12}:dataset-group/[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
MAX_ARN_LENGTH = 256
DIGEST_ACTIONS = ("subscribe", "unsubscribe", "list", "now")


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
    action: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportCommand:
    """`/deletion-jobs export …`: a listing's filter plus creation dates (UTC days; `until` exclusive)."""

    group: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None


Command = HelpCommand | ListCommand | DigestCommand | ExportCommand


def normalise_status(token: str) -> str | None:
    candidate = token.strip().upper().replace("-", "_")
    return candidate if candidate in STATUSES else None


def is_arn(token: str) -> bool:
    return token.lower().startswith("arn:")


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
    if is_arn(token):
        if len(token) > MAX_ARN_LENGTH or not ARN_PATTERN.match(token):
            raise MalformedArn(token)
    elif not NAME_PATTERN.match(token):
        raise CommandError("not a status or a dataset group name", token)
    return token


def _parse_digest(args: list[str]) -> DigestCommand:
    if not args:
        raise CommandError("say what to do with the digest: subscribe, unsubscribe, list or now", "digest")
    action = args[0].lower()
    if action not in DIGEST_ACTIONS:
        raise CommandError("unknown digest action (use subscribe, unsubscribe, list or now)", args[0])
    return DigestCommand(action=action, args=tuple(args[1:]))


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
    if len(rest) > 2:
        raise CommandError("too many words: an export takes a dataset group, a status, since and until", rest[2])
    return export_command(*group_and_status(rest), since=dates.get("since"), until=dates.get("until"))


def export_command(group: str | None, status: str | None, since: date | None, until: date | None) -> ExportCommand:
    if since and until and since >= until:
        raise CommandError("`since` must be before `until` (until is exclusive)", f"since {since} until {until}")
    return ExportCommand(group=group, status=status, since=since, until=until)

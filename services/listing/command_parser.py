"""Parses the text of `/deletion-jobs …` into a command, or a CommandError that says what is wrong."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

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


Command = HelpCommand | ListCommand | DigestCommand


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
    if len(tokens) > 2:
        raise CommandError("too many words: give at most a dataset group and a status", " ".join(tokens[2:]))

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
        if is_arn(token):
            if len(token) > MAX_ARN_LENGTH or not ARN_PATTERN.match(token):
                raise MalformedArn(token)
        elif not NAME_PATTERN.match(token):
            raise CommandError("not a status or a dataset group name", token)
        group = token
    return ListCommand(group=group, status=status)


def _parse_digest(args: list[str]) -> DigestCommand:
    if not args:
        raise CommandError("say what to do with the digest: subscribe, unsubscribe, list or now", "digest")
    action = args[0].lower()
    if action not in DIGEST_ACTIONS:
        raise CommandError("unknown digest action (use subscribe, unsubscribe, list or now)", args[0])
    return DigestCommand(action=action, args=tuple(args[1:]))

"""Digest errors: what can go wrong with a digest subscription or post, as types mapped to text in blocks/errors.py."""

from __future__ import annotations

from config.settings import SettingsError
from services.errors import BotError, CommandError


class DigestUsageError(CommandError):
    """`/deletion-jobs digest …` that cannot be understood; answered with the digest's usage, not the listing's."""


class InvalidDigestTime(BotError):
    """`at 25:00`, `at 9am`: not a 24-hour HH:MM time."""

    def __init__(self, token: str):
        super().__init__(token)
        self.token = token


class UnknownTimeZone(BotError):
    def __init__(self, token: str, suggestions: tuple[str, ...] = ()):
        super().__init__(token)
        self.token = token
        self.suggestions = suggestions


class BotNotInChannel(BotError):
    """The bot cannot post in `channel_id`; `code` is what Slack said (not_in_channel, channel_not_found, …)."""

    def __init__(self, channel_id: str, code: str):
        super().__init__(f"{channel_id}: {code}")
        self.channel_id = channel_id
        self.code = code


class NotSubscribed(BotError):
    """`digest now` in a channel that has no subscription."""

    def __init__(self, channel_id: str):
        super().__init__(channel_id)
        self.channel_id = channel_id


class DigestFailed(BotError):
    """A digest run could not read AWS or post to Slack; `code` is Slack's error code or the AWS error's name."""

    def __init__(self, channel_id: str, code: str, fix: str | None = None):
        super().__init__(f"{channel_id}: {code}")
        self.channel_id = channel_id
        self.code = code
        self.fix = fix


class DigestScheduleInvalid(SettingsError):
    """DIGEST_SCHEDULE is not a crontab APScheduler understands; `str()` is a message for the operator."""


class DigestGroupInvalid(SettingsError):
    """DIGEST_DATASET_GROUP names no dataset group in this account and region."""

"""Watch errors, as types; `blocks/watch.py` says each in words (through `blocks.errors.render_error`)."""

from __future__ import annotations

from services.errors import BotError


class MalformedJobArn(BotError):
    """Not `arn:aws:personalize:REGION:ACCOUNT:data-deletion-job/NAME`."""

    def __init__(self, arn: str):
        super().__init__(arn)
        self.arn = arn


class ForeignJobArn(BotError):
    """A job ARN outside the bot's partition, region or account: `part` names which, `given` vs `expected`."""

    def __init__(self, arn: str, part: str, given: str, expected: str):
        super().__init__(f"that ARN is in {part} {given}; this bot reads {part} {expected}")
        self.arn = arn
        self.part = part
        self.given = given
        self.expected = expected


class JobAccountUnknown(BotError):
    """A job name cannot be made an ARN: ListDatasetGroups names no account (no dataset group yet)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class WatchedJobNotFound(BotError):
    """AWS knows no deletion job by this name or ARN; `job` is what the person typed."""

    def __init__(self, job: str):
        super().__init__(job)
        self.job = job


class WatchLimitReached(BotError):
    def __init__(self, limit: int):
        super().__init__(str(limit))
        self.limit = limit


class NotWatching(BotError):
    """`unwatch` of a job the person does not watch."""

    def __init__(self, job: str):
        super().__init__(job)
        self.job = job

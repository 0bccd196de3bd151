"""Every domain error, in one module. Those a person meets in Slack are mapped to text in one place,
`blocks.errors.render_error`; those that stop the bot from starting are reported by `runtime.startup`.
"""

from __future__ import annotations

from datetime import datetime


class BotError(Exception):
    """Base for errors that end in a message to a person rather than a traceback."""


class CommandError(BotError):
    """The text cannot be understood. `problem` names the offending part; `token` is it, verbatim."""

    def __init__(self, problem: str, token: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.token = token


class ListExpired(BotError):
    """A paging cursor is expired, unknown or tampered with, or AWS refused its nextToken.

    `query` is what the list showed, when that is still known, so the answer can offer to run it again.
    """

    def __init__(self, detail: str = "", query=None):
        super().__init__(detail)
        self.query = query


class DatasetGroupNotFound(BotError):
    def __init__(self, name: str, suggestions: tuple[str, ...] = ()):
        super().__init__(name)
        self.name = name
        self.suggestions = suggestions


class DatasetGroupArnNotFound(DatasetGroupNotFound):
    """A well-formed dataset group ARN of the bot's partition, region and account that names no dataset group."""

    def __init__(self, arn: str, *, name: str, region: str, account: str):
        super().__init__(name)
        self.arn = arn
        self.region = region
        self.account = account


class JobNotFound(BotError):
    """A deletion job AWS no longer knows (Details on a job that was removed)."""

    def __init__(self, arn: str):
        super().__init__(arn)
        self.arn = arn


class MalformedArn(BotError):
    def __init__(self, arn: str):
        super().__init__(arn)
        self.arn = arn


class ForeignDatasetGroupArn(BotError):
    """A dataset group ARN outside the bot's partition, region or account: the bot cannot read that group.

    `part` is "partition", "region" or "account"; `given` is the ARN's, `expected` the bot's.
    """

    def __init__(self, arn: str, part: str, given: str, expected: str):
        super().__init__(f"that ARN is in {part} {given}; this bot reads {part} {expected}")
        self.arn = arn
        self.part = part
        self.given = given
        self.expected = expected


class AccessRefused(BotError):
    """The allowlists do not let this user, channel or dataset group through."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class AwsError(BotError):
    """A Personalize call failed; `request_id` is AWS's id for the operator's log."""

    def __init__(self, detail: str = "", *, request_id: str | None = None, code: str | None = None):
        super().__init__(detail or code or type(self).__name__)
        self.detail = detail
        self.request_id = request_id
        self.code = code


class AwsInvalidInput(AwsError):
    pass


class AwsResourceNotFound(AwsError):
    pass


class AwsAccessDenied(AwsError):
    pass


class AwsThrottled(AwsError):
    pass


class AwsCredentialsError(AwsError):
    pass


class AwsUnreachable(AwsError):
    pass


class AwsTimeout(AwsError):
    pass


class DeadlineSpent(AwsTimeout):
    """The request's own deadline passed before (or between attempts of) a call: its time ran out, not AWS's.
    Someone else waiting for that call (services/aws/page_cache.py) with time left makes the call itself."""


class AwsServiceError(AwsError):
    """Anything else AWS answered with (5xx after retries, unknown codes)."""


class AwsMalformedResponse(AwsServiceError):
    """An HTTP 200 whose body is not the answer the model describes (empty, an HTML page, truncated JSON).

    botocore returns `{}` for a body it cannot parse: read as "no results", that would lose failures.
    """


# ---- the digest ------------------------------------------------------------------------------------------


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


class DigestInDirectMessage(BotError):
    """`digest subscribe` in a direct message (one person's or a group's): a digest goes to a channel."""

    def __init__(self, channel_id: str):
        super().__init__(channel_id)
        self.channel_id = channel_id


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


# ---- watches (issue 11) --------------------------------------------------------------------------------


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


# ---- exports -------------------------------------------------------------------------------------------


class ExportTooLarge(BotError):
    """More jobs match than EXPORT_MAX_JOBS: refused before any DescribeDataDeletionJob call."""

    def __init__(self, count: int, limit: int):
        super().__init__(f"{count} jobs match; the limit is {limit}")
        self.count = count
        self.limit = limit


class ExportAlreadyRunning(BotError):
    """This person's previous export has not finished yet."""

    def __init__(self, started_at: datetime | None):
        super().__init__("an export of yours is still running")
        self.started_at = started_at


class ExportIncomplete(BotError):
    """A DescribeDataDeletionJob call failed (after the client's retries): no file is made, never one with gaps."""

    def __init__(self, described: int, total: int, cause: AwsError):
        super().__init__(f"details of {described} of {total} jobs read, then {type(cause).__name__}")
        self.described = described
        self.total = total
        self.cause = cause


class ExportUploadFailed(BotError):
    """Slack did not take the file: `step` is "dm" (conversations.open) or "upload"; `code` is Slack's error."""

    def __init__(self, step: str, code: str):
        super().__init__(f"{step}: {code}")
        self.step = step
        self.code = code


# ---- start-up: the bot cannot run until the operator fixes these ------------------------------------------


class StartupError(Exception):
    """What stops the bot from starting, besides `config.SettingsError`; `str()` is a message for the operator."""


class DigestSettingInvalid(StartupError):
    """A digest setting that passed `config.settings` but cannot be used (exit code and message as SettingsError's)."""


class DigestScheduleInvalid(DigestSettingInvalid):
    """DIGEST_SCHEDULE is not a crontab APScheduler understands."""


class DigestGroupInvalid(DigestSettingInvalid):
    """DIGEST_DATASET_GROUP names no dataset group in this account and region."""


class StateStoreUnavailable(StartupError):
    """The database at DATABASE_URL cannot be reached or used; `str()` says which and why."""


class DigestDatabaseUnavailable(BotError):
    """The state store did not answer a `/deletion-jobs digest …` command; `action` is what was asked, `posted` how
    many failures `digest now` had posted (and recorded) before it stopped answering."""

    def __init__(self, action: str, posted: int = 0):
        super().__init__(action)
        self.action = action
        self.posted = posted

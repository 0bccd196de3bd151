"""Domain errors. Each is mapped to user text in one place: `blocks.errors.render_error`."""

from __future__ import annotations


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


class AwsServiceError(AwsError):
    """Anything else AWS answered with (5xx after retries, unknown codes)."""


class AwsMalformedResponse(AwsServiceError):
    """An HTTP 200 whose body is not the answer the model describes (empty, an HTML page, truncated JSON).

    botocore returns `{}` for a body it cannot parse: read as "no results", that would lose failures.
    """

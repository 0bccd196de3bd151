"""The export's own errors; `blocks.errors.render_error` maps each to the requester's text."""

from __future__ import annotations

from datetime import datetime

from services.errors import AwsError, BotError


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

"""DirectMessageUploader: puts an export's file in the requester's direct messages with the bot, and nowhere else.

`conversations.open(users=…)` gives the DM's channel id (scope im:write); `files_upload_v2` then calls
`files.getUploadURLExternal`, POSTs the bytes to the URL it returns, and shares the file into that DM with
`files.completeUploadExternal(channel_id=…)` (scope files:write). The channel is never the one the command came
from: an export names people's deletion requests and belongs to the person who asked for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError

from services.errors import ExportUploadFailed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadedFile:
    channel_id: str
    file_id: str | None


class DirectMessageUploader:
    def __init__(self, client):
        self._client = client

    def upload(self, user_id: str, *, filename: str, data: bytes, title: str, comment: str) -> UploadedFile:
        channel_id = self.open_dm(user_id)
        try:
            response = self._client.files_upload_v2(channel=channel_id, filename=filename, content=data, title=title,
                                                    initial_comment=comment)
        except (SlackClientError, OSError) as err:
            raise self._failed("upload", err) from err
        file = response.get("file") or {}
        return UploadedFile(channel_id=channel_id, file_id=file.get("id"))

    def open_dm(self, user_id: str) -> str:
        try:
            response = self._client.conversations_open(users=user_id)
        except (SlackClientError, OSError) as err:
            raise self._failed("dm", err) from err
        channel_id = (response.get("channel") or {}).get("id")
        if not channel_id:
            raise self._failed("dm", None)
        return channel_id

    @staticmethod
    def _failed(step: str, err: Exception | None) -> ExportUploadFailed:
        if isinstance(err, SlackApiError):
            data = err.response.data if isinstance(err.response.data, dict) else {}
            code = data.get("error") or f"HTTP {err.response.status_code}"
        elif err is None:
            code = "no_channel_in_answer"
        else:
            # The upload URL refusing the bytes (SlackRequestError), a timeout, a dropped connection.
            code = type(err).__name__
        logger.error("export: Slack did not take the file at step %s: %s", step, code)
        return ExportUploadFailed(step, code)

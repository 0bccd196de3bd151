"""`/deletion-jobs export`: answer "preparing", report progress, upload the CSV to the requester's DM, summarise.

Every post goes through the command's response_url, which Slack allows 5 posts: "preparing" (1), at most two
progress updates (each tried once, and only while two posts are left), and the final answer, which keeps at
least two posts so it can be retried once.
"""

from __future__ import annotations

from blocks.export import export_comment, render_export_done, render_export_preparing, render_export_progress
from handlers.failures import failure_answer
from handlers.requests import Requester
from services.listing.command_parser import ExportCommand
from services.models import ExportProgress
from services.slack.delivery import POSTS_PER_RESPONSE_URL

# Shorter exports finish before a progress update would help.
PROGRESS_MIN_JOBS = 300
# Fractions of the Describe calls after which an update is posted.
PROGRESS_MARKS = (1 / 3, 2 / 3)
# Posts kept back for the final answer.
FINAL_POSTS = 2


class ExportAnswer:
    """The requester's one ephemeral answer, replaced as the export goes on."""

    def __init__(self, delivery, respond):
        self._delivery = delivery
        self._respond = respond
        self._marks = list(PROGRESS_MARKS)
        self.posted = False

    def post(self, message: dict, **kwargs) -> None:
        if self._delivery.send(self._respond, message, replace_original=self.posted, **kwargs):
            self.posted = True

    def progress(self, progress: ExportProgress) -> None:
        """Called after each Describe call; posts when a mark is passed and the budget allows."""
        passed = False
        while self._marks and progress.described >= self._marks[0] * progress.total:
            self._marks.pop(0)
            passed = True
        if not passed or progress.total < PROGRESS_MIN_JOBS:
            return
        url = getattr(self._respond, "response_url", None) or ""
        if self.posted and self._delivery.budget.used(url) + 1 + FINAL_POSTS <= POSTS_PER_RESPONSE_URL:
            self.post(render_export_progress(progress), max_attempts=1)


def answer_export(services, requester: Requester, command: ExportCommand, respond, audit) -> None:
    """Run one export for `requester` and answer every step through `respond`; never raises."""
    answer = ExportAnswer(services.delivery, respond)
    try:
        export_filter = services.export.filter_for(command, user_id=requester.user_id)
        audit.note(filter=export_filter.as_audit())
        with services.export.reserved(requester.user_id) as lease:
            answer.post(render_export_preparing(export_filter))
            export = services.export.export(export_filter, generated_by=requester.user_id or "unknown",
                                            generated_via="Slack", progress=answer.progress, lease=lease)
            audit.note(results=export.rows, by_status=dict(export.by_status), sha256=export.sha256,
                       bytes=len(export.data), list_calls=export.list_calls, describe_calls=export.describe_calls)
            uploaded = services.export_uploader.upload(requester.user_id, filename=export.filename, data=export.data,
                                                       title=export.filename, comment=export_comment(export))
        audit.note(dm_channel=uploaded.channel_id, file_id=uploaded.file_id)
        message = render_export_done(export)
    except Exception as err:  # noqa: BLE001 - every failure is answered; failure_answer logs the unexpected
        message = failure_answer(err, audit, services.listing, what="/deletion-jobs export")
    answer.post(message)

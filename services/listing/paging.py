"""DeletionJobPager: pages of deletion jobs, filtered on our side, resumable exactly after the last job shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from services.aws.personalize import MAX_RESULTS
from services.aws.token_walk import TokenWalk
from services.errors import AwsTimeout
from services.models import Cursor, DeletionJob, Page, Position

logger = logging.getLogger(__name__)


def resume_point(jobs: list[DeletionJob], after: Position | None) -> int:
    """The index in one API page (newest created first) where the listing goes on after the job at `after`.

    `len(jobs)` when the whole page still lies before that job: new jobs pushed it onto a later page, which is
    searched the same way. Jobs created in the same instant are told apart by where the ARN at `after` stands in
    the page, not by comparing ARNs, since the order among them is the API's own; when that ARN is not in the
    page, the page goes on after it once it holds a job created strictly earlier, and ties there came after it.
    """
    if after is None:
        return 0
    for index, job in enumerate(jobs):
        if job.arn == after.arn:
            return index + 1
    created = [Position.of(job).created_us for job in jobs]
    if any(us < after.created_us for us in created):
        return next(i for i, us in enumerate(created) if us <= after.created_us)
    return len(jobs)


class DeletionJobPager:
    """Wraps ListDataDeletionJobs (botocore has no paginator for it) and keeps AWS's order, newest first.

    A cursor is the last job shown (creation time and ARN) plus the nextToken of the API page it was in. A click
    re-reads that one API page and goes on right after the job, wherever new jobs have pushed it: no job is
    shown twice, none is skipped.
    """

    def __init__(
        self,
        gateway,
        *,
        page_size: int = 10,
        max_calls: int = 5,
        api_page_size: int = MAX_RESULTS,
        visible: Callable[[DeletionJob], bool] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._gateway = gateway
        self._now = now
        self._visible = visible
        self._page_size = page_size
        self._max_calls = max_calls
        self._api_page_size = api_page_size

    def _matches(self, wanted: str | None):
        def matches(job: DeletionJob) -> bool:
            if wanted is not None and job.status != wanted:
                return False
            return self._visible is None or self._visible(job)

        return matches

    def page(self, cursor: Cursor) -> Page:
        """The page at `cursor`, stamped with when its oldest API page was read from AWS and when it was built."""
        read_times: list[datetime] = []
        page = self._walk(cursor, read_times)
        return replace(page, read_at=min(read_times, default=None), built_at=self._now())

    def _walk(self, cursor: Cursor, read_times: list[datetime]) -> Page:
        query = cursor.query
        matches = self._matches(query.status)
        # `position` is the last job passed: where a page that stops early resumes.
        token, position = cursor.api_token, cursor.after
        found: list[DeletionJob] = []
        scanned = calls = 0
        walk = TokenWalk("list_data_deletion_jobs", token)
        while True:
            if calls >= self._max_calls:
                return self._stopped_early(cursor, found, token, position, scanned, calls)
            try:
                api_page = self._gateway.list_jobs_page(
                    dataset_group_arn=query.dataset_group_arn, next_token=token, max_results=self._api_page_size,
                    shared=True,
                )
            except AwsTimeout:
                if calls == 0:
                    raise
                logger.warning("page stopped at the request deadline after %d calls, %d jobs scanned", calls, scanned)
                return self._stopped_early(cursor, found, token, position, scanned, calls)
            calls += 1
            if api_page.read_at is not None:
                read_times.append(api_page.read_at)
            items = api_page.jobs
            for index in range(resume_point(items, position), len(items)):
                job = items[index]
                scanned += 1
                position = Position.of(job)
                if not matches(job):
                    continue
                found.append(job)
                if len(found) == self._page_size:
                    if any(matches(rest) for rest in items[index + 1:]):
                        next_cursor = cursor.advance(api_token=token, after=position, shown_now=len(found))
                    elif api_page.next_token:
                        next_cursor = cursor.advance(api_token=api_page.next_token, after=position,
                                                     shown_now=len(found))
                    else:
                        next_cursor = None
                    return Page(cursor, found, next_cursor, scanned, calls)
            if not api_page.next_token:
                return Page(cursor, found, None, scanned, calls)
            token = walk.follow(api_page.next_token)

    @staticmethod
    def _stopped_early(cursor: Cursor, found: list[DeletionJob], token: str | None, position: Position | None,
                       scanned: int, calls: int) -> Page:
        next_cursor = cursor.advance(api_token=token, after=position, shown_now=len(found))
        return Page(cursor, found, next_cursor, scanned, calls, partial=True)

"""DeletionJobPager: pages of deletion jobs, filtered on our side, resumable exactly after the last job shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services.cursor import Cursor
from services.errors import AwsTimeout
from services.models import DeletionJob

logger = logging.getLogger(__name__)

API_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    """One page as the user sees it, and where the next one starts."""

    cursor: Cursor
    jobs: list[DeletionJob]
    next_cursor: Cursor | None
    scanned: int
    api_calls: int
    # True when the page stopped early (call budget or deadline): the button says Continue, not Next page.
    partial: bool = False

    @property
    def first_number(self) -> int:
        return self.cursor.shown + 1

    @property
    def last_number(self) -> int:
        return self.cursor.shown + len(self.jobs)


class DeletionJobPager:
    """Wraps ListDataDeletionJobs (botocore has no paginator for it) and keeps AWS's order, newest first.

    A cursor is (API nextToken, offset inside that API page), so a click re-reads at most the one API page
    it resumes in, and the next page starts exactly after the last job shown.
    """

    def __init__(
        self,
        gateway,
        *,
        page_size: int = 10,
        max_calls: int = 5,
        api_page_size: int = API_PAGE_SIZE,
        visible: Callable[[DeletionJob], bool] | None = None,
    ):
        self._gateway = gateway
        self._visible = visible
        self._page_size = page_size
        self._max_calls = max_calls
        self._api_page_size = api_page_size

    def page(self, cursor: Cursor) -> Page:
        query = cursor.query
        wanted = query.status

        def matches(job: DeletionJob) -> bool:
            if wanted is not None and job.status != wanted:
                return False
            return self._visible is None or self._visible(job)

        token, offset = cursor.api_token, cursor.offset
        found: list[DeletionJob] = []
        scanned = calls = 0
        while True:
            if calls >= self._max_calls:
                return self._stopped_early(cursor, found, token, scanned, calls)
            try:
                api_page = self._gateway.list_jobs_page(
                    dataset_group_arn=query.dataset_group_arn, next_token=token, max_results=self._api_page_size
                )
            except AwsTimeout:
                if calls == 0:
                    raise
                logger.warning("page stopped at the request deadline after %d calls, %d jobs scanned", calls, scanned)
                return self._stopped_early(cursor, found, token, scanned, calls)
            calls += 1
            items = api_page.jobs
            index = min(offset, len(items))
            while index < len(items):
                job = items[index]
                index += 1
                scanned += 1
                if not matches(job):
                    continue
                found.append(job)
                if len(found) == self._page_size:
                    if any(matches(rest) for rest in items[index:]):
                        next_cursor = cursor.advance(api_token=token, offset=index, shown_now=len(found))
                    elif api_page.next_token:
                        next_cursor = cursor.advance(api_token=api_page.next_token, offset=0, shown_now=len(found))
                    else:
                        next_cursor = None
                    return Page(cursor, found, next_cursor, scanned, calls)
            if not api_page.next_token:
                return Page(cursor, found, None, scanned, calls)
            token, offset = api_page.next_token, 0

    @staticmethod
    def _stopped_early(cursor: Cursor, found: list[DeletionJob], token: str | None, scanned: int, calls: int) -> Page:
        next_cursor = cursor.advance(api_token=token, offset=0, shown_now=len(found))
        return Page(cursor, found, next_cursor, scanned, calls, partial=True)

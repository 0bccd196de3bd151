"""JobListing: from a parsed command or a button value to a page of deletion jobs and its button values."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.errors import AwsResourceNotFound, JobNotFound, ListExpired
from services.listing.command_parser import ListCommand
from services.listing.cursor import CursorCodec
from services.listing.paging import DeletionJobPager
from services.models import STATUSES, Cursor, DeletionJob, DeletionJobDetails, ListQuery, Page

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageView:
    """A page and the button values that go with it."""

    page: Page
    next_value: str | None
    details_values: list[str]


@dataclass(frozen=True)
class DetailsView:
    details: DeletionJobDetails
    back_value: str


class JobListing:
    def __init__(self, pager: DeletionJobPager, resolver, codec: CursorCodec, gateway, access):
        self._pager = pager
        self._resolver = resolver
        self._codec = codec
        self._gateway = gateway
        self._access = access

    def query_for(self, command: ListCommand, *, user_id: str | None = None) -> ListQuery:
        arn = None
        if command.group:
            arn = self._resolver.resolve(command.group).arn
            self._access.check_group(arn, user_id=user_id)
        return ListQuery(dataset_group_arn=arn, status=command.status)

    def first_page(self, query: ListQuery) -> PageView:
        return self._view(Cursor.start(query))

    def page_at(self, value: str, *, user_id: str | None = None) -> PageView:
        cursor = self._codec.decode(value)
        self._check_query(cursor.query, user_id)
        return self._view(cursor)

    def restart(self, value: str, *, user_id: str | None = None) -> PageView:
        try:
            query = self._codec.decode(value).query
        except ListExpired as err:
            # "Run it again" must work on an old message too: the query is known once the value's signature
            # verified, and restarting reads from the top, so its age does not matter.
            if err.query is None:
                raise
            query = err.query
        self._check_query(query, user_id)
        return self.first_page(query)

    def details(self, value: str, *, user_id: str | None = None) -> DetailsView:
        job_arn, back_value = self._codec.decode_details(value)
        back = self._codec.decode(back_value)
        self._check_query(back.query, user_id)
        try:
            details = self._gateway.describe_job(job_arn)
        except AwsResourceNotFound as err:
            raise JobNotFound(job_arn) from err
        self._access.check_group(details.job.dataset_group_arn, user_id=user_id)
        return DetailsView(details=details, back_value=back_value)

    def details_value(self, job: DeletionJob) -> str:
        """A Details button for a job shown outside a list (the Home tab): the same value a list's Details button
        carries, its page being the first of that job's dataset group and status; ValueError when it cannot fit."""
        status = job.status if job.status in STATUSES else None
        back = self._codec.encode(Cursor.start(ListQuery(dataset_group_arn=job.dataset_group_arn, status=status)))
        return self._codec.encode_details(job.arn, back)

    def back_value_of(self, details_value: str) -> str | None:
        """The list page a Details button came from, or None when the value does not verify."""
        try:
            return self._codec.decode_details(details_value)[1]
        except ListExpired:
            return None

    def restart_value(self, query: ListQuery | None) -> str:
        return self._codec.encode(Cursor.start(query or ListQuery()))

    def _check_query(self, query: ListQuery, user_id: str | None) -> None:
        # The clicker may not be the person who ran the command, and allowlists may have changed since.
        if query.dataset_group_arn:
            self._access.check_group(query.dataset_group_arn, user_id=user_id)

    def _view(self, cursor: Cursor) -> PageView:
        try:
            page = self._pager.page(cursor)
        except ListExpired as err:
            raise ListExpired(str(err), query=cursor.query) from err
        this_value = self._codec.encode(cursor)
        return PageView(
            page=page,
            next_value=self._codec.encode(page.next_cursor) if page.next_cursor else None,
            details_values=[self._codec.encode_details(job.arn, this_value) for job in page.jobs],
        )

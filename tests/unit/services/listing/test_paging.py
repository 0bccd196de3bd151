"""DeletionJobPager against botocore's Stubber: calls are checked against the real Personalize model."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from services.aws.personalize import CLIENT_CONFIG, PersonalizeGateway
from services.errors import AwsThrottled, ListExpired
from services.listing.paging import DeletionJobPager
from services.models import Cursor, ListQuery, Position
from tests.helpers.personalize_stubs import expect_list

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def job(i: int, status: str) -> dict:
    item = {
        "dataDeletionJobArn": f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}",
        "datasetGroupArn": GROUP,
        "jobName": f"job-{i}",
        "status": status,
        "creationDateTime": T0 - timedelta(minutes=i),
        "lastUpdatedDateTime": T0 - timedelta(minutes=i) + timedelta(hours=1),
    }
    if status == "FAILED":
        item["failureReason"] = f"reason {i}"
    return item


@pytest.fixture
def stubbed():
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    with Stubber(client) as stubber:
        yield PersonalizeGateway(client), stubber
        stubber.assert_no_pending_responses()


def after(i: int) -> Position:
    """The position of job-i, as a cursor carries it."""
    return Position(int((T0 - timedelta(minutes=i)).timestamp()) * 1_000_000,
                    f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}")


def api_pages(statuses: list[str]) -> list[list[dict]]:
    jobs = [job(i, s) for i, s in enumerate(statuses)]
    return [jobs[i:i + 100] for i in range(0, len(jobs), 100)]


def test_unfiltered_first_page_reads_one_api_page(stubbed):
    gateway, stubber = stubbed
    pages = api_pages(["COMPLETED"] * 150)
    expect_list(stubber, pages[0], next_token="t1")
    page = DeletionJobPager(gateway, page_size=10).page(Cursor.start(ListQuery()))
    assert [j.name for j in page.jobs] == [f"job-{i}" for i in range(10)]
    assert page.api_calls == 1
    assert page.next_cursor.api_token is None and page.next_cursor.after == after(9)
    assert page.next_cursor.page == 2 and page.next_cursor.shown == 10


def test_filtered_page_spans_api_pages_and_resumes_exactly_after_the_last_job(stubbed):
    gateway, stubber = stubbed
    # FAILED at 95..99 on API page 1 and at 100..109 on API page 2.
    statuses = ["COMPLETED"] * 95 + ["FAILED"] * 15 + ["COMPLETED"] * 90
    pages = api_pages(statuses)
    pager = DeletionJobPager(gateway, page_size=10)
    expect_list(stubber, pages[0], next_token="t1")
    expect_list(stubber, pages[1], token="t1")
    first = pager.page(Cursor.start(ListQuery(status="FAILED")))
    assert [j.name for j in first.jobs] == [f"job-{i}" for i in range(95, 105)]
    assert first.api_calls == 2
    assert (first.next_cursor.api_token, first.next_cursor.after) == ("t1", after(104))

    expect_list(stubber, pages[1], token="t1")  # the click re-reads only the page it resumes in
    second = pager.page(first.next_cursor)
    assert [j.name for j in second.jobs] == [f"job-{i}" for i in range(105, 110)]
    assert second.api_calls == 1
    assert second.next_cursor is None
    assert (second.first_number, second.last_number) == (11, 15)


def test_no_next_page_when_the_rest_of_the_last_api_page_has_no_match(stubbed):
    gateway, stubber = stubbed
    statuses = ["FAILED"] * 10 + ["COMPLETED"] * 20
    expect_list(stubber, api_pages(statuses)[0])
    page = DeletionJobPager(gateway, page_size=10).page(Cursor.start(ListQuery(status="FAILED")))
    assert len(page.jobs) == 10 and page.next_cursor is None


def test_skips_the_rest_of_an_api_page_without_matches(stubbed):
    gateway, stubber = stubbed
    statuses = ["FAILED"] * 10 + ["COMPLETED"] * 90 + ["FAILED"] * 3
    pages = api_pages(statuses)
    expect_list(stubber, pages[0], next_token="t1")
    page = DeletionJobPager(gateway, page_size=10).page(Cursor.start(ListQuery(status="FAILED")))
    assert (page.next_cursor.api_token, page.next_cursor.after) == ("t1", after(9))


def test_call_budget_stops_early_and_offers_continue(stubbed):
    gateway, stubber = stubbed
    pages = api_pages(["COMPLETED"] * 300 + ["FAILED"])
    for index in range(2):
        expect_list(stubber, pages[index], token=f"t{index}" if index else None, next_token=f"t{index + 1}")
    page = DeletionJobPager(gateway, page_size=10, max_calls=2).page(Cursor.start(ListQuery(status="FAILED")))
    assert page.partial and page.jobs == [] and page.scanned == 200 and page.api_calls == 2
    assert (page.next_cursor.api_token, page.next_cursor.after) == ("t2", after(199))


def test_dataset_group_is_passed_to_aws(stubbed):
    gateway, stubber = stubbed
    expect_list(stubber, api_pages(["FAILED"] * 3)[0], group=GROUP)
    page = DeletionJobPager(gateway).page(Cursor.start(ListQuery(GROUP, "FAILED")))
    assert len(page.jobs) == 3 and page.next_cursor is None


def test_invalid_next_token_is_an_expired_list(stubbed):
    gateway, stubber = stubbed
    stubber.add_client_error("list_data_deletion_jobs", "InvalidNextTokenException", "bad token",
                             expected_params={"maxResults": 100, "nextToken": "gone"})
    with pytest.raises(ListExpired):
        DeletionJobPager(gateway).page(Cursor(ListQuery(), api_token="gone"))


def test_throttling_is_a_domain_error_with_the_request_id(stubbed):
    gateway, stubber = stubbed
    stubber.add_client_error("list_data_deletion_jobs", "ThrottlingException", "slow down", http_status_code=400,
                             response_meta={"RequestId": "req-123"})
    with pytest.raises(AwsThrottled) as caught:
        DeletionJobPager(gateway).page(Cursor.start(ListQuery()))
    assert caught.value.request_id == "req-123"


def test_walking_every_page_returns_every_match_once_in_order(stubbed):
    gateway, stubber = stubbed
    statuses = (["FAILED", "COMPLETED", "COMPLETED"] * 120)[:350]
    pages = api_pages(statuses)
    expected = [f"job-{i}" for i, s in enumerate(statuses) if s == "FAILED"]
    tokens = {None: 0, "t1": 1, "t2": 2, "t3": 3}
    by_index = {v: k for k, v in tokens.items()}

    def queue(token):
        index = tokens[token]
        expect_list(stubber, pages[index], token=token, next_token=by_index.get(index + 1))

    pager = DeletionJobPager(gateway, page_size=20)
    seen, cursor, calls, clicks = [], Cursor.start(ListQuery(status="FAILED")), 0, 0
    while cursor is not None:
        # queue exactly the API pages this click may read: the one it resumes in and those after it
        for token in [t for t in tokens if tokens[t] >= tokens[cursor.api_token]][:5]:
            queue(token)
        page = pager.page(cursor)
        calls += page.api_calls
        clicks += 1
        seen.extend(j.name for j in page.jobs)
        cursor = page.next_cursor
        stubber._queue.clear()  # drop the pages this click did not need
    assert seen == expected
    assert calls <= len(pages) + clicks


# ---- jobs created between two clicks (issue 8, item 9) -------------------------------------------------------


def new_job(i: int, status: str = "COMPLETED") -> dict:
    """A job created after the walk began: newer than every job of `api_pages`."""
    item = job(i, status)
    item["creationDateTime"] = T0 + timedelta(minutes=i)
    item["dataDeletionJobArn"] = item["dataDeletionJobArn"].replace("job-", "new-")
    return item


def names(page) -> list[str]:
    return [j.name for j in page.jobs]


def test_a_job_created_between_two_clicks_does_not_repeat_the_last_job_shown(stubbed):
    gateway, stubber = stubbed
    jobs = api_pages(["COMPLETED"] * 150)
    pager = DeletionJobPager(gateway, page_size=10)
    expect_list(stubber, jobs[0], next_token="t1")
    first = pager.page(Cursor.start(ListQuery()))
    assert names(first)[-1] == "job-9"

    # One new job: AWS's first page now holds it and jobs 0..98.
    expect_list(stubber, [new_job(1)] + jobs[0][:99], next_token="t1")
    second = pager.page(first.next_cursor)
    assert names(second) == [f"job-{i}" for i in range(10, 20)]
    assert second.api_calls == 1


def test_new_jobs_that_push_the_last_job_shown_onto_the_next_api_page(stubbed):
    gateway, stubber = stubbed
    statuses = ["COMPLETED"] * 90 + ["FAILED"] * 20 + ["COMPLETED"] * 90
    jobs = [job(i, s) for i, s in enumerate(statuses)]
    pager = DeletionJobPager(gateway, page_size=6)
    expect_list(stubber, jobs[:100], next_token="t1")
    first = pager.page(Cursor.start(ListQuery(status="FAILED")))
    assert names(first) == [f"job-{i}" for i in range(90, 96)]

    # Ten new jobs: job-95 is now on the second API page.
    fresh = [new_job(i, "FAILED") for i in range(10, 0, -1)]
    expect_list(stubber, fresh + jobs[:90], next_token="t1")
    expect_list(stubber, jobs[90:190], token="t1", next_token="t2")
    second = pager.page(first.next_cursor)
    assert names(second) == [f"job-{i}" for i in range(96, 102)]
    assert second.api_calls == 2


def test_the_next_api_page_may_start_with_the_last_job_shown(stubbed):
    gateway, stubber = stubbed
    statuses = ["COMPLETED"] * 95 + ["FAILED"] * 5 + ["COMPLETED"] * 5 + ["FAILED"] * 5
    jobs = [job(i, s) for i, s in enumerate(statuses)]
    pager = DeletionJobPager(gateway, page_size=5)
    expect_list(stubber, jobs[:100], next_token="t1")
    first = pager.page(Cursor.start(ListQuery(status="FAILED")))
    assert names(first)[-1] == "job-99" and first.next_cursor.api_token == "t1"

    expect_list(stubber, [jobs[99]] + jobs[100:], token="t1")  # one new job shifted job-99 along
    second = pager.page(first.next_cursor)
    assert names(second) == [f"job-{i}" for i in range(105, 110)]


def test_jobs_created_in_the_same_instant_across_an_api_page_boundary_are_each_shown_once(stubbed):
    gateway, stubber = stubbed
    jobs = [job(i, "FAILED") for i in range(8)]
    for item in jobs[2:6]:  # job-2..job-5 share one creation time; AWS's order among them is its own
        item["creationDateTime"] = T0 - timedelta(minutes=2)
    jobs[2:6] = [jobs[4], jobs[2], jobs[5], jobs[3]]
    pager = DeletionJobPager(gateway, page_size=3, api_page_size=4)

    def expect(items, token=None, next_token=None):
        params = {"maxResults": 4, **({"nextToken": token} if token else {})}
        stubber.add_response("list_data_deletion_jobs",
                             {"dataDeletionJobs": items, **({"nextToken": next_token} if next_token else {})}, params)

    expect(jobs[:4], next_token="t1")
    first = pager.page(Cursor.start(ListQuery()))
    expect(jobs[:4], next_token="t1")
    expect(jobs[4:], token="t1")
    second = pager.page(first.next_cursor)
    expect(jobs[4:], token="t1")
    third = pager.page(second.next_cursor)
    shown = names(first) + names(second) + names(third)
    assert shown == [j["jobName"] for j in jobs]


def test_a_continue_after_the_call_budget_resumes_after_the_last_job_scanned(stubbed):
    gateway, stubber = stubbed
    jobs = api_pages(["COMPLETED"] * 200 + ["FAILED"] * 3)
    pager = DeletionJobPager(gateway, page_size=10, max_calls=1)
    expect_list(stubber, jobs[0], next_token="t1")
    partial = pager.page(Cursor.start(ListQuery(status="FAILED")))
    assert partial.partial and partial.next_cursor.after == after(99)

    # Five new jobs push job-95..99 onto the page Continue reads: they are not scanned again.
    expect_list(stubber, jobs[0][95:] + jobs[1][:95], token="t1", next_token="t2")
    again = pager.page(partial.next_cursor)
    assert again.scanned == 95


def test_a_page_built_from_shared_api_pages_carries_their_read_time_and_costs_no_call():
    """With the page cache, a page built 12 s after its API pages were read says so (Page.read_at, data_age)."""
    from services.aws.page_cache import JobPageCache

    seconds = [1000.0]
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    gateway = PersonalizeGateway(client, page_cache=JobPageCache(15, clock=lambda: seconds[0]))
    first_page, second_page = api_pages(["FAILED" if i % 10 == 0 else "COMPLETED" for i in range(200)])
    built = [T0]
    pager = DeletionJobPager(gateway, page_size=15, now=lambda: built[0])
    with Stubber(client) as stubber:
        expect_list(stubber, first_page, next_token="t2")
        expect_list(stubber, second_page, token="t2")
        page = pager.page(Cursor.start(ListQuery(status="FAILED")))
        stubber.assert_no_pending_responses()
    assert page.api_calls == 2 and page.read_at is not None
    assert page.read_at.tzinfo is not None

    # 12 s later, a second person: the same two API pages, from the cache; the page says how old they are.
    seconds[0] += 12
    built[0] = page.read_at + timedelta(seconds=12)
    with Stubber(client):
        again = pager.page(Cursor.start(ListQuery(status="FAILED")))
    assert [j.arn for j in again.jobs] == [j.arn for j in page.jobs]
    assert again.read_at == page.read_at and again.data_age == timedelta(seconds=12)

"""DeletionJobPager against botocore's Stubber: calls are checked against the real Personalize model."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from services.cursor import Cursor, ListQuery
from services.errors import AwsThrottled, ListExpired
from services.paging import DeletionJobPager
from services.personalize import CLIENT_CONFIG, PersonalizeGateway
from tests.personalize_stubs import expect_list

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
    assert page.next_cursor.api_token is None and page.next_cursor.offset == 10
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
    assert (first.next_cursor.api_token, first.next_cursor.offset) == ("t1", 5)

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
    assert (page.next_cursor.api_token, page.next_cursor.offset) == ("t1", 0)


def test_call_budget_stops_early_and_offers_continue(stubbed):
    gateway, stubber = stubbed
    pages = api_pages(["COMPLETED"] * 300 + ["FAILED"])
    for index in range(2):
        expect_list(stubber, pages[index], token=f"t{index}" if index else None, next_token=f"t{index + 1}")
    page = DeletionJobPager(gateway, page_size=10, max_calls=2).page(Cursor.start(ListQuery(status="FAILED")))
    assert page.partial and page.jobs == [] and page.scanned == 200 and page.api_calls == 2
    assert (page.next_cursor.api_token, page.next_cursor.offset) == ("t2", 0)


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

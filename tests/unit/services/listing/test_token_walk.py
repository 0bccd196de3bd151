"""A nextToken that repeats one already used in the same walk is a malformed answer, not one more page (a loop)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from services.aws.personalize import CLIENT_CONFIG, MAX_GROUP_PAGES, PersonalizeGateway
from services.aws.token_walk import TokenWalk
from services.errors import AwsMalformedResponse
from services.listing.paging import DeletionJobPager
from services.models import Cursor, ListQuery
from tests.helpers.personalize_stubs import expect_list
from tests.unit.services.listing.test_paging import job

GROUP_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/g"


@pytest.fixture
def stubbed():
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    with Stubber(client) as stubber:
        yield PersonalizeGateway(client), stubber
        stubber.assert_no_pending_responses()


def test_a_walk_follows_new_tokens_and_refuses_a_repeat_or_its_start_token(caplog):
    walk = TokenWalk("list_data_deletion_jobs", "t0")
    assert walk.follow("t1") == "t1"
    assert walk.follow(None) is None
    with pytest.raises(AwsMalformedResponse):
        walk.follow("t1")
    with pytest.raises(AwsMalformedResponse):
        TokenWalk("list_data_deletion_jobs", "t0").follow("t0")
    assert "repeats" in caplog.text and "list_data_deletion_jobs" in caplog.text


def groups_page(i: int, next_token: str | None) -> dict:
    answer = {"datasetGroups": [{"name": f"g{i}", "datasetGroupArn": f"{GROUP_ARN}{i}"}]}
    if next_token:
        answer["nextToken"] = next_token
    return answer


def test_list_dataset_groups_stops_at_a_repeated_token(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("list_dataset_groups", groups_page(0, "again"), {"maxResults": 100})
    stubber.add_response("list_dataset_groups", groups_page(1, "again"), {"maxResults": 100, "nextToken": "again"})
    with pytest.raises(AwsMalformedResponse):
        gateway.list_dataset_groups()


def test_list_dataset_groups_is_bounded_even_when_every_token_is_new(stubbed):
    gateway, stubber = stubbed
    for i in range(MAX_GROUP_PAGES):
        params = {"maxResults": 100} | ({"nextToken": f"t{i}"} if i else {})
        stubber.add_response("list_dataset_groups", groups_page(i, f"t{i + 1}"), params)
    with pytest.raises(AwsMalformedResponse):
        gateway.list_dataset_groups()


def test_the_pager_stops_at_a_repeated_token(stubbed):
    gateway, stubber = stubbed
    expect_list(stubber, [job(0, "COMPLETED")], next_token="again")
    expect_list(stubber, [job(0, "COMPLETED")], token="again", next_token="again")
    pager = DeletionJobPager(gateway, page_size=10, max_calls=50)
    with pytest.raises(AwsMalformedResponse):
        pager.page(Cursor.start(ListQuery(status="FAILED")))

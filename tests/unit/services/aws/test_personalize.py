"""PersonalizeGateway: client configuration, error mapping, call scopes and the per-request deadline."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from services import errors
from services.aws.dataset_groups import DatasetGroupResolver
from services.aws.personalize import CLIENT_CONFIG, PersonalizeGateway
from services.models import DatasetGroup
from tests.helpers.raw_http import RawAnswerServer


def test_client_uses_standard_retries_short_timeouts_and_boto3_endpoint_variable(monkeypatch, make_settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    from config import Settings

    settings = Settings(_env_file=None, slack_bot_token="x", slack_signing_secret="y")
    assert settings.aws_region == "eu-west-1"
    gateway = PersonalizeGateway.from_settings(settings)
    config = gateway.client.meta.config
    # botocore reads `max_attempts` as retries after the first try: 4 HTTP attempts in all.
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert gateway.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert gateway.client.meta.region_name == "eu-west-1"
    assert not gateway.client.can_paginate("list_data_deletion_jobs")


# What the gateway sends: pages of 100, and the job it describes. The Stubber checks every call against them.
LIST_PAGE = {"maxResults": 100}
LIST_GROUPS_PAGE = {"maxResults": 100}


@pytest.fixture
def stubbed():
    """A gateway on a Stubber'd client; every queued answer must have been asked for by the end of the test."""
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    with Stubber(client) as stubber:
        yield PersonalizeGateway(client), stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("InvalidInputException", errors.AwsInvalidInput),
        ("ResourceNotFoundException", errors.AwsResourceNotFound),
        ("AccessDeniedException", errors.AwsAccessDenied),
        ("ThrottlingException", errors.AwsThrottled),
        ("ExpiredTokenException", errors.AwsCredentialsError),
        ("InvalidNextTokenException", errors.ListExpired),
        ("SomethingNew", errors.AwsServiceError),
    ],
)
def test_error_codes_map_to_domain_errors_and_log_the_request_id(stubbed, caplog, code, error_type):
    gateway, stubber = stubbed
    stubber.add_client_error("list_data_deletion_jobs", code, "message", response_meta={"RequestId": "rid-42"},
                             expected_params=LIST_PAGE)
    with pytest.raises(error_type):
        gateway.list_jobs_page()
    if error_type is not errors.ListExpired:
        assert "rid-42" in caplog.text and code in caplog.text


def test_missing_credentials_is_a_credentials_error(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    client = boto3.session.Session().client("personalize", region_name="us-east-1", config=CLIENT_CONFIG,
                                            endpoint_url="http://127.0.0.1:9")
    with pytest.raises(errors.AwsCredentialsError):
        PersonalizeGateway(client).list_jobs_page()


def test_unreachable_endpoint_is_unreachable(monkeypatch):
    client = boto3.client("personalize", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          config=CLIENT_CONFIG.merge(__import__("botocore.config").config.Config(
                              retries={"mode": "standard", "max_attempts": 1})))
    with pytest.raises(errors.AwsUnreachable):
        PersonalizeGateway(client).list_jobs_page()


def test_scope_counts_calls_and_request_ids(stubbed):
    gateway, stubber = stubbed
    for _ in range(2):
        stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": [], "ResponseMetadata": {
            "RequestId": "rid", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}}, LIST_PAGE)
    with gateway.scope() as scope:
        gateway.list_jobs_page()
        gateway.list_jobs_page()
    assert scope.calls == 2
    assert gateway.current_scope() is None


def test_no_call_starts_after_the_deadline(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": []}, LIST_PAGE)
    with gateway.scope(deadline_seconds=0.000001) as scope:
        gateway.list_jobs_page()  # the first call of a request always goes
        with pytest.raises(errors.AwsTimeout):
            gateway.list_jobs_page()
    assert scope.calls == 1


# ---- malformed HTTP 200 answers (issue 8, item 2) ------------------------------------------------------------

META = {"RequestId": "rid-200", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}
JOB = {
    "dataDeletionJobArn": "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j1",
    "datasetGroupArn": "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed",
    "jobName": "j1",
    "status": "FAILED",
    "creationDateTime": datetime(2026, 11, 1, tzinfo=UTC),
}


def without(field: str) -> dict:
    return {k: v for k, v in JOB.items() if k != field}


@pytest.mark.parametrize(
    "answer",
    [
        {},  # what botocore returns for an empty, HTML or truncated body
        {"nextToken": "t1"},
        {"dataDeletionJobs": [without("dataDeletionJobArn")]},
        {"dataDeletionJobs": [JOB, without("status")]},
        {"dataDeletionJobs": [without("creationDateTime")]},
        {"dataDeletionJobs": [without("datasetGroupArn")]},
        {"dataDeletionJobs": [{**JOB, "dataDeletionJobArn": ""}]},
    ],
)
def test_a_200_without_what_the_bot_needs_is_an_error_logged_once_with_the_request_id(stubbed, caplog, answer):
    gateway, stubber = stubbed
    stubber.add_response("list_data_deletion_jobs", {**answer, "ResponseMetadata": META}, LIST_PAGE)
    with pytest.raises(errors.AwsMalformedResponse) as caught:
        gateway.list_jobs_page()
    assert caught.value.request_id == "rid-200"
    assert isinstance(caught.value, errors.AwsServiceError), "answered with the usual AWS-error text"
    logged = [r for r in caplog.records if r.name == "services.aws.personalize" and "rid-200" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelname == "ERROR" and not logged[0].exc_info
    assert "list_data_deletion_jobs" in logged[0].getMessage()


def test_an_empty_list_is_a_well_formed_answer(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": []}, LIST_PAGE)
    page = gateway.list_jobs_page()
    assert page.jobs == [] and page.next_token is None


@pytest.mark.parametrize("answer", [{}, {"datasetGroups": [{"name": "media-feed"}]},
                                    {"datasetGroups": [{"datasetGroupArn": JOB["datasetGroupArn"]}]}])
def test_a_malformed_list_dataset_groups_answer_is_an_error(stubbed, answer):
    gateway, stubber = stubbed
    stubber.add_response("list_dataset_groups", answer, LIST_GROUPS_PAGE)
    with pytest.raises(errors.AwsMalformedResponse):
        gateway.list_dataset_groups()


def test_describe_dataset_group_says_whether_the_group_exists_and_a_typo_is_no_error_in_the_log(stubbed, caplog):
    caplog.set_level(logging.INFO, logger="services.aws.personalize")
    gateway, stubber = stubbed
    arn = JOB["datasetGroupArn"]
    stubber.add_response("describe_dataset_group", {"datasetGroup": {"name": "media-feed", "datasetGroupArn": arn}},
                         expected_params={"datasetGroupArn": arn})
    stubber.add_client_error("describe_dataset_group", "ResourceNotFoundException", "not found",
                             expected_params={"datasetGroupArn": arn + "x"})
    assert gateway.describe_dataset_group(arn) == DatasetGroup("media-feed", arn)
    assert gateway.describe_dataset_group(arn + "x") is None
    stubber.assert_no_pending_responses()
    assert [r.levelname for r in caplog.records if r.name == "services.aws.personalize"] == ["INFO"]


@pytest.mark.parametrize("answer", [{}, {"datasetGroup": {"name": "media-feed"}}])
def test_a_malformed_describe_dataset_group_answer_is_an_error(stubbed, answer):
    gateway, stubber = stubbed
    stubber.add_response("describe_dataset_group", answer)
    with pytest.raises(errors.AwsMalformedResponse):
        gateway.describe_dataset_group(JOB["datasetGroupArn"])


@pytest.mark.parametrize("answer", [{}, {"dataDeletionJob": without("status")}])
def test_a_malformed_describe_answer_is_an_error(stubbed, answer):
    gateway, stubber = stubbed
    stubber.add_response("describe_data_deletion_job", answer, {"dataDeletionJobArn": JOB["dataDeletionJobArn"]})
    with pytest.raises(errors.AwsMalformedResponse):
        gateway.describe_job(JOB["dataDeletionJobArn"])


def test_a_malformed_list_dataset_groups_answer_is_not_cached(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("list_dataset_groups", {}, LIST_GROUPS_PAGE)
    stubber.add_response("list_dataset_groups", {"datasetGroups": [{"name": "media-feed",
                                                                    "datasetGroupArn": JOB["datasetGroupArn"]}]},
                         LIST_GROUPS_PAGE)
    resolver = DatasetGroupResolver(gateway)
    with pytest.raises(errors.AwsMalformedResponse):
        resolver.resolve("media-feed")
    assert resolver.resolve("media-feed").arn == JOB["datasetGroupArn"], "asked AWS again, not a cached empty list"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"dataDeletionJobs":[{"dataDeletionJobArn":"arn:aws:person',
        b'{"dataDeletionJobs":"none"}',
        b"[1, 2]",
        b'{"dataDeletionJobs":[{"creationDateTime":"yesterday"}]}',
        b'{"dataDeletionJobs":[], "nextToken": 7}',
        b'{"dataDeletionJobs":{}}',
        b'{"dataDeletionJobs":""}',
        b'{"dataDeletionJobs":{"a": 1}}',
        b'{"dataDeletionJobs":0}',
    ],
)
def test_any_unusable_200_body_over_http_is_a_malformed_answer(caplog, body):
    """Over HTTP, so botocore's own parser sees the body: some it turns into {}, some make it raise."""
    with RawAnswerServer(body, request_id="rid-http") as server:
        client = boto3.client("personalize", region_name="us-east-1", endpoint_url=server.url, config=CLIENT_CONFIG,
                              aws_access_key_id="x", aws_secret_access_key="x")
        with pytest.raises(errors.AwsMalformedResponse) as caught:
            PersonalizeGateway(client).list_jobs_page()
    assert caught.value.request_id == "rid-http"
    logged = [r for r in caplog.records if r.name == "services.aws.personalize" and "rid-http" in r.getMessage()]
    assert len(logged) == 1 and not logged[0].exc_info
    assert server.requests == 1, "a 200 is not retried"


@pytest.mark.parametrize(
    "body", [b'{"datasetGroups":{}}', b'{"datasetGroups":""}', b'{"datasetGroups":[], "nextToken": {}}']
)
def test_a_list_dataset_groups_member_of_the_wrong_json_type_is_malformed_not_empty(body):
    """botocore coerces these to [] (a cached 'no groups'); the raw body's shape is checked before it parses."""
    with RawAnswerServer(body, request_id="rid-groups") as server:
        client = boto3.client("personalize", region_name="us-east-1", endpoint_url=server.url, config=CLIENT_CONFIG,
                              aws_access_key_id="x", aws_secret_access_key="x")
        with pytest.raises(errors.AwsMalformedResponse) as caught:
            PersonalizeGateway(client).list_dataset_groups()
    assert caught.value.request_id == "rid-groups"

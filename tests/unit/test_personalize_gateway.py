"""PersonalizeGateway: client configuration, error mapping, call scopes and the per-request deadline."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from services import errors
from services.personalize import CLIENT_CONFIG, PersonalizeGateway


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


@pytest.fixture
def stubbed():
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    with Stubber(client) as stubber:
        yield PersonalizeGateway(client), stubber


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
    stubber.add_client_error("list_data_deletion_jobs", code, "message", response_meta={"RequestId": "rid-42"})
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
            "RequestId": "rid", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}})
    with gateway.scope() as scope:
        gateway.list_jobs_page()
        gateway.list_jobs_page()
    assert scope.calls == 2
    assert gateway.current_scope() is None


def test_no_call_starts_after_the_deadline(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": []})
    with gateway.scope(deadline_seconds=0.000001) as scope:
        gateway.list_jobs_page()  # the first call of a request always goes
        with pytest.raises(errors.AwsTimeout):
            gateway.list_jobs_page()
    assert scope.calls == 1

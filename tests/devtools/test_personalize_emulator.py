"""PersonalizeEmulator answers a real boto3 client the way Amazon Personalize does."""

from __future__ import annotations

import itertools
import json
import string
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError, ParamValidationError, ReadTimeoutError
from botocore.retries import standard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.personalize_emulator import PersonalizeEmulator

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_group_numbers = itertools.count()


def list_all(client, **kwargs) -> tuple[list[dict], list[str]]:
    """Every job by following nextToken (botocore has no paginator for this call)."""
    jobs, tokens = [], []
    while True:
        page = client.list_data_deletion_jobs(**kwargs)
        jobs += page["dataDeletionJobs"]
        if "nextToken" not in page:
            return jobs, tokens
        tokens.append(page["nextToken"])
        kwargs["nextToken"] = page["nextToken"]


def error_of(excinfo) -> dict:
    return excinfo.value.response["Error"]


@pytest.fixture
def group(emulator):
    return emulator.add_dataset_group("media-feed")


def test_pages_through_250_jobs_newest_first(emulator, personalize, group):
    for i in range(250):
        emulator.add_job(group, status="COMPLETED", created=NOW - timedelta(hours=i * 7 % 250))

    jobs, tokens = list_all(personalize, datasetGroupArn=group, maxResults=100)

    assert len(tokens) == 2
    assert jobs == emulator.jobs(group)
    assert len({j["dataDeletionJobArn"] for j in jobs}) == 250
    created = [j["creationDateTime"] for j in jobs]
    assert created == sorted(created, reverse=True)


def test_ties_on_creation_time_put_the_newest_inserted_first(emulator, personalize, group):
    first = emulator.add_job(group, status="COMPLETED", created=NOW, name="first")
    second = emulator.add_job(group, status="COMPLETED", created=NOW, name="second")

    jobs = personalize.list_data_deletion_jobs()["dataDeletionJobs"]

    assert [j["dataDeletionJobArn"] for j in jobs] == [second, first]


def test_summary_fields_match_the_model(emulator, personalize, group):
    emulator.add_job(group, status="FAILED", created=NOW, name="gdpr-1", failure_reason="Access denied")
    emulator.add_job(group, status="COMPLETED", created=NOW - timedelta(days=1), name="gdpr-0")

    failed, completed = personalize.list_data_deletion_jobs(datasetGroupArn=group)["dataDeletionJobs"]

    assert failed == {
        "dataDeletionJobArn": "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/gdpr-1",
        "datasetGroupArn": group,
        "jobName": "gdpr-1",
        "status": "FAILED",
        "creationDateTime": NOW,
        "lastUpdatedDateTime": NOW,
        "failureReason": "Access denied",
    }
    assert "failureReason" not in completed


def test_datetimes_are_aware_and_equal_the_seeded_instants(emulator, personalize, group):
    emulator.add_job(group, status="PENDING", created=datetime(2026, 1, 2, 3, 4, 5, 678901))

    job = personalize.list_data_deletion_jobs()["dataDeletionJobs"][0]

    # Naive input is UTC; AWS precision is milliseconds.
    assert job["creationDateTime"] == datetime(2026, 1, 2, 3, 4, 5, 679000, tzinfo=UTC)
    assert job["creationDateTime"].tzinfo is not None


def test_tokens_can_be_1500_ascii_characters():
    with PersonalizeEmulator(token_length=1500) as emu:
        group = emu.add_dataset_group("media-feed")
        emu.seed_bulk(group, 250, now=NOW)
        client = boto3.client("personalize", endpoint_url=emu.url, region_name="us-east-1")

        jobs, tokens = list_all(client, datasetGroupArn=group, maxResults=100)

    assert len(jobs) == 250
    assert [len(t) for t in tokens] == [1500, 1500]
    assert all(set(t) <= set(string.printable) - set(string.whitespace) for t in tokens)


def test_a_token_can_be_read_again(emulator, personalize, group):
    emulator.seed_bulk(group, 30, now=NOW)
    token = personalize.list_data_deletion_jobs(maxResults=10)["nextToken"]

    first = personalize.list_data_deletion_jobs(maxResults=10, nextToken=token)
    again = personalize.list_data_deletion_jobs(maxResults=10, nextToken=token)

    assert first["dataDeletionJobs"] == again["dataDeletionJobs"]
    assert first["nextToken"] == again["nextToken"]


@pytest.mark.parametrize("token", ["not-a-token", "x" * 1500, ""])
def test_an_unknown_token_is_rejected(emulator, personalize, group, token):
    with pytest.raises(ClientError) as excinfo:
        personalize.list_data_deletion_jobs(nextToken=token)

    assert error_of(excinfo)["Code"] == "InvalidNextTokenException"


def test_a_token_is_bound_to_its_dataset_group(emulator, personalize):
    a = emulator.add_dataset_group("a")
    b = emulator.add_dataset_group("b")
    emulator.seed_bulk(a, 5, now=NOW)
    emulator.seed_bulk(b, 5, now=NOW)
    token = personalize.list_data_deletion_jobs(datasetGroupArn=a, maxResults=2)["nextToken"]

    for other in ({"datasetGroupArn": b}, {}):
        with pytest.raises(ClientError) as excinfo:
            personalize.list_data_deletion_jobs(nextToken=token, maxResults=2, **other)
        assert error_of(excinfo)["Code"] == "InvalidNextTokenException"


def test_a_token_is_bound_to_its_operation(emulator, personalize):
    for i in range(3):
        emulator.add_dataset_group(f"g{i}")
    token = personalize.list_dataset_groups(maxResults=1)["nextToken"]

    with pytest.raises(ClientError) as excinfo:
        personalize.list_data_deletion_jobs(nextToken=token)

    assert error_of(excinfo)["Code"] == "InvalidNextTokenException"


def test_max_results_out_of_range(emulator, personalize, group):
    # botocore checks only the model's minimum; the maximum is the server's to enforce.
    with pytest.raises(ClientError) as excinfo:
        personalize.list_data_deletion_jobs(maxResults=101)
    assert error_of(excinfo)["Code"] == "InvalidInputException"

    with pytest.raises(ParamValidationError):
        personalize.list_data_deletion_jobs(maxResults=0)


def test_unknown_and_malformed_dataset_groups(emulator, personalize, group):
    # The model lists only InvalidInputException and InvalidNextTokenException for ListDataDeletionJobs: a
    # well-formed ARN that names no group has no jobs. DescribeDatasetGroup is what says it does not exist.
    missing = group.replace("media-feed", "nope")
    answer = personalize.list_data_deletion_jobs(datasetGroupArn=missing)
    assert answer["dataDeletionJobs"] == [] and "nextToken" not in answer
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=missing)

    with pytest.raises(ClientError) as excinfo:
        personalize.list_data_deletion_jobs(datasetGroupArn="media-feed")
    assert error_of(excinfo)["Code"] == "InvalidInputException"


def test_errors_carry_code_message_and_request_id(emulator, personalize, group):
    with pytest.raises(personalize.exceptions.InvalidNextTokenException) as excinfo:
        personalize.list_data_deletion_jobs(nextToken="garbled")

    meta = excinfo.value.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 400
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-amzn-requestid"]
    assert error_of(excinfo)["Message"] == "The token is not valid."


def test_every_response_has_a_fresh_request_id(personalize, group):
    ids = {personalize.list_dataset_groups()["ResponseMetadata"]["RequestId"] for _ in range(3)}
    assert len(ids) == 3


def test_describe_data_deletion_job(emulator, personalize, group):
    arn = emulator.add_job(
        group,
        status="COMPLETED",
        created=NOW,
        updated=NOW + timedelta(hours=3),
        name="dsar-7",
        num_deleted=42,
        data_location="s3://acme-gdpr-requests/2026-11/users.csv",
        role_arn="arn:aws:iam::123456789012:role/Deleter",
    )

    job = personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"]

    assert job == {
        "jobName": "dsar-7",
        "dataDeletionJobArn": arn,
        "datasetGroupArn": group,
        "dataSource": {"dataLocation": "s3://acme-gdpr-requests/2026-11/users.csv"},
        "roleArn": "arn:aws:iam::123456789012:role/Deleter",
        "status": "COMPLETED",
        "numDeleted": 42,
        "creationDateTime": NOW,
        "lastUpdatedDateTime": NOW + timedelta(hours=3),
    }
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_data_deletion_job(dataDeletionJobArn=arn + "-gone")


def test_dataset_groups_list_and_describe(emulator, personalize):
    arns = [emulator.add_dataset_group(f"group-{i}", created=NOW - timedelta(days=i)) for i in range(5)]

    names, token = [], None
    while True:
        page = personalize.list_dataset_groups(maxResults=2, **({"nextToken": token} if token else {}))
        names += [g["name"] for g in page["datasetGroups"]]
        token = page.get("nextToken")
        if token is None:
            break
    described = personalize.describe_dataset_group(datasetGroupArn=arns[3])["datasetGroup"]

    assert names == [f"group-{i}" for i in range(5)]
    assert described["name"] == "group-3"
    assert described["status"] == "ACTIVE"
    assert emulator.dataset_groups()["group-3"] == arns[3] == described["datasetGroupArn"]
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=arns[0] + "x")


def test_no_paginator_ships_for_deletion_jobs(personalize):
    assert personalize.can_paginate("list_data_deletion_jobs") is False
    assert personalize.can_paginate("list_dataset_groups") is True


def test_paginator_for_dataset_groups_works(emulator, personalize):
    for i in range(7):
        emulator.add_dataset_group(f"g{i}")

    pages = list(personalize.get_paginator("list_dataset_groups").paginate(PaginationConfig={"PageSize": 3}))

    assert [len(p["datasetGroups"]) for p in pages] == [3, 3, 1]


def test_throttling_twice_is_absorbed_by_standard_retries(emulator, make_personalize, group, monkeypatch):
    # Real backoff would sleep up to 3 s; the retry decision is what is under test.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    client = make_personalize(retries={"mode": "standard", "max_attempts": 3})
    emulator.inject_error("ListDataDeletionJobs", "ThrottlingException", message="Rate exceeded", times=2)

    response = client.list_data_deletion_jobs(datasetGroupArn=group)

    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert emulator.call_count("ListDataDeletionJobs") == 3


@pytest.mark.parametrize(
    ("retries", "attempts"),
    [
        # Surprise: in a Config dict "max_attempts" counts *retries* (botocore adds one),
        # unlike AWS_MAX_ATTEMPTS and the config file; "total_max_attempts" counts attempts.
        ({"mode": "standard", "max_attempts": 3}, 4),
        ({"mode": "standard", "total_max_attempts": 3}, 3),
    ],
)
def test_throttling_beyond_max_attempts_surfaces(emulator, make_personalize, group, monkeypatch, retries, attempts):
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    client = make_personalize(retries=retries)
    emulator.inject_error("*", "ThrottlingException", times=10)

    with pytest.raises(ClientError) as excinfo:
        client.list_data_deletion_jobs()

    assert error_of(excinfo)["Code"] == "ThrottlingException"
    assert excinfo.value.response["ResponseMetadata"]["MaxAttemptsReached"] is True
    assert emulator.call_count() == attempts


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 400),
        ("ExpiredTokenException", 400),
        ("InvalidNextTokenException", 400),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
    ],
)
def test_injected_errors_reach_client_error(emulator, personalize, group, code, status):
    emulator.inject_error("ListDataDeletionJobs", code, status=status, message="boom")

    with pytest.raises(ClientError) as excinfo:
        personalize.list_data_deletion_jobs()

    assert error_of(excinfo) == {"Code": code, "Message": "boom"}
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert excinfo.value.response["ResponseMetadata"]["RequestId"]
    # Used up: the next call is answered normally.
    assert personalize.list_data_deletion_jobs()["dataDeletionJobs"] == []


@pytest.mark.parametrize("kind", ["empty", "html", "truncated"])
def test_an_injected_unparseable_200_reaches_boto3_as_an_empty_answer(emulator, personalize, group, kind):
    emulator.add_job(group, status="FAILED", created=NOW)
    emulator.inject_body("ListDataDeletionJobs", kind)

    broken = personalize.list_data_deletion_jobs()

    # What botocore makes of such a body: no error, no jobs. The bot must not read that as "no jobs".
    assert broken["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k for k in broken if k != "ResponseMetadata"} == set()
    assert len(personalize.list_data_deletion_jobs()["dataDeletionJobs"]) == 1, "used up after one answer"


def test_injected_error_targets_only_its_operation(emulator, personalize, group):
    emulator.inject_error("DescribeDatasetGroup", "AccessDeniedException")

    personalize.list_data_deletion_jobs()
    with pytest.raises(ClientError):
        personalize.describe_dataset_group(datasetGroupArn=group)


def test_calls_are_recorded_including_failed_ones(emulator, personalize, group):
    emulator.inject_error("*", "AccessDeniedException")
    with pytest.raises(ClientError):
        personalize.list_data_deletion_jobs(datasetGroupArn=group, maxResults=5)
    personalize.list_dataset_groups()

    assert emulator.calls == [
        ("ListDataDeletionJobs", {"datasetGroupArn": group, "maxResults": 5}),
        ("ListDatasetGroups", {}),
    ]
    assert emulator.call_count("ListDatasetGroups") == 1
    emulator.reset_calls()
    assert emulator.call_count() == 0


def test_unsigned_requests_are_rejected(emulator):
    client = boto3.client(
        "personalize",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        config=boto3.session.Config(signature_version=UNSIGNED),
    )

    with pytest.raises(ClientError) as excinfo:
        client.list_dataset_groups()

    assert error_of(excinfo)["Code"] == "MissingAuthenticationTokenException"


def test_unknown_operation(emulator):
    request = urllib.request.Request(
        emulator.url + "/",
        data=b"{}",
        method="POST",
        headers={
            "X-Amz-Target": "AmazonPersonalize.CreateDataDeletionJob",
            "Authorization": "AWS4-HMAC-SHA256 x",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)

    assert excinfo.value.code == 400
    assert excinfo.value.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert excinfo.value.headers["x-amzn-RequestId"]
    assert json.loads(excinfo.value.read())["__type"] == "UnknownOperationException"


def test_endpoint_from_environment(emulator, group, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", emulator.url)

    client = boto3.client("personalize", region_name="us-east-1")

    assert client.list_data_deletion_jobs(datasetGroupArn=group)["dataDeletionJobs"] == []
    assert emulator.call_count("ListDataDeletionJobs") == 1


def test_latency_trips_a_read_timeout_and_can_be_lifted(emulator, make_personalize, group):
    client = make_personalize(read_timeout=0.2, connect_timeout=1)
    emulator.hang(0.6)

    with pytest.raises(ReadTimeoutError):
        client.list_data_deletion_jobs()

    emulator.hang(0)
    assert client.list_data_deletion_jobs()["dataDeletionJobs"] == []


def test_held_answers_go_out_on_release_and_later_ones_at_once(emulator, make_personalize, group):
    client = make_personalize(read_timeout=60)
    emulator.hold()
    answers = []
    worker = threading.Thread(target=lambda: answers.append(client.list_data_deletion_jobs()), daemon=True)
    worker.start()
    while emulator.call_count() == 0:
        time.sleep(0.01)
    worker.join(0.3)
    assert worker.is_alive() and answers == [], "the answer is held"
    emulator.release()
    worker.join(30)
    assert [a["dataDeletionJobs"] for a in answers] == [[]]
    assert client.list_data_deletion_jobs()["dataDeletionJobs"] == [], "not held once released"


def test_set_job_changes_what_the_api_returns(emulator, personalize, group):
    arn = emulator.add_job(group, status="PENDING", created=NOW)

    emulator.set_job(
        arn,
        status="FAILED",
        failure_reason="Input file contains 3 rows with a missing USER_ID column",
        updated=NOW + timedelta(hours=1),
    )

    job = personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"]
    assert (job["status"], job["lastUpdatedDateTime"]) == ("FAILED", NOW + timedelta(hours=1))
    assert emulator.jobs(status="FAILED")[0]["failureReason"].startswith("Input file")
    with pytest.raises(TypeError):
        emulator.set_job(arn, created=NOW)


def test_auto_names_are_unique_and_valid(emulator, group):
    arns = [emulator.add_job(group, status="PENDING", created=NOW) for _ in range(50)]
    names = [j["jobName"] for j in emulator.jobs()]

    assert len(set(arns)) == 50
    assert all(1 <= len(n) <= 63 for n in names)
    with pytest.raises(ValueError):
        emulator.add_job(group, status="PENDING", created=NOW, name=names[0])


def test_seed_realistic_is_deterministic_and_varied():
    def seeded():
        with PersonalizeEmulator() as emu:
            groups = emu.seed_realistic(seed=3, now=NOW)
            return groups, emu.jobs()

    groups, jobs = seeded()
    assert seeded() == (groups, jobs)

    assert len(jobs) == 300
    assert set(groups) == {"media-feed", "retail-recs", "news-personalization", "video-ranking"}
    statuses = Counter(j["status"] for j in jobs)
    assert set(statuses) == {"PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"}
    assert statuses["COMPLETED"] > statuses["FAILED"] >= 10
    assert all(NOW - timedelta(days=61) <= j["creationDateTime"] <= NOW for j in jobs)
    assert all(j["creationDateTime"] <= j["lastUpdatedDateTime"] <= NOW for j in jobs)
    reasons = [j["failureReason"] for j in jobs if j["status"] == "FAILED"]
    assert any("<!channel>" in r and "&" in r for r in reasons)
    assert any("s3:GetObject" in r for r in reasons)
    pending = Counter(j["datasetGroupArn"] for j in jobs if j["status"] == "PENDING")
    assert max(pending.values()) <= 5
    active = [j for j in jobs if j["status"] in ("PENDING", "IN_PROGRESS")]
    assert all(NOW - j["creationDateTime"] < timedelta(days=1) for j in active)


def test_seed_bulk(emulator, group):
    emulator.seed_bulk(group, 1000, failed_every=10, now=NOW)

    jobs = emulator.jobs(group)
    assert len(jobs) == 1000
    assert Counter(j["status"] for j in jobs) == {"COMPLETED": 900, "FAILED": 100}
    assert jobs[0]["creationDateTime"] == NOW - timedelta(minutes=1)
    assert jobs[-1]["creationDateTime"] == NOW - timedelta(minutes=1000)


def test_stop_wakes_a_hanging_request(make_personalize, emulator):
    client = make_personalize(read_timeout=60)
    emulator.hang(60)
    outcome = []

    def call():
        try:
            client.list_dataset_groups()
        except Exception as err:  # whatever botocore makes of a dropped connection
            outcome.append(err)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    while emulator.call_count() == 0:
        time.sleep(0.01)

    emulator.stop()
    worker.join(10)

    assert not worker.is_alive(), "stop() left the request hanging"
    assert outcome


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=40), max_size=60),
    page_size=st.integers(min_value=1, max_value=100),
)
def test_paging_returns_every_job_once_in_order(emulator, personalize, offsets, page_size):
    group = emulator.add_dataset_group(f"g-{next(_group_numbers)}")
    for minutes in offsets:
        emulator.add_job(group, status="COMPLETED", created=NOW - timedelta(minutes=minutes))

    jobs, _ = list_all(personalize, datasetGroupArn=group, maxResults=page_size)

    assert [j["dataDeletionJobArn"] for j in jobs] == [j["dataDeletionJobArn"] for j in emulator.jobs(group)]


def test_advance_job_moves_a_job_on_as_personalize_does(emulator, personalize, group):
    arn = emulator.add_job(group, status="PENDING", created=NOW)
    describe = personalize.describe_data_deletion_job

    assert "numDeleted" not in describe(dataDeletionJobArn=arn)["dataDeletionJob"]
    emulator.advance_job(arn, "IN_PROGRESS", updated=NOW + timedelta(minutes=5))
    assert describe(dataDeletionJobArn=arn)["dataDeletionJob"]["status"] == "IN_PROGRESS"
    with pytest.raises(ValueError):
        emulator.advance_job(arn, "PENDING")
    with pytest.raises(ValueError):
        emulator.advance_job(arn, "COMPLETED")  # without its number
    emulator.advance_job(arn, "COMPLETED", num_deleted=42, updated=NOW + timedelta(hours=2))
    job = describe(dataDeletionJobArn=arn)["dataDeletionJob"]
    assert (job["status"], job["numDeleted"], job["lastUpdatedDateTime"]) == ("COMPLETED", 42, NOW + timedelta(hours=2))
    with pytest.raises(ValueError):
        emulator.advance_job(arn, "FAILED", failure_reason="too late")

    failing = emulator.add_job(group, status="PENDING", created=NOW)
    with pytest.raises(ValueError):
        emulator.advance_job(failing, "FAILED")  # without its reason
    emulator.advance_job(failing, "FAILED", failure_reason="The input file must be a CSV file")
    assert describe(dataDeletionJobArn=failing)["dataDeletionJob"]["failureReason"].endswith("CSV file")

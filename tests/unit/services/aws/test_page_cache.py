"""JobPageCache: ListDataDeletionJobs pages shared for LIST_CACHE_SECONDS, one call in flight per page, failures
never kept; and the gateway counting only real calls. Counts only, never wall-clock times."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from services import errors
from services.aws.page_cache import JobPageCache, page_key
from services.aws.personalize import CLIENT_CONFIG, PersonalizeGateway
from services.models import JobsPage
from tests.helpers.personalize_stubs import expect_list
from tests.helpers.waiting import wait_until

KEY = page_key("us-east-1", None, 100, None)
CREATED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Seconds:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetches:
    """A fetch that counts its calls and answers a new page each time (or raises what it is given)."""

    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.error = error

    def __call__(self) -> JobsPage:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return JobsPage(jobs=[], next_token=f"answer-{self.calls}")


@pytest.fixture
def seconds():
    return Seconds()


def test_a_page_is_shared_within_the_ttl_and_read_again_once_it_has_expired(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), Fetches()
    first = cache.get(KEY, fetch, wait_seconds=1)
    seconds.now += 14.9
    assert cache.get(KEY, fetch, wait_seconds=1) is first
    assert fetch.calls == 1
    seconds.now += 0.1
    assert cache.get(KEY, fetch, wait_seconds=1).next_token == "answer-2"
    assert fetch.calls == 2


def test_each_region_group_size_and_token_is_a_page_of_its_own(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), Fetches()
    keys = [KEY, page_key("eu-west-1", None, 100, None), page_key("us-east-1", "arn:group", 100, None),
            page_key("us-east-1", None, 20, None), page_key("us-east-1", None, 100, "token")]
    for key in keys * 2:
        cache.get(key, fetch, wait_seconds=1)
    assert fetch.calls == len(keys)
    assert page_key("us-east-1", "", 100, "") == KEY


def test_a_failed_call_is_not_kept_and_the_next_request_calls_again(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), Fetches(errors.AwsThrottled("slow down"))
    for _ in range(2):
        with pytest.raises(errors.AwsThrottled):
            cache.get(KEY, fetch, wait_seconds=1)
    assert fetch.calls == 2 and len(cache) == 0
    fetch.error = None
    cache.get(KEY, fetch, wait_seconds=1)
    assert fetch.calls == 3 and len(cache) == 1


def test_memory_is_bounded_oldest_pages_go_first(seconds):
    cache, fetch = JobPageCache(15, max_entries=3, clock=seconds), Fetches()
    for token in "abcd":
        cache.get(page_key("us-east-1", None, 100, token), fetch, wait_seconds=1)
    assert len(cache) == 3
    cache.get(page_key("us-east-1", None, 100, "a"), fetch, wait_seconds=1)
    assert fetch.calls == 5, "the oldest page was dropped and read again"
    cache.get(page_key("us-east-1", None, 100, "d"), fetch, wait_seconds=1)
    assert fetch.calls == 5


def test_expired_pages_are_dropped_when_another_is_kept(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), Fetches()
    for token in "abc":
        cache.get(page_key("us-east-1", None, 100, token), fetch, wait_seconds=1)
    seconds.now += 20
    cache.get(KEY, fetch, wait_seconds=1)
    assert len(cache) == 1


def test_a_cache_that_keeps_nothing_is_refused():
    with pytest.raises(ValueError):
        JobPageCache(0)


class HeldFetch:
    """A fetch that blocks until released, then answers (or raises `error`)."""

    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.started = threading.Event()
        self.go = threading.Event()
        self.error = error

    def __call__(self) -> JobsPage:
        self.calls += 1
        self.started.set()
        assert self.go.wait(60)
        if self.error is not None:
            raise self.error
        return JobsPage(jobs=[], next_token="shared")


def concurrently(cache: JobPageCache, fetch: HeldFetch, count: int, wait_seconds: float = 60) -> list:
    """`count` requests for KEY; the first leads, the rest wait for it; returns each page or error."""
    results: list = [None] * count

    def ask(index: int) -> None:
        try:
            results[index] = cache.get(KEY, fetch, wait_seconds=wait_seconds)
        except Exception as err:  # noqa: BLE001 - the test looks at what each request got
            results[index] = err

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(count)]
    threads[0].start()
    assert fetch.started.wait(60)
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: cache.waiting() == count - 1, what="every other request waiting for the call in flight")
    fetch.go.set()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_requests_for_one_page_wait_for_the_one_call_in_flight(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), HeldFetch()
    results = concurrently(cache, fetch, 20)
    assert fetch.calls == 1
    assert all(page is results[0] for page in results)
    assert cache.waiting() == 0


def test_every_waiter_gets_the_error_of_the_call_in_flight_and_nothing_is_kept(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), HeldFetch(errors.AwsThrottled("Rate exceeded", code="Throttling"))
    results = concurrently(cache, fetch, 10)
    assert fetch.calls == 1
    assert all(isinstance(err, errors.AwsThrottled) and err.code == "Throttling" for err in results)
    assert len({id(err) for err in results}) == 10, "each waiter raises an exception object of its own"
    assert len(cache) == 0


def test_a_waiter_gives_up_at_its_deadline_with_the_gateways_timeout(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), HeldFetch()
    leader = threading.Thread(target=cache.get, args=(KEY, fetch), kwargs={"wait_seconds": 60})
    leader.start()
    assert fetch.started.wait(60)
    try:
        with pytest.raises(errors.AwsTimeout):
            cache.get(KEY, fetch, wait_seconds=0)
    finally:
        fetch.go.set()
        leader.join(60)
    assert fetch.calls == 1 and cache.waiting() == 0


# ---- through the gateway (botocore Stubber) -------------------------------------------------------------------

JOB = {"dataDeletionJobArn": "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j",
       "datasetGroupArn": "arn:aws:personalize:us-east-1:123456789012:dataset-group/g", "jobName": "j",
       "status": "FAILED", "creationDateTime": CREATED}


class RecordedMetrics:
    def __init__(self):
        self.calls: list[str] = []

    def aws_call(self, operation, seconds, err=None):
        self.calls.append(operation)


@pytest.fixture
def cached(seconds):
    """A gateway with a page cache on a Stubber'd client, its metrics recorded."""
    client = boto3.client("personalize", region_name="us-east-1", config=CLIENT_CONFIG)
    metrics = RecordedMetrics()
    with Stubber(client) as stubber:
        yield PersonalizeGateway(client, metrics=metrics, page_cache=JobPageCache(15, clock=seconds)), stubber, metrics
        stubber.assert_no_pending_responses()


def test_a_shared_page_is_no_call_in_the_request_scope_nor_in_the_metrics(cached):
    gateway, stubber, metrics = cached
    expect_list(stubber, [JOB], next_token="t2")
    with gateway.scope() as first:
        page = gateway.list_jobs_page(shared=True)
    with gateway.scope() as second:
        again = gateway.list_jobs_page(shared=True)
    assert (first.calls, second.calls) == (1, 0)
    assert metrics.calls == ["list_data_deletion_jobs"]
    assert again is page and page.read_at is not None and page.read_at.tzinfo is not None


@pytest.mark.parametrize("bad_answer", [{}, {"dataDeletionJobs": [{"status": "FAILED"}]}])
def test_a_malformed_answer_is_an_error_and_not_kept(cached, bad_answer):
    gateway, stubber, metrics = cached
    stubber.add_response("list_data_deletion_jobs", bad_answer, {"maxResults": 100})
    expect_list(stubber, [JOB])
    with pytest.raises(errors.AwsMalformedResponse):
        gateway.list_jobs_page(shared=True)
    assert [job.name for job in gateway.list_jobs_page(shared=True).jobs] == ["j"]
    assert len(metrics.calls) == 2


def test_an_aws_error_is_not_kept(cached):
    gateway, stubber, _ = cached
    stubber.add_client_error("list_data_deletion_jobs", "ThrottlingException", "Rate exceeded",
                             expected_params={"maxResults": 100})
    expect_list(stubber, [JOB])
    with pytest.raises(errors.AwsThrottled):
        gateway.list_jobs_page(shared=True)
    assert len(gateway.list_jobs_page(shared=True).jobs) == 1


def test_list_cache_seconds_builds_the_cache_and_zero_builds_none(make_settings):
    assert PersonalizeGateway.from_settings(make_settings())._page_cache is not None
    assert PersonalizeGateway.from_settings(make_settings(list_cache_seconds=0))._page_cache is None


# ---- over HTTP, with the Personalize emulator --------------------------------------------------------------


def test_concurrent_identical_requests_over_http_make_one_call(emulator, make_personalize):
    group = emulator.add_dataset_group("bulk")
    emulator.seed_bulk(group, 250, failed_every=10)
    cache = JobPageCache(15)
    gateway = PersonalizeGateway(make_personalize(), page_cache=cache)
    emulator.reset_calls()
    emulator.hold()
    pages: list = []
    threads = [threading.Thread(target=lambda: pages.append(gateway.list_jobs_page(dataset_group_arn=group,
                                                                                   shared=True))) for _ in range(12)]
    threads[0].start()
    wait_until(lambda: emulator.call_count("ListDataDeletionJobs") == 1, what="the first call to reach AWS")
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: cache.waiting() == 11, what="the other requests waiting for it")
    emulator.release()
    for thread in threads:
        thread.join(60)
    assert len(pages) == 12 and all(page is pages[0] for page in pages) and len(pages[0].jobs) == 100
    assert emulator.call_count("ListDataDeletionJobs") == 1


def test_a_waiter_past_its_deadline_gets_a_timeout_while_the_call_goes_on(emulator, make_personalize):
    group = emulator.add_dataset_group("bulk")
    emulator.seed_bulk(group, 10)
    cache = JobPageCache(15)
    gateway = PersonalizeGateway(make_personalize(), page_cache=cache)
    emulator.reset_calls()
    emulator.hold()
    leader = threading.Thread(target=gateway.list_jobs_page, kwargs={"dataset_group_arn": group, "shared": True})
    leader.start()
    try:
        wait_until(lambda: emulator.call_count("ListDataDeletionJobs") == 1, what="the first call to reach AWS")
        with gateway.scope(deadline_seconds=0.01) as scope, pytest.raises(errors.AwsTimeout):
            wait_until(lambda: scope.time_left() < 0, what="the waiter's deadline to pass")
            gateway.list_jobs_page(dataset_group_arn=group, shared=True)
        assert scope.calls == 0
    finally:
        emulator.release()
        leader.join(60)
    assert emulator.call_count("ListDataDeletionJobs") == 1 and len(cache) == 1


def test_the_digest_and_exports_read_aws_now_not_a_page_someone_else_read(emulator, make_personalize):
    """A failure that happened after a listing read the page is in the very next digest read (no `shared`)."""
    group = emulator.add_dataset_group("bulk")
    emulator.seed_bulk(group, 10)
    gateway = PersonalizeGateway(make_personalize(), page_cache=JobPageCache(300))
    listed = gateway.list_jobs_page(dataset_group_arn=group, shared=True)
    late = emulator.add_job(group, status="FAILED", created=datetime.now(UTC), failure_reason="after the listing")
    emulator.reset_calls()
    # Shared: the page as it was.
    assert gateway.list_jobs_page(dataset_group_arn=group, shared=True).jobs == listed.jobs
    fresh = gateway.list_jobs_page(dataset_group_arn=group)
    assert late in [job.arn for job in fresh.jobs]
    assert emulator.call_count("ListDataDeletionJobs") == 1



class OutOfTimeFirst(HeldFetch):
    """The first call ends on its own caller's deadline; any later call answers."""

    def __call__(self) -> JobsPage:
        self.calls += 1
        if self.calls > 1:
            return JobsPage(jobs=[], next_token="read by a waiter")
        self.started.set()
        assert self.go.wait(60)
        raise errors.DeadlineSpent("list_data_deletion_jobs: deadline passed before the call")


def test_a_call_that_ended_on_its_callers_deadline_is_made_again_by_a_waiter_with_time_left(seconds):
    cache, fetch = JobPageCache(15, clock=seconds), OutOfTimeFirst()
    results = concurrently(cache, fetch, 5)
    assert isinstance(results[0], errors.DeadlineSpent)
    assert [page.next_token for page in results[1:]] == ["read by a waiter"] * 4
    assert fetch.calls == 2

"""ExportService: which jobs an export holds, the bound on Describe calls, refusals before any Describe call,
no file with gaps, one export per person, and every AWS call counted for the audit line."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.access import AccessPolicy
from services.errors import (
    AccessRefused,
    AwsAccessDenied,
    AwsMalformedResponse,
    AwsThrottled,
    ExportAlreadyRunning,
    ExportIncomplete,
    ExportTooLarge,
)
from services.export.csv_export import COLUMNS
from services.export.service import ExportService
from services.listing.command_parser import ExportCommand
from services.models import DatasetGroup, DeletionJob, DeletionJobDetails, ExportFilter, JobsPage

NOW = datetime(2026, 11, 30, 10, 15, 0, tzinfo=UTC)
MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
RETAIL = "arn:aws:personalize:us-east-1:123456789012:dataset-group/retail-recs"


def job(i: int, *, hours_ago: float, status: str = "COMPLETED", group: str = MEDIA) -> DeletionJob:
    created = NOW - timedelta(hours=hours_ago)
    return DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}", name=f"job-{i}",
                       dataset_group_arn=group, status=status, created=created, updated=created)


def hourly(n: int, **kwargs) -> list[DeletionJob]:
    """n jobs an hour apart, newest (created an hour ago) first."""
    return [job(i, hours_ago=i + 1, **kwargs) for i in range(n)]


class FakeGateway:
    """The gateway's listing and Describe calls over a list of jobs (newest first), with call scopes like its own.

    While `gate` is closed, Describe calls wait in flight, so a test sees the most the service lets run at once.
    """

    def __init__(self, jobs: list[DeletionJob], *, page_size: int = 100):
        self.jobs = jobs
        self.page_size = page_size
        self.gate = threading.Event()
        self.gate.set()
        self.failures: dict[str, Exception] = {}
        self.list_params: list[dict] = []
        self.described: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self._cond = threading.Condition()
        self._local = threading.local()

    @contextmanager
    def scope(self, deadline_seconds=None):
        scope = SimpleNamespace(calls=0, attempts=0, request_ids=[])
        previous = getattr(self._local, "scope", None)
        self._local.scope = scope
        try:
            yield scope
        finally:
            self._local.scope = previous

    def current_scope(self):
        return getattr(self._local, "scope", None)

    def _count(self, request_id: str) -> None:
        scope = self.current_scope()
        if scope is not None:
            scope.calls += 1
            scope.attempts += 1
            scope.request_ids.append(request_id)

    def list_jobs_page(self, *, dataset_group_arn=None, next_token=None, max_results=100, shared=True) -> JobsPage:
        self._count(f"list-{len(self.list_params)}")
        self.list_params.append({"group": dataset_group_arn, "token": next_token})
        jobs = [j for j in self.jobs if dataset_group_arn is None or j.dataset_group_arn == dataset_group_arn]
        start = int(next_token or 0)
        end = start + self.page_size
        return JobsPage(jobs=jobs[start:end], next_token=str(end) if end < len(jobs) else None)

    def describe_job(self, arn: str) -> DeletionJobDetails:
        self._count(f"describe-{arn}")
        with self._cond:
            self.described.append(arn)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._cond.notify_all()
        self.gate.wait(60)
        try:
            if arn in self.failures:
                raise self.failures[arn]
            found = next(j for j in self.jobs if j.arn == arn)
            return DeletionJobDetails(job=found, num_deleted=int(arn.rsplit("-", 1)[1]), data_location="s3://b/k",
                                      role_arn="arn:aws:iam::123456789012:role/R")
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def wait_until(self, condition) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: condition(self), 30), "timed out"


class FakeResolver:
    def resolve(self, name_or_arn: str) -> DatasetGroup:
        arn = name_or_arn if name_or_arn.startswith("arn:") else MEDIA.replace("media-feed", name_or_arn)
        return DatasetGroup(name=arn.rsplit("/", 1)[1], arn=arn)


class FakeLeases:
    def __init__(self):
        self.held: dict[str, str] = {}
        self.released: list[str] = []
        self.renewed: list[str] = []

    def claim(self, user_id):
        if user_id in self.held:
            return None
        self.held[user_id] = "token"
        return SimpleNamespace(user_id=user_id, token="token")

    def started_at(self, user_id):
        return NOW

    def release(self, lease):
        self.held.pop(lease.user_id, None)
        self.released.append(lease.user_id)

    def renew(self, lease):
        self.renewed.append(lease.user_id)


def service(gateway, *, access=None, leases=None, **kwargs) -> ExportService:
    return ExportService(gateway, FakeResolver(), access or AccessPolicy(), leases=leases, clock=lambda: NOW,
                         **kwargs)


def export_of(svc: ExportService, export_filter: ExportFilter, **kwargs):
    return svc.export(export_filter, generated_by="U123", generated_via="Slack", **kwargs)


def names_in(data: bytes) -> list[str]:
    return [line.split(",", 1)[0] for line in data.decode().split("\r\n")[1:-1]]


# ---- which jobs ----------------------------------------------------------------------------------------


def test_default_since_is_30_days_back_from_today_or_from_until():
    svc = service(FakeGateway([]))
    assert svc.filter_for(ExportCommand()) == ExportFilter(None, None, since=date(2026, 10, 31))
    until = date(2026, 11, 15)
    assert svc.filter_for(ExportCommand(until=until)).since == date(2026, 10, 16)
    assert svc.filter_for(ExportCommand(status="FAILED", group="media-feed")) == ExportFilter(
        MEDIA, "FAILED", since=date(2026, 10, 31))


def test_an_unfiltered_export_under_an_allowlist_says_so_in_its_filter():
    svc = service(FakeGateway([]), access=AccessPolicy(dataset_groups=("media-feed",)))
    assert svc.filter_for(ExportCommand()).allowed_groups_only is True
    assert svc.filter_for(ExportCommand(group="media-feed")).allowed_groups_only is False
    assert service(FakeGateway([])).filter_for(ExportCommand()).allowed_groups_only is False


def test_a_group_outside_the_allowlist_is_refused_before_any_aws_call():
    gateway = FakeGateway(hourly(3))
    svc = service(gateway, access=AccessPolicy(dataset_groups=("media-feed",)))
    with pytest.raises(AccessRefused):
        svc.filter_for(ExportCommand(group="retail-recs"), user_id="U1")
    assert gateway.list_params == [] and gateway.described == []


def test_reading_stops_at_the_first_job_created_before_since():
    # 1,000 jobs an hour apart: since 2026-11-28 00:00 holds the jobs of the last 58 hours, read in one page of 100.
    gateway = FakeGateway(hourly(1000))
    export = export_of(service(gateway), ExportFilter(None, None, since=date(2026, 11, 28)))
    assert export.rows == 58 and len(gateway.list_params) == 1
    assert names_in(export.data) == [f"job-{i}" for i in range(58)]


def test_since_is_inclusive_and_until_exclusive_at_midnight_utc():
    at_midnight = [job(1, hours_ago=10.25), job(2, hours_ago=34.25), job(3, hours_ago=58.25)]  # 00:00 on 30, 29, 28
    export = export_of(service(FakeGateway(at_midnight)),
                       ExportFilter(None, None, since=date(2026, 11, 28), until=date(2026, 11, 30)))
    assert names_in(export.data) == ["job-2", "job-3"]


def test_status_group_and_allowlist_filter_the_rows_in_aws_order():
    jobs = [job(1, hours_ago=1, status="FAILED"), job(2, hours_ago=2, group=RETAIL, status="FAILED"),
            job(3, hours_ago=3), job(4, hours_ago=4, status="FAILED")]
    gateway = FakeGateway(jobs)
    failed = export_of(service(gateway), ExportFilter(None, "FAILED", since=date(2026, 11, 1)))
    assert names_in(failed.data) == ["job-1", "job-2", "job-4"]
    assert failed.by_status == (("FAILED", 3),)
    allowed = export_of(service(gateway, access=AccessPolicy(dataset_groups=("media-feed",))),
                        ExportFilter(None, None, since=date(2026, 11, 1)))
    assert names_in(allowed.data) == ["job-1", "job-3", "job-4"]
    export_of(service(gateway), ExportFilter(RETAIL, None, since=date(2026, 11, 1)))
    assert gateway.list_params[-1]["group"] == RETAIL


def test_the_file_has_the_describe_details():
    export = export_of(service(FakeGateway(hourly(2))), ExportFilter(None, None, since=date(2026, 11, 1)))
    header, first = (line.split(",") for line in export.data.decode().split("\r\n")[:2])
    assert header == list(COLUMNS)
    assert dict(zip(header, first, strict=True))["num_deleted"] == "0"
    assert dict(zip(header, first, strict=True))["role_arn"] == "arn:aws:iam::123456789012:role/R"


# ---- bounds ----------------------------------------------------------------------------------------------


def test_too_many_jobs_are_refused_with_the_exact_count_before_any_describe_call():
    gateway = FakeGateway(hourly(250))
    with pytest.raises(ExportTooLarge) as refused:
        export_of(service(gateway, max_jobs=100), ExportFilter(None, None, since=date(2026, 11, 1)))
    assert (refused.value.count, refused.value.limit) == (250, 100)
    assert gateway.described == []


def test_exactly_max_jobs_is_allowed():
    svc = service(FakeGateway(hourly(100)), max_jobs=100)
    export = export_of(svc, ExportFilter(None, None, since=date(2026, 11, 1)))
    assert export.rows == 100


def in_background(fn, times: int = 1) -> list[threading.Thread]:
    threads = [threading.Thread(target=fn) for _ in range(times)]
    for thread in threads:
        thread.start()
    return threads


def held_in_flight(gateway: FakeGateway, expected: int, *, listed: int = 1) -> int:
    """With the gate closed: wait until `expected` calls are in flight after `listed` listings, look a moment
    longer for any more, then open the gate; the most seen in flight."""
    gateway.wait_until(lambda g: g.in_flight >= expected and len(g.list_params) >= listed)
    time.sleep(0.3)  # an observation window, not a timing claim: a broken bound would start more calls here
    most = gateway.most_in_flight
    gateway.gate.set()
    return most


def test_describe_calls_run_at_most_concurrency_at_a_time_and_rows_keep_their_order():
    gateway = FakeGateway(hourly(40))
    gateway.gate.clear()
    results = []
    threads = in_background(lambda: results.append(
        export_of(service(gateway, concurrency=3), ExportFilter(None, None, since=date(2026, 11, 1)))))
    assert held_in_flight(gateway, 3) == 3
    threads[0].join(60)
    assert gateway.most_in_flight == 3
    assert names_in(results[0].data) == [f"job-{i}" for i in range(40)]
    assert results[0].describe_calls == 40 and results[0].list_calls == 1


def test_the_bound_holds_across_exports_running_at_once():
    gateway = FakeGateway(hourly(30))
    gateway.gate.clear()
    svc = service(gateway, concurrency=2)
    results = []
    threads = in_background(lambda: results.append(
        export_of(svc, ExportFilter(None, None, since=date(2026, 11, 1)))), times=3)
    assert held_in_flight(gateway, 2, listed=3) == 2
    for thread in threads:
        thread.join(60)
    assert len(results) == 3 and gateway.most_in_flight == 2


@pytest.mark.parametrize("error", [AwsThrottled("Rate exceeded", code="ThrottlingException"),
                                   AwsAccessDenied("no", code="AccessDeniedException")])
def test_a_failed_describe_call_fails_the_export_and_starts_no_more_calls(error):
    gateway = FakeGateway(hourly(60))
    gateway.failures[gateway.jobs[10].arn] = error
    with pytest.raises(ExportIncomplete) as failed:
        export_of(service(gateway, concurrency=4), ExportFilter(None, None, since=date(2026, 11, 1)))
    assert failed.value.cause is error and failed.value.total == 60
    assert failed.value.described <= 10 + 3
    # The calls in flight when it failed (at most 4) finish; none starts after.
    assert len(gateway.described) <= 11 + 4
    assert gateway.in_flight == 0


def test_progress_is_reported_after_each_describe_call():
    seen = []
    export_of(service(FakeGateway(hourly(7)), concurrency=2), ExportFilter(None, None, since=date(2026, 11, 1)),
              progress=seen.append)
    assert [p.described for p in seen] == sorted(p.described for p in seen)
    assert seen[-1].described == seen[-1].total == 7


def test_every_call_is_added_to_the_callers_scope_for_the_audit_line():
    gateway = FakeGateway(hourly(150))
    with gateway.scope() as outer:
        export_of(service(gateway), ExportFilter(None, None, since=date(2026, 11, 1)))
    assert outer.calls == 2 + 150 and outer.attempts == 152 and len(outer.request_ids) == 3


# ---- one export per person -------------------------------------------------------------------------------


def test_one_export_at_a_time_per_person():
    leases = FakeLeases()
    svc = service(FakeGateway(hourly(2)), leases=leases)
    with svc.reserved("U1"):
        with pytest.raises(ExportAlreadyRunning) as waiting, svc.reserved("U1"):
            pass
        assert waiting.value.started_at == NOW
        with svc.reserved("U2"):
            pass
    assert leases.released == ["U2", "U1"]
    with svc.reserved("U1"):
        pass


def test_the_slot_is_freed_when_the_export_fails():
    leases = FakeLeases()
    svc = service(FakeGateway(hourly(2)), leases=leases)
    with pytest.raises(RuntimeError), svc.reserved("U1"):
        raise RuntimeError("boom")
    assert leases.held == {}


@pytest.mark.parametrize(("step", "renews"), [(0, False), (61, True)])
def test_a_running_export_renews_its_lease_once_a_minute_has_passed(step, renews):
    leases = FakeLeases()
    now = [0.0]

    def monotonic() -> float:  # `step` seconds pass between two looks at the clock
        now[0] += step
        return now[0]

    svc = service(FakeGateway(hourly(30)), leases=leases, monotonic=monotonic)
    with svc.reserved("U1") as lease:
        export_of(svc, ExportFilter(None, None, since=date(2026, 11, 1)), lease=lease)
    # After the list page, and after Describe calls: with a minute gone between each look at the clock, every look
    # renews; with no time gone, none does.
    assert (len(leases.renewed) >= 2) is renews and set(leases.renewed) <= {"U1"}


def test_a_next_token_that_repeats_fails_the_export_instead_of_reading_for_ever():
    gateway = FakeGateway(hourly(300))
    pages = gateway.list_jobs_page

    def repeating(**kwargs):
        if len(gateway.list_params) >= 10:
            raise RuntimeError("the export kept reading")  # fail the test rather than hang it
        page = pages(**{**kwargs, "next_token": None})
        return JobsPage(jobs=page.jobs, next_token="same-token")

    gateway.list_jobs_page = repeating
    with pytest.raises(AwsMalformedResponse):
        export_of(service(gateway), ExportFilter(None, None, since=date(2026, 1, 1)))
    assert len(gateway.list_params) == 2 and gateway.described == []

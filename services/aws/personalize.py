"""Amazon Personalize access: the calls the bot makes, each AWS failure mapped to a domain error."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError

from services import errors
from services.aws.page_cache import JobPageCache, page_key
from services.aws.token_walk import TokenWalk
from services.models import DatasetGroup, DeletionJob, DeletionJobDetails, JobsPage

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
)
# The most ListDataDeletionJobs and ListDatasetGroups return in one call (`maxResults` 1–100).
MAX_RESULTS = 100
# ListDatasetGroups pages read before the walk is taken for a broken endpoint: 10,000 groups, 20 times Personalize's
# default quota of 500 dataset groups per account.
MAX_GROUP_PAGES = 100
# The longest one HTTP attempt can take; an attempt that could end after the deadline is not started.
_ATTEMPT_BOUND = CONNECT_TIMEOUT + READ_TIMEOUT

_CODE_TO_ERROR: dict[str, type[errors.AwsError]] = {
    "InvalidInputException": errors.AwsInvalidInput,
    "ValidationException": errors.AwsInvalidInput,
    "ResourceNotFoundException": errors.AwsResourceNotFound,
    "AccessDeniedException": errors.AwsAccessDenied,
    "AccessDenied": errors.AwsAccessDenied,
    "UnauthorizedOperation": errors.AwsAccessDenied,
    "UnrecognizedClientException": errors.AwsCredentialsError,
    "InvalidSignatureException": errors.AwsCredentialsError,
    "ExpiredTokenException": errors.AwsCredentialsError,
    "ExpiredToken": errors.AwsCredentialsError,
    "InvalidClientTokenId": errors.AwsCredentialsError,
    "MissingAuthenticationTokenException": errors.AwsCredentialsError,
    "ThrottlingException": errors.AwsThrottled,
    "Throttling": errors.AwsThrottled,
    "TooManyRequestsException": errors.AwsThrottled,
    "RequestLimitExceeded": errors.AwsThrottled,
    "LimitExceededException": errors.AwsThrottled,
}


# What the bot needs of each answer. The model marks no member required, but Personalize always sends these; an
# answer without them is a broken body (botocore returns {} for one it cannot parse), never "no results".
_JOB_FIELDS = {"dataDeletionJobArn": str, "datasetGroupArn": str, "status": str, "creationDateTime": datetime}
_GROUP_FIELDS = {"datasetGroupArn": str, "name": str}
# The list member of each list operation. botocore turns a member of the wrong JSON type ({} or "") into [],
# so its shape is checked on the raw body, before botocore parses it.
_LIST_MEMBERS = {"ListDataDeletionJobs": "dataDeletionJobs", "ListDatasetGroups": "datasetGroups"}
# What botocore's JSON parser raises on a body of the wrong shape (a string or list where the model has a
# structure, a timestamp that is not one); caught only once the response has reached the parser.
_PARSE_FAILURES = (ResponseParserError, ValueError, TypeError, AttributeError, KeyError)


@dataclass(frozen=True)
class RawResponse:
    """What the operator needs to know of an HTTP answer the bot could not use; never its body."""

    status: int | None
    request_id: str | None
    content_type: str | None
    length: int


def missing_fields(item: object, fields: dict[str, type]) -> str | None:
    """Why `item` is not a usable entry (not an object, or a required member absent, empty or mistyped)."""
    if not isinstance(item, dict):
        return "is not an object"
    for name, kind in fields.items():
        value = item.get(name)
        if not isinstance(value, kind) or value == "":
            return f"has no valid `{name}`"
    return None


def raw_list_problem(body: bytes, member: str) -> str | None:
    """Why the raw JSON `body` of a list answer is not a page: `member` not an array, `nextToken` not a string.

    None when it is one, or when it is no JSON object at all (botocore's parse and `_listed` catch that).
    """
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(answer, dict):
        return None
    if member in answer and not isinstance(answer[member], list):
        return f"`{member}` is not a JSON array"
    token = answer.get("nextToken")
    if token is not None and not isinstance(token, str):
        return "`nextToken` is not a string"
    return None


class DeadlineExceeded(Exception):
    """Raised from botocore's before-send hook so no new attempt starts past the request's deadline."""


@dataclass
class CallScope:
    """What one Slack request costs in AWS (logical calls, HTTP attempts, request ids), and when it must stop."""

    deadline: float
    calls: int = 0
    attempts: int = 0
    request_ids: list[str] = field(default_factory=list)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


class PersonalizeGateway:
    """The bot's Personalize calls. Thread-safe: one client, per-thread call scopes."""

    def __init__(self, client, *, deadline_seconds: float = 20.0, metrics=None, page_cache: JobPageCache | None = None):
        self._client = client
        self._deadline_seconds = deadline_seconds
        # services.metrics.Metrics: each call counted by operation and outcome, and timed (real calls only).
        self._metrics = metrics
        # ListDataDeletionJobs pages shared between requests (LIST_CACHE_SECONDS); None: every page is a call.
        self._page_cache = page_cache
        self._local = threading.local()
        client.meta.events.register("before-send.personalize", self._before_send)
        client.meta.events.register("before-parse.personalize", self._before_parse)

    @classmethod
    def from_settings(cls, settings, *, metrics=None) -> PersonalizeGateway:
        # boto3 picks up AWS_ENDPOINT_URL_PERSONALIZE and credentials on its own.
        session = boto3.session.Session()
        # One pooled connection per worker thread: botocore's default of 10 made a burst of commands
        # discard and re-open connections ("Connection pool is full"), found by the load test.
        config = CLIENT_CONFIG.merge(Config(max_pool_connections=max(settings.worker_threads, 10)))
        client = session.client("personalize", region_name=settings.aws_region, config=config)
        cache = JobPageCache(settings.list_cache_seconds) if settings.list_cache_seconds > 0 else None
        return cls(client, deadline_seconds=settings.aws_deadline_seconds, metrics=metrics, page_cache=cache)

    @property
    def deadline_seconds(self) -> float:
        """How long one Slack request may spend on AWS (AWS_DEADLINE_SECONDS)."""
        return self._deadline_seconds

    @property
    def client(self):
        return self._client

    @property
    def page_cache(self) -> JobPageCache | None:
        return self._page_cache

    @property
    def region(self) -> str:
        return self._client.meta.region_name

    @property
    def partition(self) -> str:
        """`aws`, `aws-cn` or `aws-us-gov`, as botocore derives it from the region."""
        return self._client.meta.partition

    # -- scopes -------------------------------------------------------------------------------------

    @contextmanager
    def scope(self, deadline_seconds: float | None = None) -> Iterator[CallScope]:
        """Count the calls made inside, and stop starting attempts once the deadline has passed."""
        scope = CallScope(deadline=time.monotonic() + (deadline_seconds or self._deadline_seconds))
        previous = getattr(self._local, "scope", None)
        self._local.scope = scope
        try:
            yield scope
        finally:
            self._local.scope = previous

    def current_scope(self) -> CallScope | None:
        return getattr(self._local, "scope", None)

    def _before_send(self, request, **_kwargs):
        scope = self.current_scope()
        if scope is None:
            return None
        first = scope.attempts == 0
        scope.attempts += 1
        if not first and time.monotonic() + _ATTEMPT_BOUND > scope.deadline:
            raise DeadlineExceeded()
        return None

    def _before_parse(self, response_dict, operation_model=None, **_kwargs):
        # Kept so that a body botocore cannot parse is still logged with its request id.
        headers = response_dict.get("headers") or {}
        body = response_dict.get("body") or b""
        status = response_dict.get("status_code")
        self._local.raw = RawResponse(
            status=status,
            request_id=headers.get("x-amzn-requestid"),
            content_type=headers.get("content-type"),
            length=len(body),
        )
        member = _LIST_MEMBERS.get(getattr(operation_model, "name", None))
        self._local.shape_problem = raw_list_problem(body, member) if member and status == 200 else None

    # -- calls --------------------------------------------------------------------------------------

    def list_jobs_page(
        self, *, dataset_group_arn: str | None = None, next_token: str | None = None, max_results: int = MAX_RESULTS,
        shared: bool = False,
    ) -> JobsPage:
        """One page, read from AWS now; with `shared=True`, from the page cache when there is one (a kept page, or
        the same call in flight: neither counts as a call in the request's scope or the metrics), and a waiter gives
        up at its scope's deadline.

        Only the listing shares (its footer says when data is old). The digest, exports, the watch poll and the Home
        snapshot read now: their answers are records or notices (a failure reported in the run whose window it falls
        in, evidence as of its time, a finish told at the first poll that can see it).
        """
        def read() -> JobsPage:
            return self._read_jobs_page(dataset_group_arn, next_token, max_results)

        if self._page_cache is None or not shared:
            return read()
        scope = self.current_scope()
        wait_seconds = scope.time_left() if scope is not None else self._deadline_seconds
        key = page_key(self.region, dataset_group_arn, max_results, next_token)
        return self._page_cache.get(key, read, wait_seconds=wait_seconds)

    def _read_jobs_page(self, dataset_group_arn: str | None, next_token: str | None, max_results: int) -> JobsPage:
        params: dict = {"maxResults": max_results}
        if dataset_group_arn:
            params["datasetGroupArn"] = dataset_group_arn
        if next_token:
            params["nextToken"] = next_token
        answer = self._call("list_data_deletion_jobs", params)
        read_at = datetime.now(UTC)
        items = self._listed("list_data_deletion_jobs", answer, "dataDeletionJobs", _JOB_FIELDS)
        return JobsPage(jobs=[DeletionJob.from_api(item) for item in items], next_token=answer.get("nextToken") or None,
                        read_at=read_at)

    def list_dataset_groups(self) -> list[DatasetGroup]:
        groups: list[DatasetGroup] = []
        token = None
        walk = TokenWalk("list_dataset_groups", max_pages=MAX_GROUP_PAGES)
        while True:
            params: dict = {"maxResults": MAX_RESULTS}
            if token:
                params["nextToken"] = token
            answer = self._call("list_dataset_groups", params)
            items = self._listed("list_dataset_groups", answer, "datasetGroups", _GROUP_FIELDS)
            groups.extend(DatasetGroup(name=item["name"], arn=item["datasetGroupArn"]) for item in items)
            token = walk.follow(answer.get("nextToken"))
            if not token:
                return groups

    def describe_dataset_group(self, arn: str) -> DatasetGroup | None:
        """The dataset group at `arn`, or None when AWS says there is none (a typo, or a deleted group)."""
        try:
            answer = self._call("describe_dataset_group", {"datasetGroupArn": arn},
                                expected={"ResourceNotFoundException"})
        except errors.AwsResourceNotFound:
            return None
        group = answer.get("datasetGroup")
        problem = "is missing" if group is None else missing_fields(group, _GROUP_FIELDS)
        if problem:
            raise self._malformed("describe_dataset_group", answer, f"`datasetGroup` {problem}")
        return DatasetGroup(name=group["name"], arn=group["datasetGroupArn"])

    def describe_job(self, job_arn: str) -> DeletionJobDetails:
        answer = self._call("describe_data_deletion_job", {"dataDeletionJobArn": job_arn})
        job = answer.get("dataDeletionJob")
        problem = "is missing" if job is None else missing_fields(job, _JOB_FIELDS)
        if problem:
            raise self._malformed("describe_data_deletion_job", answer, f"`dataDeletionJob` {problem}")
        return DeletionJobDetails.from_api(job)

    def _listed(self, method: str, answer: dict, member: str, fields: dict[str, type]) -> list[dict]:
        """The answer's list of `member` entries; AwsMalformedResponse when the answer is not a well-formed page."""
        shape_problem = getattr(self._local, "shape_problem", None)
        if shape_problem:
            raise self._malformed(method, answer, shape_problem)
        items = answer.get(member)
        if not isinstance(items, list):
            raise self._malformed(method, answer, f"`{member}` is {'missing' if items is None else 'not a list'}")
        for item in items:
            problem = missing_fields(item, fields)
            if problem:
                raise self._malformed(method, answer, f"an entry of `{member}` {problem}")
        token = answer.get("nextToken")
        if token is not None and not isinstance(token, str):
            raise self._malformed(method, answer, "`nextToken` is not a string")
        return items

    def _malformed(self, method: str, answer: dict, problem: str) -> errors.AwsMalformedResponse:
        raw = getattr(self._local, "raw", None)
        request_id = (answer.get("ResponseMetadata") or {}).get("RequestId") or (raw.request_id if raw else None)
        status = raw.status if raw else 200
        body = f"{raw.content_type or 'untyped'} body of {raw.length} bytes" if raw else "body not seen"
        logger.error(
            "personalize %s: HTTP %s with an answer the bot cannot use (%s; %s, request id %s): counted as a failed"
            " call, not as no results", method, status, problem, body, request_id,
        )
        return errors.AwsMalformedResponse(problem, request_id=request_id, code="MalformedResponse")

    def _call(self, method: str, params: dict, *, expected: frozenset[str] | set[str] = frozenset()) -> dict:
        """One API call, counted and timed in the metrics (when given); see `_call_aws`."""
        if self._metrics is None:
            return self._call_aws(method, params, expected=expected)
        started = time.monotonic()
        try:
            answer = self._call_aws(method, params, expected=expected)
        except Exception as err:
            self._metrics.aws_call(method, time.monotonic() - started, err)
            raise
        self._metrics.aws_call(method, time.monotonic() - started)
        return answer

    def _call_aws(self, method: str, params: dict, *, expected: frozenset[str] | set[str] = frozenset()) -> dict:
        """One API call, its failures mapped to domain errors; `expected` error codes are an answer, logged at INFO."""
        scope = self.current_scope()
        if scope is not None:
            if scope.calls and scope.time_left() <= 0:
                raise errors.DeadlineSpent(f"{method}: deadline passed before the call")
            scope.calls += 1
        self._local.raw = self._local.shape_problem = None
        try:
            answer = getattr(self._client, method)(**params)
        except ClientError as err:
            raise self._map_client_error(method, err, expected) from err
        except DeadlineExceeded as err:
            logger.warning("personalize %s: gave up, the request's deadline has passed", method)
            raise errors.DeadlineSpent(f"{method}: deadline") from err
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as err:
            logger.error("personalize %s: no usable AWS credentials: %s", method, err)
            raise errors.AwsCredentialsError(str(err)) from err
        except NoRegionError as err:
            logger.error("personalize %s: no AWS region configured (set AWS_REGION)", method)
            raise errors.AwsUnreachable(str(err)) from err
        except (ReadTimeoutError, ConnectTimeoutError) as err:
            logger.error("personalize %s: timed out after retries: %s", method, err)
            raise errors.AwsTimeout(str(err)) from err
        except BotoConnectionError as err:
            logger.error("personalize %s: cannot reach the endpoint: %s", method, err)
            raise errors.AwsUnreachable(str(err)) from err
        except BotoCoreError as err:
            logger.error("personalize %s: botocore error: %s", method, err)
            raise errors.AwsServiceError(str(err)) from err
        except _PARSE_FAILURES as err:
            if getattr(self._local, "raw", None) is None:
                raise  # not raised by the parser: a bug, with its traceback
            # The type only: the message may quote the body.
            raise self._malformed(method, {}, f"botocore could not parse it ({type(err).__name__})") from err
        request_id = answer.get("ResponseMetadata", {}).get("RequestId")
        if scope is not None and request_id:
            scope.request_ids.append(request_id)
        return answer

    @staticmethod
    def _map_client_error(method: str, err: ClientError, expected=frozenset()) -> errors.AwsError:
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        meta = err.response.get("ResponseMetadata", {})
        request_id = meta.get("RequestId")
        status = meta.get("HTTPStatusCode")
        if code == "InvalidNextTokenException":
            logger.info("personalize %s: nextToken refused (request id %s)", method, request_id)
            return errors.ListExpired(message)
        error_type = _CODE_TO_ERROR.get(code, errors.AwsServiceError)
        logger.log(
            logging.INFO if code in expected else logging.ERROR,
            "personalize %s failed: %s (HTTP %s, request id %s): %s", method, code, status, request_id, message,
        )
        return error_type(message, request_id=request_id, code=code)

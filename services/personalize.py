"""Amazon Personalize access: the calls the bot makes, each AWS failure mapped to a domain error."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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

from services import errors
from services.models import DatasetGroup, DeletionJob, DeletionJobDetails, JobsPage

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
)
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


class DeadlineExceeded(Exception):
    """Raised from botocore's before-send hook so no new attempt starts past the request's deadline."""


@dataclass
class CallScope:
    """What one Slack request costs in AWS: logical calls, HTTP attempts, time."""

    deadline: float
    started: float
    calls: int = 0
    attempts: int = 0
    request_ids: list[str] = field(default_factory=list)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class PersonalizeGateway:
    """The bot's Personalize calls. Thread-safe: one client, per-thread call scopes."""

    def __init__(self, client, *, deadline_seconds: float = 20.0):
        self._client = client
        self._deadline_seconds = deadline_seconds
        self._local = threading.local()
        client.meta.events.register("before-send.personalize", self._before_send)

    @classmethod
    def from_settings(cls, settings) -> PersonalizeGateway:
        # boto3 picks up AWS_ENDPOINT_URL_PERSONALIZE and credentials on its own.
        session = boto3.session.Session()
        # One pooled connection per worker thread: botocore's default of 10 made a burst of commands
        # discard and re-open connections ("Connection pool is full"), found by the load test.
        config = CLIENT_CONFIG.merge(Config(max_pool_connections=max(settings.worker_threads, 10)))
        client = session.client("personalize", region_name=settings.aws_region, config=config)
        return cls(client, deadline_seconds=settings.aws_deadline_seconds)

    @property
    def client(self):
        return self._client

    # -- scopes -------------------------------------------------------------------------------------

    @contextmanager
    def scope(self, deadline_seconds: float | None = None) -> Iterator[CallScope]:
        """Count the calls made inside, and stop starting attempts once the deadline has passed."""
        now = time.monotonic()
        scope = CallScope(deadline=now + (deadline_seconds or self._deadline_seconds), started=now)
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

    # -- calls --------------------------------------------------------------------------------------

    def list_jobs_page(
        self, *, dataset_group_arn: str | None = None, next_token: str | None = None, max_results: int = 100
    ) -> JobsPage:
        params: dict = {"maxResults": max_results}
        if dataset_group_arn:
            params["datasetGroupArn"] = dataset_group_arn
        if next_token:
            params["nextToken"] = next_token
        answer = self._call("list_data_deletion_jobs", params)
        return JobsPage(
            jobs=[DeletionJob.from_api(item) for item in answer.get("dataDeletionJobs", [])],
            next_token=answer.get("nextToken") or None,
        )

    def list_dataset_groups(self) -> list[DatasetGroup]:
        groups: list[DatasetGroup] = []
        token = None
        while True:
            params: dict = {"maxResults": 100}
            if token:
                params["nextToken"] = token
            answer = self._call("list_dataset_groups", params)
            groups.extend(
                DatasetGroup(name=item.get("name", ""), arn=item.get("datasetGroupArn", ""))
                for item in answer.get("datasetGroups", [])
            )
            token = answer.get("nextToken")
            if not token:
                return groups

    def describe_job(self, job_arn: str) -> DeletionJobDetails:
        answer = self._call("describe_data_deletion_job", {"dataDeletionJobArn": job_arn})
        return DeletionJobDetails.from_api(answer.get("dataDeletionJob", {}))

    def _call(self, method: str, params: dict) -> dict:
        scope = self.current_scope()
        if scope is not None:
            if scope.calls and scope.time_left() <= 0:
                raise errors.AwsTimeout(f"{method}: deadline passed before the call")
            scope.calls += 1
        try:
            answer = getattr(self._client, method)(**params)
        except ClientError as err:
            raise self._map_client_error(method, err) from err
        except DeadlineExceeded as err:
            logger.warning("personalize %s: gave up, the request's deadline has passed", method)
            raise errors.AwsTimeout(f"{method}: deadline") from err
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
        request_id = answer.get("ResponseMetadata", {}).get("RequestId")
        if scope is not None and request_id:
            scope.request_ids.append(request_id)
        return answer

    @staticmethod
    def _map_client_error(method: str, err: ClientError) -> errors.AwsError:
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
        logger.error(
            "personalize %s failed: %s (HTTP %s, request id %s): %s", method, code, status, request_id, message
        )
        return error_type(message, request_id=request_id, code=code)

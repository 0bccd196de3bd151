"""Local Amazon Personalize emulator: data deletion jobs and dataset groups over AWS JSON 1.1.

A real boto3 client works against it unmodified::

    with PersonalizeEmulator() as emu:
        group = emu.add_dataset_group("media-feed")
        client = boto3.client("personalize", endpoint_url=emu.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")

Only the four read operations the bot uses are served. Paging tokens are opaque, kept
server-side and bound to the operation and filter that minted them, like AWS's.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import string
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools._http import LocalHTTPServer, QuietHandler
from devtools._seed import realistic_jobs

TARGET_PREFIX = "AmazonPersonalize."
CONTENT_TYPE = "application/x-amz-json-1.1"
# PENDING > IN_PROGRESS > COMPLETED or FAILED; add_job accepts any string to test unknown ones.
STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")

# Patterns and limits from the botocore model (personalize/2018-05-22).
ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
MAX_ARN = 256
MAX_NAME = 63
# A held answer goes out after this long at the latest: a test that forgets release() fails, it does not hang.
HOLD_LIMIT = 120.0
# Printable, no whitespace: quotes and backslashes included on purpose, since the
# real token is only promised to be ASCII and callers must treat it as opaque.
_TOKEN_PAD = string.ascii_letters + string.digits + string.punctuation

_JOB_FIELDS = {"status", "updated", "failure_reason", "num_deleted", "data_location", "role_arn"}
# How a deletion job moves on: a job can fail before it starts, but completes only after running.
_NEXT_STATUSES = {"PENDING": ("IN_PROGRESS", "FAILED"), "IN_PROGRESS": ("COMPLETED", "FAILED")}


@dataclass(frozen=True)
class RawBody:
    """A body sent as-is instead of JSON: what a proxy or a cut connection can put behind an HTTP 200."""

    data: bytes
    content_type: str = CONTENT_TYPE


# Bodies botocore cannot parse; it returns {} for each, with no error.
MALFORMED_BODIES = {
    "empty": RawBody(b""),
    "html": RawBody(b"<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>",
                    "text/html; charset=utf-8"),
    "truncated": RawBody(b'{"dataDeletionJobs":[{"dataDeletionJobArn":"arn:aws:personalize:us-east-1:1234'),
}


class ApiError(Exception):
    """An AWS error response: HTTP status plus the `__type` code botocore reads."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def _epoch(dt: datetime) -> float:
    # Naive datetimes are taken as UTC, not local time as datetime.timestamp() would.
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # AWS answers with millisecond precision; rounding here also makes the value
    # survive the JSON round trip so datetimes from jobs() equal boto3's exactly.
    return round(dt.timestamp(), 3)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class PersonalizeEmulator(LocalHTTPServer):
    """In-memory Personalize account served over HTTP; see the module docstring."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        latency: float = 0.0,
        token_length: int | None = None,
    ):
        super().__init__()
        if token_length is not None and token_length < 8:
            raise ValueError("token_length must be at least 8")
        self.region, self.account = region, account
        self.latency = latency
        self.token_length = token_length
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.RLock()
        self._groups: dict[str, dict[str, Any]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._sorted: dict[tuple, list[dict]] = {}
        self._tokens: dict[str, tuple[tuple, int]] = {}
        self._token_by_position: dict[tuple[tuple, int], str] = {}
        self._faults: list[dict[str, Any]] = []
        self._random_faults: tuple[float, float] = (0.0, 0.0)
        self._rng = random.Random(0)
        # Cleared by hold(): answers wait until release() (or stop()) sets it again.
        self._answering = threading.Event()
        self._answering.set()

    # ---- data API -------------------------------------------------------------

    def add_dataset_group(self, name: str, *, created: datetime | None = None) -> str:
        self._check_name(name)
        arn = f"arn:aws:personalize:{self.region}:{self.account}:dataset-group/{name}"
        when = _epoch(created or datetime.now(UTC))
        with self._lock:
            if arn in self._groups:
                raise ValueError(f"dataset group {name!r} already exists")
            self._seq += 1
            self._groups[arn] = {"name": name, "arn": arn, "created": when, "seq": self._seq}
            self._changed()
        return arn

    def add_job(
        self,
        dataset_group_arn: str,
        *,
        status: str,
        created: datetime,
        updated: datetime | None = None,
        name: str | None = None,
        failure_reason: str | None = None,
        num_deleted: int | None = None,
        data_location: str | None = None,
        role_arn: str | None = None,
    ) -> str:
        with self._lock:
            job = self._new_job(
                dataset_group_arn,
                status,
                _epoch(created),
                _epoch(updated) if updated else None,
                name,
                failure_reason,
                num_deleted,
                data_location,
                role_arn,
            )
            self._changed()
        return job["arn"]

    def set_job(self, arn: str, **fields: Any) -> None:
        """Change a job later, e.g. PENDING -> FAILED; `updated` defaults to now."""
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise TypeError(f"set_job() cannot change {sorted(unknown)}; allowed: {sorted(_JOB_FIELDS)}")
        with self._lock:
            job = self._jobs[arn]
            if "updated" in fields:
                fields["updated"] = _epoch(fields["updated"])
            else:
                fields["updated"] = _epoch(datetime.now(UTC))
            job.update(fields)
            self._changed()

    def advance_job(self, arn: str, status: str, *, num_deleted: int | None = None, failure_reason: str | None = None,
                    updated: datetime | None = None) -> None:
        """Move a job on as Personalize does: PENDING → IN_PROGRESS → COMPLETED (with `num_deleted`, which
        DescribeDataDeletionJob then returns) or FAILED (with `failure_reason`, from PENDING too).

        ValueError for a move Personalize does not make, or a finished job without its number or reason.
        """
        with self._lock:
            current = self._jobs[arn]["status"]
        if status not in _NEXT_STATUSES.get(current, ()):
            raise ValueError(f"a {current} job does not become {status}")
        if status == "COMPLETED" and (num_deleted is None or num_deleted < 0):
            raise ValueError("a COMPLETED job needs num_deleted (0 or more)")
        if status == "FAILED" and not failure_reason:
            raise ValueError("a FAILED job needs a failure_reason")
        fields: dict[str, Any] = {"status": status}
        if status == "COMPLETED":
            fields["num_deleted"] = num_deleted
        if status == "FAILED":
            fields["failure_reason"] = failure_reason
        if updated is not None:
            fields["updated"] = updated
        self.set_job(arn, **fields)

    def jobs(self, dataset_group_arn: str | None = None, status: str | None = None) -> list[dict]:
        """Summaries in ListDataDeletionJobs order, with UTC datetimes.

        Aware datetimes compare by instant, so these equal what boto3 returns
        (boto3 gives the same instants in the machine's local zone).
        """
        with self._lock:
            items = self._sorted_jobs(dataset_group_arn)
            out = [self._summary(job) for job in items if status is None or job["status"] == status]
        for summary in out:
            for key in ("creationDateTime", "lastUpdatedDateTime"):
                summary[key] = _dt(summary[key])
        return out

    def dataset_groups(self) -> dict[str, str]:
        """Name -> ARN of every dataset group."""
        with self._lock:
            return {g["name"]: arn for arn, g in self._groups.items()}

    def seed_realistic(
        self,
        seed: int = 7,
        groups: tuple[str, ...] = ("media-feed", "retail-recs", "news-personalization", "video-ranking"),
        jobs: int = 300,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """Fill a plausible account; returns dataset group name -> ARN. Deterministic per seed and `now`."""
        now = now or datetime.now(UTC)
        existing = self.dataset_groups()
        arns = {}
        for i, name in enumerate(groups):
            arns[name] = existing.get(name) or self.add_dataset_group(name, created=now - timedelta(days=400 - 30 * i))
        for spec in realistic_jobs(random.Random(seed), list(groups), jobs, now, self.account):
            group = arns[spec.pop("group")]
            self.add_job(group, **spec)
        return arns

    def seed_bulk(
        self, dataset_group_arn: str, count: int, *, failed_every: int = 10, now: datetime | None = None
    ) -> list[str]:
        """Add `count` jobs one minute apart back from `now`; every `failed_every`-th FAILED (0: none)."""
        now_epoch = _epoch(now or datetime.now(UTC))
        with self._lock:
            arns = []
            for i in range(1, count + 1):
                failed = bool(failed_every) and i % failed_every == 0
                created = now_epoch - 60 * i
                job = self._new_job(
                    dataset_group_arn,
                    "FAILED" if failed else "COMPLETED",
                    created,
                    created + 30,
                    None,
                    f"Input file contains {2 + i % 40} rows with a missing USER_ID column" if failed else None,
                    None if failed else 1 + i % 500,
                    None,
                    None,
                )
                arns.append(job["arn"])
            self._changed()
        return arns

    # ---- fault injection and observation ----------------------------------------

    def hang(self, seconds: float) -> None:
        """Answer every request `seconds` late (0 to stop), e.g. to trip client read timeouts."""
        self.latency = seconds

    def hold(self) -> None:
        """Hold every answer, from now until `release()` (at most HOLD_LIMIT seconds): AWS busy for exactly as long
        as a test needs, where `hang` would make it wait a fixed time."""
        self._answering.clear()

    def release(self) -> None:
        """Send the held answers now, and answer at once from here on."""
        self._answering.set()

    def stop(self) -> None:
        self.release()
        super().stop()

    def inject_error(
        self, operation: str, code: str, *, status: int = 400, message: str | None = None, times: int = 1
    ) -> None:
        """The next `times` calls of `operation` ("*" for any) answer with this error."""
        with self._lock:
            self._faults.append(
                {
                    "op": operation,
                    "code": code,
                    "status": status,
                    "message": message or f"Injected {code}",
                    "times": times,
                }
            )

    def random_faults(self, *, throttle: float = 0.0, server_error: float = 0.0, seed: int = 0) -> None:
        """From now on, each request (every HTTP attempt) is throttled with probability `throttle` (HTTP 400
        ThrottlingException) or fails with probability `server_error` (HTTP 500); 0 and 0 to stop."""
        with self._lock:
            self._random_faults = (throttle, server_error)
            self._rng = random.Random(seed)

    def _random_fault(self) -> None:
        with self._lock:
            throttle, server_error = self._random_faults
            draw = self._rng.random() if throttle or server_error else 1.0
        if draw < throttle:
            raise ApiError("ThrottlingException", "Rate exceeded")
        if draw < throttle + server_error:
            raise ApiError("InternalServerError", "We encountered an internal error. Please try again.", 500)

    def inject_body(self, operation: str, body: str | RawBody, *, times: int = 1) -> None:
        """The next `times` calls of `operation` ("*" for any) answer HTTP 200 with this body: a RawBody, or the
        name of one of MALFORMED_BODIES ("empty", "html", "truncated")."""
        raw = MALFORMED_BODIES[body] if isinstance(body, str) else body
        with self._lock:
            self._faults.append({"op": operation, "body": raw, "times": times})

    def clear_faults(self) -> None:
        """Forget every injected error and body not yet served."""
        with self._lock:
            self._faults.clear()

    def call_count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for op, _ in self.calls if operation is None or op == operation)

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # ---- request handling -------------------------------------------------------

    def handle(self, target: str | None, authorized: bool, raw: bytes) -> tuple[int, dict | RawBody]:
        """Answer one request: (HTTP status, JSON body or a raw one). Called by the HTTP handler."""
        operation = (target or "").removeprefix(TARGET_PREFIX)
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            params = None
        recorded = params if isinstance(params, dict) else {"_raw": raw.decode(errors="replace")}
        with self._lock:
            self.calls.append((operation, recorded))
        self.pause(self.latency)
        self._answering.wait(HOLD_LIMIT)
        try:
            if not authorized:
                raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
            injected = self._injected(operation)
            if injected is not None:
                return 200, injected
            self._random_fault()
            if not isinstance(params, dict):
                raise ApiError("SerializationException", "Request body is not a JSON object")
            handler = self._operations().get(operation) if target and target.startswith(TARGET_PREFIX) else None
            if handler is None:
                raise ApiError("UnknownOperationException", f"Unknown operation {target!r}")
            with self._lock:
                return 200, handler(params)
        except ApiError as err:
            return err.status, {"__type": err.code, "message": err.message}

    def _operations(self):
        return {
            "ListDataDeletionJobs": self._list_data_deletion_jobs,
            "DescribeDataDeletionJob": self._describe_data_deletion_job,
            "ListDatasetGroups": self._list_dataset_groups,
            "DescribeDatasetGroup": self._describe_dataset_group,
        }

    def _injected(self, operation: str) -> RawBody | None:
        """The next injected fault for `operation`: raises an injected error, returns an injected body."""
        with self._lock:
            for fault in self._faults:
                if fault["op"] in (operation, "*"):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    if "body" in fault:
                        return fault["body"]
                    raise ApiError(fault["code"], fault["message"], fault["status"])
        return None

    def _list_data_deletion_jobs(self, params: dict) -> dict:
        group = params.get("datasetGroupArn")
        if group is not None:
            # The model lists no ResourceNotFoundException here: an unknown group simply has no jobs.
            self._valid_arn(group, "datasetGroupArn")
        page, token = self._page(("ListDataDeletionJobs", group), self._sorted_jobs(group), params)
        return self._with_token({"dataDeletionJobs": [self._summary(j) for j in page]}, token)

    def _describe_data_deletion_job(self, params: dict) -> dict:
        arn = self._valid_arn(params.get("dataDeletionJobArn"), "dataDeletionJobArn")
        job = self._jobs.get(arn)
        if job is None:
            raise ApiError("ResourceNotFoundException", f"Could not find resource with ARN {arn}")
        detail = {
            "jobName": job["name"],
            "dataDeletionJobArn": job["arn"],
            "datasetGroupArn": job["group"],
            "dataSource": {"dataLocation": job["data_location"]},
            "roleArn": job["role_arn"],
            "status": job["status"],
            "numDeleted": job["num_deleted"],
            "creationDateTime": job["created"],
            "lastUpdatedDateTime": job["updated"],
            "failureReason": job["failure_reason"],
        }
        return {"dataDeletionJob": {k: v for k, v in detail.items() if v is not None}}

    def _list_dataset_groups(self, params: dict) -> dict:
        groups = sorted(self._groups.values(), key=lambda g: (-g["created"], -g["seq"]))
        page, token = self._page(("ListDatasetGroups",), groups, params)
        return self._with_token({"datasetGroups": [self._group_summary(g) for g in page]}, token)

    def _describe_dataset_group(self, params: dict) -> dict:
        group = self._existing_group(params.get("datasetGroupArn"))
        return {"datasetGroup": self._group_summary(group)}

    # ---- helpers (call with the lock held) ---------------------------------------

    def _page(self, key: tuple, items: list, params: dict) -> tuple[list, str | None]:
        max_results = params.get("maxResults", 100)
        if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= 100:
            raise ApiError("InvalidInputException", "maxResults must be between 1 and 100")
        token = params.get("nextToken")
        offset = 0
        if token is not None:
            minted = self._tokens.get(token) if isinstance(token, str) else None
            # A token only makes sense for the listing that minted it.
            if minted is None or minted[0] != key:
                raise ApiError("InvalidNextTokenException", "The token is not valid.")
            offset = minted[1]
        end = offset + max_results
        return items[offset:end], self._token_for(key, end) if end < len(items) else None

    def _token_for(self, key: tuple, offset: int) -> str:
        # One token per position keeps memory bounded and makes re-reads repeatable.
        token = self._token_by_position.get((key, offset))
        if token is None:
            while token is None or token in self._tokens:
                token = secrets.token_urlsafe(18)
                if self.token_length:
                    pad = "".join(secrets.choice(_TOKEN_PAD) for _ in range(max(0, self.token_length - len(token))))
                    token = (token + pad)[: self.token_length]
            self._tokens[token] = (key, offset)
            self._token_by_position[(key, offset)] = token
        return token

    @staticmethod
    def _with_token(body: dict, token: str | None) -> dict:
        if token is not None:
            body["nextToken"] = token
        return body

    def _sorted_jobs(self, group: str | None) -> list[dict]:
        cached = self._sorted.get((group,))
        if cached is None:
            jobs = (j for j in self._jobs.values() if group is None or j["group"] == group)
            cached = self._sorted[(group,)] = sorted(jobs, key=lambda j: (-j["created"], -j["seq"]))
        return cached

    def _changed(self) -> None:
        # Offsets minted earlier stay valid (AWS tokens also survive new jobs), but
        # cached orderings do not.
        self._sorted.clear()

    def _new_job(self, group, status, created, updated, name, failure_reason, num_deleted, data_location, role_arn):
        if group not in self._groups:
            raise KeyError(f"unknown dataset group {group!r}; add_dataset_group() first")
        self._seq += 1
        name = name or f"deletion-job-{self._seq:06d}"
        self._check_name(name)
        arn = f"arn:aws:personalize:{self.region}:{self.account}:data-deletion-job/{name}"
        if arn in self._jobs:
            raise ValueError(f"data deletion job {name!r} already exists")
        group_name = self._groups[group]["name"]
        job = {
            "arn": arn,
            "name": name,
            "group": group,
            "status": status,
            "created": created,
            "updated": updated if updated is not None else created,
            "failure_reason": failure_reason,
            "num_deleted": num_deleted,
            "data_location": data_location or f"s3://acme-gdpr-requests/{group_name}/{name}.csv",
            "role_arn": role_arn or f"arn:aws:iam::{self.account}:role/PersonalizeDataDeletion",
            "seq": self._seq,
        }
        self._jobs[arn] = job
        return job

    @staticmethod
    def _summary(job: dict) -> dict:
        summary = {
            "dataDeletionJobArn": job["arn"],
            "datasetGroupArn": job["group"],
            "jobName": job["name"],
            "status": job["status"],
            "creationDateTime": job["created"],
            "lastUpdatedDateTime": job["updated"],
        }
        if job["failure_reason"] is not None:
            summary["failureReason"] = job["failure_reason"]
        return summary

    @staticmethod
    def _group_summary(group: dict) -> dict:
        return {
            "name": group["name"],
            "datasetGroupArn": group["arn"],
            "status": "ACTIVE",
            "creationDateTime": group["created"],
            "lastUpdatedDateTime": group["created"],
        }

    def _existing_group(self, arn: Any) -> dict:
        arn = self._valid_arn(arn, "datasetGroupArn")
        group = self._groups.get(arn)
        if group is None:
            raise ApiError("ResourceNotFoundException", f"Could not find resource with ARN {arn}")
        return group

    @staticmethod
    def _valid_arn(value: Any, field: str) -> str:
        if not isinstance(value, str) or len(value) > MAX_ARN or not ARN_PATTERN.fullmatch(value):
            raise ApiError("InvalidInputException", f"Value at '{field}' failed to satisfy the ARN constraint")
        return value

    @staticmethod
    def _check_name(name: str) -> None:
        if not (1 <= len(name) <= MAX_NAME and NAME_PATTERN.fullmatch(name)):
            raise ValueError(f"invalid name {name!r}: 1-63 of [a-zA-Z0-9-_], starting with a letter or digit")


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        emulator: PersonalizeEmulator = self.server.owner
        raw = self.read_body()
        status, body = emulator.handle(self.headers.get("X-Amz-Target"), bool(self.headers.get("Authorization")), raw)
        if not isinstance(body, RawBody):
            body = RawBody(json.dumps(body, separators=(",", ":")).encode())
        self.send_body(status, body.data, body.content_type, {"x-amzn-RequestId": str(uuid.uuid4())})


PersonalizeEmulator.handler_class = _Handler

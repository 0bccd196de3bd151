"""The export's file: RFC 4180 CSV in UTF-8, one row per job, every cell safe to open in a spreadsheet.

The bytes depend only on the jobs (no time of generation, no requester), so the same jobs give the same file
from Slack and from the command line, and its SHA-256 identifies it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from services.models import DeletionJobDetails

COLUMNS = (
    "job_name", "job_arn", "dataset_group_name", "dataset_group_arn", "status", "created_utc", "last_updated_utc",
    "num_deleted", "data_location", "role_arn", "failure_reason",
)
# A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV injection"): `=HYPERLINK(…)`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_cell(value: object) -> str:
    """`value` as text a spreadsheet shows as text: a leading `'` before a formula start; "" for None.

    Lone surrogates (possible in JSON, impossible in UTF-8) become U+FFFD rather than failing the file.
    """
    if value is None:
        return ""
    text = _LONE_SURROGATE.sub("\ufffd", str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def iso_utc(moment: datetime | None) -> str:
    """`2026-11-29T07:46:42Z`; "" when unknown."""
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def job_row(details: DeletionJobDetails) -> list[str]:
    job = details.job
    # Records deleted means something only once a job has COMPLETED.
    num_deleted = details.num_deleted if job.status == "COMPLETED" else None
    cells = (
        job.name, job.arn, job.dataset_group_name, job.dataset_group_arn, job.status, iso_utc(job.created),
        iso_utc(job.updated), num_deleted, details.data_location, details.role_arn, job.failure_reason,
    )
    return [safe_cell(cell) for cell in cells]


def write_csv(rows: Iterable[DeletionJobDetails]) -> bytes:
    """Header and one row per job, in the order given; CRLF line ends and quoting as RFC 4180 says."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    writer.writerows(job_row(details) for details in rows)
    return buffer.getvalue().encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

"""The export's file: columns, RFC 4180 quoting, UTC times, records deleted only for COMPLETED jobs, and cells a
spreadsheet cannot run as formulas, for any text AWS may send."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.export.csv_export import COLUMNS, FORMULA_STARTS, iso_utc, job_row, safe_cell, sha256_hex, write_csv
from services.models import DeletionJob, DeletionJobDetails

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
CREATED = datetime(2026, 11, 29, 7, 46, 42, 123000, tzinfo=UTC)


def details(status: str = "COMPLETED", *, num_deleted: int | None = 12, reason: str | None = None,
            name: str = "gdpr-1", location: str | None = "s3://bucket/gdpr-1.csv") -> DeletionJobDetails:
    job = DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{name}", name=name,
                      dataset_group_arn=GROUP, status=status, created=CREATED,
                      updated=CREATED + timedelta(minutes=5), failure_reason=reason)
    return DeletionJobDetails(job=job, num_deleted=num_deleted, data_location=location,
                              role_arn="arn:aws:iam::123456789012:role/Deleter")


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_header_then_one_row_per_job_in_the_order_given():
    rows = parse(write_csv([details(name="a"), details("FAILED", name="b", reason="bad file"), details(name="c")]))
    assert rows[0] == list(COLUMNS)
    assert [row[0] for row in rows[1:]] == ["a", "b", "c"]
    assert rows[1] == [
        "a", "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/a", "media-feed", GROUP, "COMPLETED",
        "2026-11-29T07:46:42Z", "2026-11-29T07:51:42Z", "12", "s3://bucket/gdpr-1.csv",
        "arn:aws:iam::123456789012:role/Deleter", "",
    ]


def test_no_jobs_is_the_header_alone():
    assert write_csv([]) == (",".join(COLUMNS) + "\r\n").encode()


@pytest.mark.parametrize("status", ["PENDING", "IN_PROGRESS", "FAILED", "SOMETHING_NEW"])
def test_num_deleted_only_for_completed_jobs(status):
    assert job_row(details(status, num_deleted=7))[COLUMNS.index("num_deleted")] == ""
    assert job_row(details("COMPLETED", num_deleted=7))[COLUMNS.index("num_deleted")] == "7"
    assert job_row(details("COMPLETED", num_deleted=0))[COLUMNS.index("num_deleted")] == "0"
    assert job_row(details("COMPLETED", num_deleted=None))[COLUMNS.index("num_deleted")] == ""


def test_times_are_iso_8601_utc_whatever_zone_boto3_gave():
    berlin = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2026, 11, 29, 8, 46, 42, tzinfo=berlin)) == "2026-11-29T07:46:42Z"
    assert iso_utc(datetime(2026, 11, 29, 7, 46, 42)) == "2026-11-29T07:46:42Z"
    assert iso_utc(None) == ""


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_starting_like_a_formula_gets_a_leading_quote(start):
    assert safe_cell(start + "1+1") == "'" + start + "1+1"


def test_the_hyperlink_attack_arrives_as_text():
    reason = '=HYPERLINK("http://x","y")'
    data = write_csv([details("FAILED", reason=reason)])
    assert parse(data)[1][COLUMNS.index("failure_reason")] == "'" + reason
    # RFC 4180: the cell is quoted and its quotes doubled.
    assert b'"\'=HYPERLINK(""http://x"",""y"")"' in data


@pytest.mark.parametrize("text", ["a,b", 'say "hi"', "line\nbreak", "cr\rlf\r\n", "é 🦄", " =not at start", ""])
def test_rfc_4180_quoting_round_trips(text):
    data = write_csv([details("FAILED", reason=text)])
    assert parse(data)[1][COLUMNS.index("failure_reason")] == text
    assert data.endswith(b"\r\n")


@given(st.text())
def test_any_failure_reason_round_trips_and_never_starts_a_formula(reason):
    cell = parse(write_csv([details("FAILED", reason=reason)]))[1][COLUMNS.index("failure_reason")]
    clean = re.sub("[\ud800-\udfff]", "\ufffd", reason)
    assert cell == ("'" + clean if clean[:1] in ("=", "+", "-", "@", "\t", "\r") else clean)
    assert not cell.startswith(FORMULA_STARTS)


def test_lone_surrogates_become_replacement_characters_not_a_failed_file():
    assert safe_cell("a\ud800b") == "a\ufffdb"
    write_csv([details("FAILED", reason="\udfff")]).decode("utf-8")


def test_sha256_is_of_the_bytes():
    data = write_csv([details()])
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()

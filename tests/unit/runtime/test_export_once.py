"""`python bot.py export`'s function: exit codes, messages, the audit line, and nothing at --out unless it succeeded.
(The end-to-end test runs the real command against the emulator: tests/e2e/test_export.py.)"""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from runtime.export_once import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, run_export_once
from services.audit import AuditLog
from services.errors import AwsThrottled, ExportIncomplete, ExportTooLarge
from services.models import ExportFile, ExportFilter


class ScopedGateway:
    @contextmanager
    def scope(self, deadline_seconds=None):
        yield SimpleNamespace(calls=0, attempts=0, request_ids=[])


class FakeExport:
    def __init__(self, outcome):
        self.outcome = outcome
        self.commands = []

    def filter_for(self, command, *, user_id=None):
        self.commands.append(command)
        return ExportFilter(None, command.status, since=command.since or date(2026, 10, 1), until=command.until)

    def export(self, export_filter, *, generated_by, generated_via, progress=None, lease=None):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return ExportFile(filter=export_filter, filename="f.csv", data=self.outcome, sha256="c0ffee" * 10 + "abcd",
                          by_status=(("FAILED", 2),), generated_at=datetime(2026, 11, 30, tzinfo=UTC),
                          generated_by=generated_by, generated_via=generated_via, scanned=2, list_calls=1,
                          describe_calls=2)


def run(outcome, tmp_path, caplog, **options):
    caplog.set_level(logging.INFO, logger="deletion_jobs.audit")
    out, err = io.StringIO(), io.StringIO()
    code = run_export_once(FakeExport(outcome), AuditLog(ScopedGateway()), out_path=str(tmp_path / "x.csv"),
                           stdout=out, stderr=err, **options)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "deletion_jobs.audit"]
    return code, out.getvalue(), err.getvalue(), line


def test_a_written_export_prints_the_summary_and_hash(tmp_path, caplog):
    code, out, err, audit = run(b"header\r\nrow\r\n", tmp_path, caplog, status="failed", since="2026-10-01")
    assert code == EXIT_OK and (tmp_path / "x.csv").read_bytes() == b"header\r\nrow\r\n"
    assert "SHA-256: " + "c0ffee" * 10 + "abcd" in out and "via the command line" in out and err == ""
    assert (audit["outcome"], audit["sha256"], audit["filter"]["status"]) == ("ok", "c0ffee" * 10 + "abcd", "FAILED")


@pytest.mark.parametrize(("outcome", "says"), [
    (ExportTooLarge(12_000, 10_000), "would hold 12,000 deletion jobs"),
    (ExportIncomplete(3, 9, AwsThrottled("Rate exceeded")), "no file was made"),
])
def test_a_failed_export_exits_1_with_the_reason_and_writes_nothing(tmp_path, caplog, outcome, says):
    code, out, err, audit = run(outcome, tmp_path, caplog)
    assert code == EXIT_FAILED and says in err and out == ""
    assert not (tmp_path / "x.csv").exists() and audit["outcome"] == "user_error"
    assert not [r for r in caplog.records if r.exc_info]


def test_ctrl_c_exits_130_writes_nothing_and_the_audit_line_says_so(tmp_path, caplog):
    code, _, err, audit = run(KeyboardInterrupt(), tmp_path, caplog)
    assert code == EXIT_INTERRUPTED and "interrupted" in err
    assert not (tmp_path / "x.csv").exists() and audit["outcome"] == "interrupted"


def test_an_unexpected_error_exits_1_and_is_logged_with_its_traceback(tmp_path, caplog):
    code, _, err, audit = run(RuntimeError("bug"), tmp_path, caplog)
    assert code == EXIT_FAILED and "Something went wrong" in err and audit["outcome"] == "error"
    assert [r for r in caplog.records if r.exc_info]


def test_an_out_path_that_cannot_be_written_is_refused_before_the_export(tmp_path, caplog):
    export = FakeExport(b"x")
    code = run_export_once(export, AuditLog(ScopedGateway()), out_path=str(tmp_path / "missing" / "x.csv"),
                           stdout=io.StringIO(), stderr=io.StringIO())
    assert code == EXIT_USAGE and export.commands == []

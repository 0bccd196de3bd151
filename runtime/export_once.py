"""`python bot.py export`: the Slack export's file and summary, written to a file and printed, for people without
Slack and for scripts. Same jobs, same bytes as `/deletion-jobs export`.

Exit codes: 0 written; 1 the export failed (AWS, too many jobs, the file could not be written); 2 the arguments
(a date, status or dataset group that cannot be used); 130 interrupted (Ctrl-C). Nothing is left at `--out`
unless the export succeeded.
"""

from __future__ import annotations

import html
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from blocks.errors import render_error
from blocks.export import export_summary_text
from services.errors import (
    AccessRefused,
    BotError,
    CommandError,
    DatasetGroupNotFound,
    ForeignDatasetGroupArn,
    MalformedArn,
)
from services.listing.command_parser import check_group, export_command, normalise_status, parse_date

logger = logging.getLogger("deletion_jobs.export")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_ARGUMENT_ERRORS = (CommandError, MalformedArn, DatasetGroupNotFound, ForeignDatasetGroupArn, AccessRefused)
_EMOJI = re.compile(r"^:[a-z_]+: ")


def command_from_args(dataset_group: str | None, status: str | None, since: str | None, until: str | None):
    """The ExportCommand the options stand for, checked as the Slack command checks its words."""
    normalised = None
    if status is not None:
        normalised = normalise_status(status)
        if normalised is None:
            raise CommandError("not a status", status)
    return export_command(
        check_group(dataset_group) if dataset_group else None, normalised,
        parse_date(since, "since") if since else None, parse_date(until, "until") if until else None,
    )


def run_export_once(service, audit, *, dataset_group: str | None = None, status: str | None = None,
                    since: str | None = None, until: str | None = None, out_path: str,
                    stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    who = operator_name()
    with audit.record("export", team=None, user=who, channel="command-line") as record:
        try:
            command = command_from_args(dataset_group, status, since, until)
            check_writable(Path(out_path))
            export_filter = service.filter_for(command)
            record.note(command="ExportCommand", filter=export_filter.as_audit())
            export = service.export(export_filter, generated_by=who, generated_via="the command line")
            write_atomically(Path(out_path), export.data)
        except KeyboardInterrupt:
            record.note(outcome="interrupted")
            print("bot.py export: interrupted; nothing was written", file=stderr)
            return EXIT_INTERRUPTED
        except _ARGUMENT_ERRORS as err:
            record.note(outcome="user_error", error=type(err).__name__)
            print(f"bot.py export: {plain_text(err)}", file=stderr)
            return EXIT_USAGE
        except Exception as err:  # noqa: BLE001 - every failure is a message and exit code 1; the unexpected logged
            # As in Slack (handlers/failures.py): a BotError is an answer, anything else an error with its traceback.
            record.note(outcome="user_error" if isinstance(err, BotError) else "error", error=type(err).__name__)
            if not isinstance(err, BotError | OSError):
                logger.exception("export failed unexpectedly")
            print(f"bot.py export FAILED: {plain_text(err)}", file=stderr)
            return EXIT_FAILED
        record.note(results=export.rows, by_status=dict(export.by_status), sha256=export.sha256,
                    bytes=len(export.data), list_calls=export.list_calls, describe_calls=export.describe_calls,
                    out=str(out_path))
    print(export_summary_text(export), file=stdout)
    print(f"Wrote {export.rows:,} rows to {out_path}", file=stdout)
    return EXIT_OK


def plain_text(err: Exception) -> str:
    """The Slack answer's text for `err` (blocks/errors.py), as plain text for a terminal."""
    if isinstance(err, OSError):
        return f"cannot write the file: {err.strerror or err} ({err.filename or ''})"
    if isinstance(err, CommandError):
        return f"{err.problem}" + (f": {err.token}" if err.token else "")
    text = html.unescape(render_error(err)["text"]).replace("`", "")
    return _EMOJI.sub("", text).replace("\n", " ")


def check_writable(path: Path) -> None:
    """Before a long export: CommandError when `--out` cannot be written."""
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise CommandError("--out must name a file in a folder that exists and can be written", str(path))


def write_atomically(path: Path, data: bytes) -> None:
    """The whole file or nothing: written beside `path`, then renamed over it."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or Path("."))
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def operator_name() -> str:
    """Who ran the command, for the summary and the audit line: the account of the process (not $USER, which
    anyone can set, and only config/ reads the environment)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"

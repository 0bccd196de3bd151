"""Reading what the bot logged: its audit lines, everything a log could show, and the bot's own logging set-up."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from config.logging import configure_logging

AUDIT_LOGGER = "deletion_jobs.audit"


def audit_lines(caplog) -> list[dict]:
    """The audit lines (one JSON object per command or click), in order."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]


def everything_logged(caplog, stream: io.StringIO) -> str:
    """All captured output: caplog's formatted text, every record's message and arguments, the bot's stream."""
    parts = [caplog.text, stream.getvalue()]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(logging.Formatter().format(record))
    return "\n".join(parts)


def tracebacks(caplog) -> list[logging.LogRecord]:
    """Records that carry an exception: each would print a traceback in the log."""
    return [r for r in caplog.records if r.exc_info]


def wait_for_log(caplog, text: str, *, times: int = 1, or_else: str | None = None, timeout: float = 60) -> str:
    """Poll the log until `text` appears `times` times (or `or_else` does); returns the log then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if caplog.text.count(text) >= times or (or_else and or_else in caplog.text):
            return caplog.text
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout}s for {times}x {text!r} in the log")


@contextmanager
def bot_logging_installed(caplog) -> Iterator:
    """`install(level)`: the bot's real logging set-up (as `main` and gunicorn's `create_app` install it) writing
    to a StringIO, with pytest's caplog listening too. Undone afterwards, so other tests see logging as they left
    it."""
    root = logging.getLogger()
    saved_level, saved_factory = root.level, logging.getLogRecordFactory()
    saved_levels = {name: logging.getLogger(name).level for name in ("botocore", "urllib3")}
    stream = io.StringIO()

    def install(level: str) -> io.StringIO:
        configure_logging(level, stream=stream)
        caplog.set_level(level)
        return stream

    try:
        yield install
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_deletion_jobs", False):
                root.removeHandler(handler)
        root.setLevel(saved_level)
        logging.setLogRecordFactory(saved_factory)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)

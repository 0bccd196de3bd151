"""Logging set-up: one format for every process, and no request bodies, secrets or response URLs in any line."""

from __future__ import annotations

import logging
import re
import sys

# Bolt's signature-failure and missing-ack lines carry the raw request body; drop that part.
_BODY = re.compile(r"(body: ?|for the request \().*", re.DOTALL)
_TOKENS = re.compile(r"xox[abposre]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")
# A response_url lets whoever holds it post as the app for 30 minutes. Slack's live on hooks.slack.com (and
# hooks.slack-gov.com); the local Slack stub's (devtools/slack_stub.py) end in `/response/<key>`. Matched as
# written, JSON-escaped (`https:\/\/…`) and form-encoded (`https%3A%2F%2F…`), as a request body carries them.
_SEP = r"(?:/|\\+/|%2F)"
_RESPONSE_URLS = re.compile(
    rf"https?(?::|%3A){_SEP}{_SEP}(?:hooks\.slack(?:-gov)?\.com|[^\s/\\'\"<>|]+?{_SEP}response){_SEP}"
    r"[A-Za-z0-9_.~%/\\-]*",
    re.IGNORECASE,
)


def redact(record: logging.LogRecord) -> logging.LogRecord:
    """Remove request bodies from Bolt's lines, and Slack tokens and response URLs from every line."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is left for logging to report
        return record
    cleaned = message
    if record.name.startswith("slack_bolt") and ("body" in message or "for the request (" in message):
        cleaned = _BODY.sub(r"\1[redacted]", cleaned)
    cleaned = _scrub(cleaned)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        # A traceback can quote a URL or token too: format it now, cleaned; formatters use exc_text as it is.
        record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
    return record


def _scrub(text: str) -> str:
    text = _TOKENS.sub("[redacted-token]", text)
    return _RESPONSE_URLS.sub("[redacted-response-url]", text)


def install_redaction() -> None:
    """Redact at record creation, so every handler (and pytest's caplog) sees the clean text."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_redacting", False):
        return

    def redacting_factory(*args, **kwargs):
        return redact(factory(*args, **kwargs))

    redacting_factory._redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)


def configure_logging(level: str = "INFO", *, stream=None) -> None:
    install_redaction()
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for existing in list(root.handlers):
        if getattr(existing, "_deletion_jobs", False):
            root.removeHandler(existing)
    handler._deletion_jobs = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # botocore at DEBUG prints signed headers; keep it quiet unless asked for explicitly.
    logging.getLogger("botocore").setLevel(max(logging.getLevelName(level), logging.INFO))
    logging.getLogger("urllib3").setLevel(max(logging.getLevelName(level), logging.INFO))
    # slack_sdk at DEBUG prints response_urls (short-lived links that can post as the bot) and whole messages.
    logging.getLogger("slack_sdk").setLevel(max(logging.getLevelName(level), logging.INFO))

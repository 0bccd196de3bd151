"""`/deletion-jobs export` messages: preparing, progress, the summary that comes with the file, and the same
summary as plain text for `python bot.py export`.

The summary is the file's tamper evidence: the filter, the jobs by status, when and by whom it was generated, and
the file's SHA-256. Everything a person or AWS wrote is escaped.
"""

from __future__ import annotations

import re

from blocks.mrkdwn import escape, escape_truncated, fallback, mrkdwn
from services.models import ExportFile, ExportFilter, ExportProgress, dataset_group_name

_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")


def filter_text(export_filter: ExportFilter) -> str:
    """Plain text: `dataset group media-feed · status FAILED · created 2026-10-31 to 2026-11-30 (UTC; …)`."""
    group = export_filter.dataset_group_arn
    if group:
        where = f"dataset group {dataset_group_name(group)} ({group})"
    elif export_filter.allowed_groups_only:
        where = "every dataset group that ALLOWED_DATASET_GROUPS lets this bot show"
    else:
        where = "every dataset group"
    status = f"status {export_filter.status}" if export_filter.status else "any status"
    if export_filter.until:
        when = f"created {export_filter.since} to {export_filter.until} (UTC; until exclusive)"
    else:
        when = f"created from {export_filter.since} (UTC) to the time of the export"
    return f"{where} · {status} · {when}"


def status_counts_text(export: ExportFile) -> str:
    counts = " · ".join(f"{status} {count:,}" for status, count in export.by_status)
    return f"{export.rows:,} job{'' if export.rows == 1 else 's'}" + (f" ({counts})" if counts else "")


def _summary(export: ExportFile, *, markup: bool) -> list[tuple[str, str]]:
    """(label, value) pairs: escaped mrkdwn with the requester as a mention when `markup`, else plain text.

    In mrkdwn each value is cut to its share of a section's 3000 characters, so the SHA-256 always shows.
    """
    def text(value: str, limit: int) -> str:
        return escape_truncated(value, limit) if markup else value

    by = _mention(export.generated_by) if markup else export.generated_by
    return [
        ("Filter", text(filter_text(export.filter), 900)),
        ("Jobs", text(status_counts_text(export), 500)),
        ("Generated", f"{export.generated_at:%Y-%m-%dT%H:%M:%SZ} by {by} via {text(export.generated_via, 100)}"),
        ("File", text(f"{export.filename} ({len(export.data):,} bytes, CSV, UTF-8)", 300)),
        ("SHA-256", f"`{export.sha256}`" if markup else export.sha256),
    ]


def _mention(user_id: str) -> str:
    return f"<@{user_id}>" if _USER_ID.match(user_id) else escape_truncated(user_id, 100)


def export_comment(export: ExportFile) -> str:
    """mrkdwn that goes with the file into the DM (files_upload_v2's initial_comment)."""
    lines = ["*Deletion jobs export* for auditors."]
    lines += [f"*{label}:* {value}" for label, value in _summary(export, markup=True)]
    return fallback("\n".join(lines))


def export_summary_text(export: ExportFile) -> str:
    """The same summary as plain text, for the command line."""
    return "\n".join(f"{label}: {value}" for label, value in _summary(export, markup=False))


def render_export_preparing(export_filter: ExportFilter) -> dict:
    text = (f":hourglass_flowing_sand: Preparing your export of deletion jobs: {escape(filter_text(export_filter))}."
            "\nI will send the CSV file to our direct messages when it is ready.")
    return {"text": fallback(text), "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def render_export_progress(progress: ExportProgress) -> dict:
    text = (f":hourglass_flowing_sand: Preparing your export: read details of {progress.described:,} of"
            f" {progress.total:,} jobs.")
    return {"text": fallback(text), "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def render_export_done(export: ExportFile) -> dict:
    """The requester's answer once the file is in their DM."""
    head = (f":white_check_mark: Your export is ready: `{escape_truncated(export.filename, 300)}` is in our direct"
            " messages, with this summary.")
    body = "\n".join(f"*{label}:* {value}" for label, value in _summary(export, markup=True))
    return {"text": fallback(f"{head}\n{body}"),
            "blocks": [{"type": "section", "text": mrkdwn(head)}, {"type": "section", "text": mrkdwn(body)}]}

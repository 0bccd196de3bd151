"""What Slack said, as one short code: the Web API's `error` field, or `http_<status>` for an answer without one."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def slack_error_code(err: SlackApiError) -> str:
    """`not_in_channel`, `invalid_auth`, …; `http_503` when the body was not a Web API answer (a proxy's page)."""
    response = err.response
    data = response.data if isinstance(response.data, dict) else {}
    return data.get("error") or f"http_{response.status_code}"

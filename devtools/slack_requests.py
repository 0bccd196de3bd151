"""Builds and sends signed requests the way Slack does: slash commands, button clicks and Events API callbacks.

Typical use::

    body = slash_command_body("failed", response_url=slack.response_url())
    status, text, elapsed = post(app_url, body, sign(SECRET, body))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

API_APP_ID = "A0DELJOBS"
# The legacy verification token Slack still sends in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "verification-token-unused"

# Loopback only: never let an HTTP(S)_PROXY variable reroute a local request.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign(signing_secret: str, body: str, timestamp: int | None = None, *, content_type: str = FORM) -> dict[str, str]:
    """Headers Slack sends with `body`: v0 HMAC-SHA256 signature over `v0:{ts}:{body}`. Commands and clicks are
    form-encoded; Events API callbacks are JSON (`content_type=JSON`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def retry_headers(retry_num: int, reason: str = "http_timeout") -> dict[str, str]:
    """What Slack adds when it sends an event again: it saw no 200 within 3 s (`http_timeout`) or got an error."""
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}


def new_trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def slash_command_body(
    text: str,
    *,
    command: str = "/deletion-jobs",
    user_id: str = "U123",
    user_name: str = "ada",
    channel_id: str = "C123",
    channel_name: str = "privacy-ops",
    team_id: str = "T1",
    team_domain: str = "acme",
    response_url: str,
    trigger_id: str | None = None,
) -> str:
    """Form-encoded body of a slash command, fields in Slack's order."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or new_trigger_id(),
        }
    )


def block_action_body(
    *,
    action_id: str,
    value: str,
    block_id: str = "b",
    user_id: str = "U123",
    user_name: str = "ada",
    channel_id: str = "C123",
    channel_name: str = "privacy-ops",
    team_id: str = "T1",
    team_domain: str = "acme",
    response_url: str,
    message: dict | None = None,
    container_ephemeral: bool = True,
    trigger_id: str | None = None,
) -> str:
    """Form-encoded `payload=<json>` body of a button click (`type: block_actions`)."""
    now = time.time()
    message_ts = (message or {}).get("ts") or f"{now - 5:.6f}"
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": container_ephemeral,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [_clicked_button(action_id, block_id, value, now)],
    }
    # Slack leaves the message out for ephemeral messages: the app never sees them again.
    if message is not None:
        payload["message"] = message
    return urlencode({"payload": json.dumps(payload)})


def view_action_body(
    *,
    action_id: str,
    value: str,
    block_id: str = "b",
    user_id: str = "U123",
    user_name: str = "ada",
    team_id: str = "T1",
    team_domain: str = "acme",
    view_type: str = "home",
    view_id: str = "VHOME0001",
    trigger_id: str | None = None,
) -> str:
    """Form-encoded `payload=<json>` body of a click on a view (the Home tab, a modal): no channel, no
    response_url; the answer goes through views.* with the `trigger_id` or the view's id."""
    now = time.time()
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {"id": view_id, "team_id": team_id, "type": view_type, "blocks": [], "private_metadata": "",
                 "callback_id": "", "state": {"values": {}}, "hash": f"{int(now)}.abc", "app_id": API_APP_ID,
                 "bot_id": "BBOT"},
        "actions": [_clicked_button(action_id, block_id, value, now)],
    }
    return urlencode({"payload": json.dumps(payload)})


def new_event_id() -> str:
    return "Ev" + secrets.token_hex(5).upper()


def app_home_opened_event(user_id: str = "U123", *, tab: str = "home", channel: str = "D0HOME1") -> dict[str, Any]:
    """The `event` of an `app_home_opened` callback: the person opened the app's Home (or Messages) tab."""
    return {"type": "app_home_opened", "user": user_id, "channel": channel, "tab": tab,
            "event_ts": f"{time.time():.6f}"}


def event_callback_body(event: dict[str, Any], *, event_id: str | None = None, team_id: str = "T1") -> str:
    """JSON body of an Events API delivery. Slack sends a retry with the same `event_id` (and retry headers)."""
    return json.dumps({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "UBOT", "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    })


def _clicked_button(action_id: str, block_id: str, value: str, now: float) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
            "action_ts": f"{now:.6f}"}


def post(url: str, body: str, headers: dict[str, str], timeout: float = 10) -> tuple[int, str, float]:
    """POST `body`; returns (HTTP status, response text, seconds taken). HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", errors="replace")
    return status, text, time.perf_counter() - started

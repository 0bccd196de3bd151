"""What a signed Slack payload must look like before Bolt dispatches it to the listeners.

Bolt builds every listener and middleware argument up front (`action` is `body["actions"][0]`), and the click
handler reads `user.id`: a signed but malformed payload would end in a traceback and an HTTP 500. `web.py`
answers 400 with the problem this module names instead.
"""

from __future__ import annotations

from typing import Any


def payload_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with `body` for the listeners to read it, or None when nothing is."""
    kind = body.get("type")
    if kind == "block_actions":
        return _block_actions_problem(body)
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback without an event object"
    return None


def _block_actions_problem(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not _is_id(user.get("id")):
        return "block_actions without a user object"
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "block_actions without actions"
    for action in actions:
        if not isinstance(action, dict) or not _is_id(action.get("action_id")):
            return "block_actions with an action that has no action_id"
        if not isinstance(action.get("value", ""), str):
            return "block_actions with a value that is not a string"
    for name in ("team", "channel", "container"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"block_actions whose {name} is not an object"
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value)

"""Who sent a Slack request and from where, read the same way for commands and clicks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requester:
    team_id: str | None
    user_id: str | None
    channel_id: str | None

    @classmethod
    def from_command(cls, command: dict) -> Requester:
        return cls(command.get("team_id"), command.get("user_id"), command.get("channel_id"))

    @classmethod
    def from_action_body(cls, body: dict) -> Requester:
        return cls(
            (body.get("team") or {}).get("id"),
            (body.get("user") or {}).get("id"),
            (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id"),
        )

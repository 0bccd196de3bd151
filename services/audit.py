"""AuditLog: one structured line per command or click: who, where, what was asked, what it cost."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

logger = logging.getLogger("deletion_jobs.audit")


@dataclass
class AuditRecord:
    event: str
    team: str | None
    user: str | None
    channel: str | None
    fields: dict = field(default_factory=dict)

    def note(self, **values) -> None:
        self.fields.update(values)


class AuditLog:
    def __init__(self, gateway, *, metrics=None):
        self._gateway = gateway
        # services.metrics.Metrics: each command and click also counted by kind and outcome.
        self._metrics = metrics

    @contextmanager
    def record(self, event: str, *, team: str | None, user: str | None, channel: str | None) -> Iterator[AuditRecord]:
        """Run the block inside an AWS call scope and log one JSON line when it ends, whatever happens."""
        started = time.monotonic()
        record = AuditRecord(event=event, team=team, user=user, channel=channel)
        with self._gateway.scope() as scope:
            try:
                yield record
            except Exception as err:
                record.note(outcome="error", error=type(err).__name__)
                raise
            finally:
                line = {
                    "audit": event,
                    "team": team,
                    "user": user,
                    "channel": channel,
                    **record.fields,
                    "aws_calls": scope.calls,
                    "aws_attempts": scope.attempts,
                    "aws_request_ids": scope.request_ids[-3:],
                    "latency_ms": round((time.monotonic() - started) * 1000, 1),
                }
                line.setdefault("outcome", "ok")
                logger.info(json.dumps(line, default=str, ensure_ascii=False))
                self._count(event, line)

    def _count(self, event: str, line: dict) -> None:
        if self._metrics is None:
            return
        if event == "command":
            self._metrics.command(command_label(line.get("command")), line["outcome"])
        elif event == "click":
            self._metrics.click(str(line.get("action") or "unknown"), line["outcome"])


def command_label(parsed_type: str | None) -> str:
    """`ListCommand` → `list`: the kind of command, never its text. `unparsed` when it was refused or invalid."""
    if not parsed_type:
        return "unparsed"
    return parsed_type.removesuffix("Command").lower() or "unparsed"

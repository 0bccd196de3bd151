"""What a digest run did: a `ChannelOutcome` per channel, built by `channel_outcome` alone and never changed after,
and the `DigestRun` that holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.models import DigestWindow, Subscription
from services.storage.store import CHECK_DATABASE_URL

DATABASE_ERROR = "database_unavailable"
DATABASE_FIX = (f"{CHECK_DATABASE_URL}; failures not recorded as posted are offered again by the next run once"
                " DIGEST_CLAIM_TTL_MINUTES has passed")
CLAIM_LOST = "claim_taken_over"
STOPPED = "stopped"
STOPPED_FIX = "the run was asked to stop (SIGTERM); the next run posts what this one did not"


@dataclass(frozen=True)
class Failure:
    """Why a channel got no (or only part of its) digest: a short code for logs and exit status, and the fix."""

    error: str
    fix: str | None


DATABASE_FAILURE = Failure(DATABASE_ERROR, DATABASE_FIX)
STOPPED_FAILURE = Failure(STOPPED, STOPPED_FIX)


class StopRequested(Exception):  # noqa: N818 - a signal between the run's pieces, not an error
    """Raised inside a run, before anything is claimed, when a stop was requested; `calls` were made before it."""

    def __init__(self, calls: int = 0):
        super().__init__(calls)
        self.calls = calls


@dataclass
class Progress:
    """How far one channel's digest got in this run; counted by the channel's delivery alone."""

    # Failures this run claimed for the channel (a dry run: those it would post).
    found: int = 0
    reported: int = 0
    messages_posted: int = 0
    # Failures of a message Slack took whose mark is not written yet: the ones a database failure leaves unrecorded.
    unrecorded: int = 0

    def posted(self, failures: int) -> None:
        """A message of `failures` failures reached the channel and is recorded (0: the "nothing failed" line)."""
        self.messages_posted += 1
        self.reported += failures
        self.unrecorded = 0

    def posted_so_far(self) -> str:
        """For log lines: "; 12 already posted in 1 message(s)", or nothing when nothing was."""
        if not self.messages_posted:
            return ""
        return f"; {self.reported} already posted in {self.messages_posted} message(s)"


@dataclass(frozen=True)
class ChannelOutcome:
    """What a run did for one channel."""

    channel_id: str
    dataset_group_arn: str | None = None
    window: DigestWindow | None = None
    found: int = 0
    reported: int = 0
    messages_posted: int = 0
    error: str | None = None
    fix: str | None = None
    # A dry run's messages, as they would be posted.
    messages: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def channel_outcome(
    channel_id: str,
    *,
    subscription: Subscription | None = None,
    window: DigestWindow | None = None,
    progress: Progress | None = None,
    failure: Failure | None = None,
    messages: Sequence[dict] = (),
) -> ChannelOutcome:
    """Every ChannelOutcome of a run is made here."""
    progress = progress or Progress()
    return ChannelOutcome(
        channel_id,
        dataset_group_arn=subscription.dataset_group_arn if subscription else None,
        window=window,
        found=progress.found,
        reported=progress.reported,
        messages_posted=progress.messages_posted,
        error=failure.error if failure else None,
        fix=failure.fix if failure else None,
        messages=list(messages),
    )


@dataclass(frozen=True)
class DigestRun:
    started: datetime
    outcomes: list[ChannelOutcome] = field(default_factory=list)
    list_calls: int = 0
    # Set when the run stopped before reaching its channels (the database did not answer).
    error: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(outcome.ok for outcome in self.outcomes)

    def outcome(self, channel_id: str) -> ChannelOutcome | None:
        return next((o for o in self.outcomes if o.channel_id == channel_id), None)

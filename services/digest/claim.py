"""Claiming for a digest run: which of a channel's failures to offer, and this run's hold on them in the ledger.

`offered_failures` picks the failures of the channel's window plus those a failed earlier run left unposted;
`ChannelClaim` takes them once, renews them right before each post, and marks each message's failures posted or
releases the rest. The ledger (services/storage/ledger.py) decides every race; this only keeps this run's side.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from services.models import DeletionJob, DigestWindow, failure_time
from services.storage.ledger import Claim, DigestLedger

logger = logging.getLogger(__name__)


def offered_failures(ledger: DigestLedger, channel: str, failed: Sequence[DeletionJob], window: DigestWindow,
                     *, forget_vanished: bool) -> list[DeletionJob]:
    """The failures to offer the channel: those in its window, and those still pending in the ledger.

    With `forget_vanished`, pending failures the read did not return are dropped from the ledger.
    """
    pending = ledger.pending(channel)
    candidates = [job for job in failed if window.includes(job) or job.arn in pending]
    if forget_vanished:
        _forget_vanished(ledger, channel, pending, {job.arn for job in candidates})
    return candidates


def _forget_vanished(ledger: DigestLedger, channel: str, pending: dict[str, datetime], offered: set[str]) -> None:
    # The read covered every pending failure's time, so one it did not return is gone from AWS (or now hidden
    # by ALLOWED_DATASET_GROUPS, or moved out of the subscription's group): keeping it would hold the window
    # open forever.
    vanished = [arn for arn in pending if arn not in offered]
    if vanished:
        dropped = ledger.forget_pending(channel, vanished)
        if dropped:
            logger.warning("digest for %s: %d unposted failure(s) are no longer listed by AWS for this"
                           " subscription; dropped them from the ledger", channel, dropped)


def not_yet_posted(ledger: DigestLedger, channel: str, candidates: Sequence[DeletionJob]) -> list[DeletionJob]:
    """The candidates the channel has not been shown (a dry run's digest: it claims nothing)."""
    posted = ledger.posted_among(channel, [job.arn for job in candidates])
    return [job for job in candidates if job.arn not in posted]


def held_elsewhere(ledger: DigestLedger, channel: str, candidates: Sequence[DeletionJob]) -> bool:
    """Whether some candidates are neither posted nor claimed by this run: another run is posting them."""
    return bool(candidates) and len(ledger.posted_among(channel, [job.arn for job in candidates])) < len(candidates)


class ChannelClaim:
    """This run's claim on one channel's failures: taken once, renewed before each post, then marked or released."""

    def __init__(self, ledger: DigestLedger, claim: Claim, jobs: Sequence[DeletionJob]):
        self._ledger = ledger
        self._claim = claim
        # The failures this run owns, in the order offered; `_unposted` loses each message's once it is marked.
        self.jobs = list(jobs)
        self._unposted = [job.arn for job in self.jobs]
        self._held: frozenset[str] = frozenset(self._unposted)

    @classmethod
    def take(cls, ledger: DigestLedger, channel: str, candidates: Sequence[DeletionJob]) -> ChannelClaim:
        """Claim every candidate no other run has posted or holds; the claim owns those."""
        claim = ledger.claim(channel, [(job.arn, failure_time(job)) for job in candidates])
        return cls(ledger, claim, [job for job in candidates if job.arn in claim.job_arns])

    @property
    def channel(self) -> str:
        return self._claim.channel_id

    def renew(self, message_jobs: Sequence[DeletionJob]) -> list[str]:
        """Re-take every unposted failure (restarting its TTL); the message's failures this run no longer holds.

        Right before a post: a failure missing from the renewal was taken over by another run (or its claim
        lapsed), and must not be posted by this one. The later messages' failures are renewed too, so a slow but
        progressing run keeps them.
        """
        self._held = self._ledger.renew(self._claim, self._unposted)
        return [job.arn for job in message_jobs if job.arn not in self._held]

    def mark_posted(self, message_jobs: Sequence[DeletionJob], *, message_ts: str | None) -> None:
        """The message reached the channel: its failures are never offered again."""
        arns = [job.arn for job in message_jobs]
        self._ledger.mark_posted(self._claim, arns, message_ts=message_ts)
        done = set(arns)
        self._unposted = [arn for arn in self._unposted if arn not in done]

    def release_held(self) -> int:
        """After a lost renewal: let the next run take, at once, the unposted failures this run still held."""
        return self._ledger.release(self._claim, [arn for arn in self._unposted if arn in self._held])

    def release_unposted(self) -> int:
        """After a failed post: let the next run take every unposted failure at once. Returns how many."""
        return self._ledger.release(self._claim, self._unposted)

    @property
    def unposted(self) -> int:
        return len(self._unposted)

    @property
    def ttl_minutes(self) -> float:
        return self._ledger.claim_ttl.total_seconds() / 60

"""One channel's digest in a run: offer its failures, claim them, render them, post each message, mark it, and
record the channel's success. Each step has its owner (claim.py, the injected renderer, post.py); this module
only puts them in order and builds the channel's outcome once, at the end.

- A refused or failed post releases the rest, logs at ERROR what the operator must do, and leaves the channel's
  watermark where it was: the next run offers every unposted failure again.
- A renewal that finds a message's failures taken over by another run skips that post and releases the rest.
- When the database stops answering, the channel stops there (logged at ERROR, no traceback): what was not
  marked posted stays claimed until the claim TTL passes, and the next run offers it again.
- When a stop is requested (SIGTERM), the post in flight is finished and marked, and the rest released at once.
- What needs attention besides failures (stuck jobs, full PENDING queues: `attention.py`) closes the digest, and
  is posted on its own when nothing new failed, whatever DIGEST_POST_EMPTY says. It is never claimed or marked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.digest.claim import ChannelClaim, held_elsewhere, not_yet_posted, offered_failures
from services.digest.outcome import (
    CLAIM_LOST,
    DATABASE_FAILURE,
    DATABASE_FIX,
    STOPPED_FAILURE,
    ChannelOutcome,
    Failure,
    Progress,
    channel_outcome,
)
from services.digest.post import DigestPoster
from services.digest.render import DigestRenderer
from services.models import Attention, DeletionJob, DigestWindow, Subscription
from services.storage.ledger import DigestLedger
from services.storage.store import database_reason
from services.storage.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)

# Posted failures older than this, before the window, can never be offered again: the ledger forgets them.
LEDGER_RETENTION = timedelta(days=30)


class ChannelDelivery:
    """Delivers one channel's digest at a time; holds no state between channels."""

    def __init__(self, subscriptions: SubscriptionStore, ledger: DigestLedger, poster: DigestPoster,
                 renderer: DigestRenderer, *, post_empty: bool = False,
                 stopping: Callable[[], bool] = lambda: False):
        self._subscriptions = subscriptions
        self._ledger = ledger
        self._poster = poster
        self._renderer = renderer
        self._post_empty = post_empty
        self._stopping = stopping

    def deliver(self, subscription: Subscription, window: DigestWindow, failed: Sequence[DeletionJob],
                *, dry_run: bool = False, attention: Attention | None = None) -> ChannelOutcome:
        """The channel's digest of these FAILED jobs (a dry run renders it and writes nothing). Never raises for
        Slack or database failures: they are the outcome's error (DATABASE_ERROR: the run should stop)."""
        progress = Progress()
        try:
            if dry_run:
                messages = self._preview(subscription, window, failed, progress, attention)
                return channel_outcome(subscription.channel_id, subscription=subscription, window=window,
                                       progress=progress, messages=messages)
            failure = self._deliver(subscription, window, failed, progress, attention)
        except SQLAlchemyError as err:
            # Every channel needs the ledger: stop here rather than post what could not be recorded.
            self._log_database_failure(subscription.channel_id, progress, err)
            failure = DATABASE_FAILURE
        return channel_outcome(subscription.channel_id, subscription=subscription, window=window,
                               progress=progress, failure=failure)

    def _preview(self, subscription: Subscription, window: DigestWindow, failed: Sequence[DeletionJob],
                 progress: Progress, attention: Attention | None) -> list[dict]:
        """A dry run's messages: what would be posted, claiming nothing."""
        channel, group = subscription.channel_id, subscription.dataset_group_arn
        candidates = offered_failures(self._ledger, channel, failed, window, forget_vanished=False)
        todo = not_yet_posted(self._ledger, channel, candidates)
        progress.found = len(todo)
        if todo or attention:
            return [message for message, _ in self._renderer.digest(todo, window=window, dataset_group_arn=group,
                                                                    attention=attention)]
        if self._post_empty:
            return [self._renderer.no_failures(window=window, dataset_group_arn=group)]
        return []

    def _deliver(self, subscription: Subscription, window: DigestWindow, failed: Sequence[DeletionJob],
                 progress: Progress, attention: Attention | None) -> Failure | None:
        channel = subscription.channel_id
        candidates = offered_failures(self._ledger, channel, failed, window, forget_vanished=True)
        claim = ChannelClaim.take(self._ledger, channel, candidates)
        progress.found = len(claim.jobs)
        if not claim.jobs:
            return self._nothing_new(subscription, window, candidates, progress, attention)
        return self._post_claimed(subscription, window, claim, progress, attention)

    def _nothing_new(self, subscription: Subscription, window: DigestWindow, candidates: Sequence[DeletionJob],
                     progress: Progress, attention: Attention | None) -> Failure | None:
        """Nothing to claim: what needs attention, or the "nothing failed" line when DIGEST_POST_EMPTY asks (and no
        other run is posting this channel's failures)."""
        channel, group = subscription.channel_id, subscription.dataset_group_arn
        elsewhere = held_elsewhere(self._ledger, channel, candidates)
        if (self._post_empty or attention) and not elsewhere:
            message = (self._renderer.digest([], window=window, dataset_group_arn=group, attention=attention)[0][0]
                       if attention else self._renderer.no_failures(window=window, dataset_group_arn=group))
            self._poster.wait_turn(channel)
            posted = self._poster.post(channel, message)
            if isinstance(posted, Failure):
                return posted
            progress.posted(0)
        logger.info("digest for %s: no new failed deletion jobs since %s%s", channel, window.since.isoformat(),
                    " (another run is posting some)" if elsewhere else "")
        self._succeeded(channel, window)
        return None

    def _post_claimed(self, subscription: Subscription, window: DigestWindow, claim: ChannelClaim,
                      progress: Progress, attention: Attention | None) -> Failure | None:
        """Each message of the claimed failures (what needs attention closes the last): paced, renewed, posted,
        marked."""
        channel = subscription.channel_id
        for message, message_jobs in self._renderer.digest(claim.jobs, window=window, attention=attention,
                                                           dataset_group_arn=subscription.dataset_group_arn):
            self._poster.wait_turn(channel)
            if self._stopping():
                return self._stopped(claim, progress)
            # Re-take the claim now, after any pacing wait: the TTL then only has to outlast this one post.
            lost = claim.renew(message_jobs)
            if lost:
                return self._claim_lost(claim, lost, progress)
            posted = self._poster.post(channel, message)
            if isinstance(posted, Failure):
                self._release_after_failed_post(claim, progress)
                return posted
            progress.unrecorded = len(message_jobs)  # until the mark below is written
            claim.mark_posted(message_jobs, message_ts=posted.ts)
            progress.posted(len(message_jobs))
        logger.info("digest for %s: posted %d failed deletion job(s) in %d message(s)",
                    channel, progress.reported, progress.messages_posted)
        self._succeeded(channel, window)
        return None

    def _succeeded(self, channel: str, window: DigestWindow) -> None:
        self._subscriptions.record_success(channel, window.until)
        self._ledger.sweep(channel, failed_before=window.read_from - LEDGER_RETENTION)

    def _release_after_failed_post(self, claim: ChannelClaim, progress: Progress) -> None:
        unposted = claim.unposted
        released = claim.release_unposted()
        logger.error("digest for %s: %d failure(s) not reported (%d released for the next run)%s",
                     claim.channel, unposted, released, progress.posted_so_far())

    def _stopped(self, claim: ChannelClaim, progress: Progress) -> Failure:
        """A stop was requested between two posts: release what is left, so the next run need not wait for the TTL."""
        released = claim.release_unposted()
        logger.warning("digest for %s stopped on request: %d failure(s) posted and recorded in %d message(s), %d"
                       " released for the next run", claim.channel, progress.reported, progress.messages_posted,
                       released)
        return STOPPED_FAILURE

    def _claim_lost(self, claim: ChannelClaim, lost: list[str], progress: Progress) -> Failure:
        """Another run took over some of this message's failures: it posts them; this run stops for the channel."""
        released = claim.release_held()
        failure = Failure(CLAIM_LOST, (
            f"this run held its failures longer than DIGEST_CLAIM_TTL_MINUTES ({claim.ttl_minutes:g}) and another"
            " run took over some of them; raise DIGEST_CLAIM_TTL_MINUTES if this repeats"))
        logger.error(
            "digest for %s: %d failure(s) of the next message are no longer held by this run (another run took them"
            " over, or the claim lapsed); not posting it, so that nothing is posted twice. %d failure(s) released"
            " for the next run%s. To fix: %s.",
            claim.channel, len(lost), released, progress.posted_so_far(), failure.fix,
        )
        return failure

    @staticmethod
    def _log_database_failure(channel: str, progress: Progress, err: SQLAlchemyError) -> None:
        unrecorded = (
            f" {progress.unrecorded} failure(s) reached the channel but could not be recorded as posted, so the"
            " next run may post them again." if progress.unrecorded else ""
        )
        logger.error(
            "digest for %s stopped: the database does not answer (%s); %d failure(s) posted in %d message(s) and"
            " recorded before that.%s Nothing else is marked reported. To fix: %s.",
            channel, database_reason(err), progress.reported, progress.messages_posted, unrecorded, DATABASE_FIX,
        )

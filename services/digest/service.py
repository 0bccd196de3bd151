"""DigestService: one digest run — read failed deletion jobs once per scope, claim them, post them, mark them.

A run, for the subscriptions it is given:

1. works out each channel's window (`services/digest/window.py`);
2. reads `ListDataDeletionJobs` once per scope (`read.py`: one dataset group, or all of them when any
   subscription wants all), newest created first, back to the earliest window start minus DIGEST_MAX_JOB_HOURS;
3. per channel (`deliver.py`), claims the FAILED jobs of its window in the ledger (`claim.py`), renders them with
   the injected renderer (`render.py`), posts them (`post.py`: at most one message per second per channel),
   renewing the claim right before each post, and marks each message's jobs posted as soon as Slack takes it;
4. stops trying channels once Slack refuses the bot's token or the database stops answering (logged at ERROR,
   no traceback): what was not marked posted is offered again by the next run;
5. when asked to stop (`request_stop()`, e.g. on SIGTERM), lets the post in flight finish and be marked, releases
   the rest of its claims at once, and tries nothing more: the next run offers them again.

This module only orders those steps across channels and says what the run did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.digest.attention import AttentionRules
from services.digest.configured import ConfiguredChannels
from services.digest.deliver import ChannelDelivery
from services.digest.outcome import (
    DATABASE_ERROR,
    DATABASE_FAILURE,
    DATABASE_FIX,
    STOPPED,
    STOPPED_FAILURE,
    STOPPED_FIX,
    ChannelOutcome,
    DigestRun,
    Failure,
    StopRequested,
    channel_outcome,
)
from services.digest.post import TOKEN_ERRORS, ChannelPacer, DigestPoster, token_failure
from services.digest.read import DigestReader, Reads
from services.digest.render import DigestRenderer
from services.digest.window import window_for
from services.errors import AwsError, NotSubscribed
from services.models import DeletionJob, DigestWindow, Subscription
from services.storage.ledger import DigestLedger
from services.storage.store import database_reason, utcnow
from services.storage.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)


class DigestService:
    def __init__(
        self,
        gateway,
        subscriptions: SubscriptionStore,
        ledger: DigestLedger,
        slack_client,
        *,
        renderer: DigestRenderer,
        lookback: timedelta,
        max_job_age: timedelta,
        post_empty: bool = False,
        configured_channels: Sequence[str] = (),
        configured_group: str | None = None,
        resolver=None,
        visible: Callable[[DeletionJob], bool] | None = None,
        pacer: ChannelPacer | None = None,
        clock=utcnow,
        attention: AttentionRules | None = None,
        metrics=None,
    ):
        self._subscriptions = subscriptions
        self._ledger = ledger
        self._lookback = lookback
        self._clock = clock
        self._configured = ConfiguredChannels(subscriptions, configured_channels, configured_group,
                                              resolver=resolver, clock=clock)
        self._stop = threading.Event()
        # Stuck jobs and full PENDING queues (attention.py), read back DIGEST_STUCK_LOOKBACK_DAYS; None: failures only.
        self._attention = attention
        self._reader = DigestReader(gateway, max_job_age=max_job_age, visible=visible, stopping=self._stop.is_set,
                                    stuck_lookback=attention.lookback if attention else None)
        poster = DigestPoster(slack_client, pacer, metrics=metrics)
        self._delivery = ChannelDelivery(subscriptions, ledger, poster, renderer, post_empty=post_empty,
                                         stopping=self._stop.is_set)

    @classmethod
    def from_settings(cls, settings, *, gateway, subscriptions, ledger, slack_client, renderer, resolver=None,
                      access=None, metrics=None):
        return cls(
            gateway,
            subscriptions,
            ledger,
            slack_client,
            renderer=renderer,
            lookback=timedelta(hours=settings.digest_lookback_hours),
            max_job_age=timedelta(hours=settings.digest_max_job_hours),
            post_empty=settings.digest_post_empty,
            configured_channels=settings.digest_channels,
            configured_group=settings.digest_dataset_group,
            resolver=resolver,
            visible=access.job_visible if access is not None and access.restricts_groups else None,
            attention=AttentionRules.from_settings(settings),
            metrics=metrics,
        )

    @property
    def subscriptions(self) -> SubscriptionStore:
        return self._subscriptions

    @property
    def configured_channels(self) -> tuple[str, ...]:
        return self._configured.channels

    # -- DIGEST_CHANNELS ------------------------------------------------------------------------------

    def configured_group_arn(self) -> str | None:
        """DIGEST_DATASET_GROUP as an ARN (a name is resolved once); DigestGroupInvalid when there is none such."""
        return self._configured.group_arn()

    def sync_configured_channels(self) -> None:
        """Store DIGEST_CHANNELS as subscriptions (scoped to DIGEST_DATASET_GROUP); raises what stopped it."""
        self._configured.sync()

    def apply_configured_channels(self, *, then: str = "") -> bool:
        """sync_configured_channels, or False and one ERROR line (ending in `then`, what happens next) when AWS or
        the database did not answer. DigestGroupInvalid, a setting to fix, is raised."""
        return self._configured.apply(then=then)

    # -- running ------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop the runs in progress, and every later one, at the next safe point: between two posts (the one in
        flight is finished and marked, the rest released), or before anything is claimed. Safe in a signal
        handler: it only sets a flag."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, channel_ids: Sequence[str] | None = None, *, dry_run: bool = False) -> DigestRun:
        """One digest for these channels' subscriptions (all when None). Never raises for AWS or Slack failures:
        they are in the outcomes, and `DigestRun.ok` is False. Nor for database failures: the run stops there."""
        now = self._clock()
        try:
            subscriptions = self._subscriptions_to_run(channel_ids, dry_run=dry_run)
            if not subscriptions:
                logger.info("digest: no subscriptions to run")
                return DigestRun(started=now)
            windows = self._windows(subscriptions, now)
        except SQLAlchemyError as err:
            # Before any channel was tried (reading subscriptions or windows); per-channel failures end up in
            # the outcomes, so that what was posted is counted.
            logger.error("digest run stopped: the database does not answer (%s). To fix: %s.",
                         database_reason(err), DATABASE_FIX)
            return DigestRun(started=now, error=DATABASE_ERROR, fix=DATABASE_FIX)
        except AwsError as err:
            # Only a dry run resolves DIGEST_DATASET_GROUP here: a real run stored DIGEST_CHANNELS before it began.
            logger.error("digest run stopped: could not resolve DIGEST_DATASET_GROUP through AWS (%s)",
                         type(err).__name__)
            return DigestRun(started=now, error=type(err).__name__, fix="see the Personalize error logged above")
        try:
            reads = self._reader.read(subscriptions, windows)
        except StopRequested as stop:
            logger.warning("digest run stopped before claiming anything: %s", STOPPED_FIX)
            return DigestRun(started=now, list_calls=stop.calls, error=STOPPED, fix=STOPPED_FIX)
        run = DigestRun(started=now, outcomes=self._deliver_each(subscriptions, windows, reads, dry_run=dry_run),
                        list_calls=reads.calls)
        _log_run(run, dry_run=dry_run)
        return run

    def run_channel(self, channel_id: str) -> ChannelOutcome:
        """`/deletion-jobs digest now`: this channel's digest at once; NotSubscribed when it has none."""
        if self._subscriptions.get(channel_id) is None:
            raise NotSubscribed(channel_id)
        run = self.run([channel_id])
        outcome = run.outcome(channel_id)
        if outcome is None and run.error:  # the database stopped answering before the channel was tried
            return channel_outcome(channel_id, failure=Failure(run.error, run.fix))
        if outcome is None:  # unsubscribed between the check and the run
            raise NotSubscribed(channel_id)
        return outcome

    def _subscriptions_to_run(self, channel_ids: Sequence[str] | None, *, dry_run: bool) -> list[Subscription]:
        stored = {s.channel_id: s for s in self._subscriptions.list()}
        subscriptions = list(stored.values())
        if dry_run:
            subscriptions += self._configured.unstored(stored)
        if channel_ids is not None:
            wanted = set(channel_ids)
            subscriptions = [s for s in subscriptions if s.channel_id in wanted]
        return subscriptions

    def _windows(self, subscriptions: Sequence[Subscription], now: datetime) -> dict[str, DigestWindow]:
        return {
            s.channel_id: window_for(
                s.last_digest_at, now=now, lookback=self._lookback,
                oldest_pending=self._ledger.oldest_pending(s.channel_id),
            )
            for s in subscriptions
        }

    def _deliver_each(self, subscriptions: Sequence[Subscription], windows: dict[str, DigestWindow], reads: Reads,
                      *, dry_run: bool) -> list[ChannelOutcome]:
        """Each channel's outcome, in order; once the token is refused or the database is gone, the rest are not
        tried and get that failure."""
        outcomes: list[ChannelOutcome] = []
        stop: Failure | None = None
        for subscription in subscriptions:
            window = windows[subscription.channel_id]
            failed = reads.failures_for(subscription)
            skip = _reason_to_skip(failed, stop, stopping=self.stopping)
            if skip is None:
                attention = reads.attention_for(subscription, self._attention, now=window.until) \
                    if self._attention else None
                outcome = self._delivery.deliver(subscription, window, failed, dry_run=dry_run, attention=attention)
                stop = _stops_the_run(outcome)
            else:
                outcome = channel_outcome(subscription.channel_id, subscription=subscription, window=window,
                                          failure=skip)
            outcomes.append(outcome)
        return outcomes


def _reason_to_skip(failed: list[DeletionJob] | AwsError, stop: Failure | None, *,
                    stopping: bool) -> Failure | None:
    """Why a channel is not tried: the database is gone, its jobs could not be read, the token was refused, or the
    run was asked to stop."""
    if stop is not None and stop.error == DATABASE_ERROR:
        return stop
    if isinstance(failed, AwsError):
        return Failure(type(failed).__name__, "see the Personalize error logged above")
    if stop is not None:
        return stop
    return STOPPED_FAILURE if stopping else None


def _stops_the_run(outcome: ChannelOutcome) -> Failure | None:
    """The failure every later channel gets without being tried: the database gone, or the token refused."""
    if outcome.error == DATABASE_ERROR:
        return DATABASE_FAILURE
    if outcome.error in TOKEN_ERRORS:
        return token_failure(outcome.error)
    return None


def _log_run(run: DigestRun, *, dry_run: bool) -> None:
    logger.info(
        "digest run%s: %d channel(s), %d ListDataDeletionJobs call(s), %d failure(s) posted in %d message(s),"
        " %d channel(s) failed",
        " (dry run)" if dry_run else "", len(run.outcomes), run.list_calls,
        sum(o.reported for o in run.outcomes), sum(o.messages_posted for o in run.outcomes),
        sum(1 for o in run.outcomes if not o.ok),
    )

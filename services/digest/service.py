"""DigestService: one digest run — read failed deletion jobs once per scope, claim them, post them, mark them.

A run, for the subscriptions it is given:

1. works out each channel's window (`services.digest_window`);
2. reads `ListDataDeletionJobs` once per scope (one dataset group, or all of them when any subscription wants
   all), newest created first, and stops at the first page that reaches jobs created before the earliest
   window start minus DIGEST_MAX_JOB_HOURS;
3. per channel, claims the FAILED jobs of its window in the ledger, posts them (several messages when large,
   at most one per second per channel), renewing the claim right before each post and skipping the post when
   another run has taken it over, and marks each message's jobs posted as soon as Slack takes it;
4. on a refused or failed post, releases the rest, logs at ERROR what the operator must do, and leaves the
   channel's watermark where it was: the next run offers every unposted failure again;
5. when the database stops answering, stops the whole run (logged at ERROR, no traceback): what was not marked
   posted stays claimed until the claim TTL passes, and the next run offers it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from blocks.digest import render_digest, render_no_failures
from services.aws.personalize import MAX_RESULTS
from services.digest.window import created_before, read_cutoff, window_for
from services.errors import (
    AwsError,
    DatasetGroupNotFound,
    DigestGroupInvalid,
    ForeignDatasetGroupArn,
    MalformedArn,
    NotSubscribed,
)
from services.models import DeletionJob, DigestWindow, Subscription, failure_time
from services.slack.error_code import slack_error_code
from services.storage.digest_store import DigestLedger, SubscriptionStore
from services.storage.store import CHECK_DATABASE_URL, utcnow

logger = logging.getLogger(__name__)

# A digest may read many pages; the gateway's per-request deadline is sized for a Slack click, not this.
READ_DEADLINE_SECONDS = 600.0
# Posted failures older than this, before the window, can never be offered again: the ledger forgets them.
LEDGER_RETENTION = timedelta(days=30)

# Slack errors no retry will fix, and what the operator has to do about each.
PERMANENT_SLACK_ERRORS = {
    "not_in_channel": "invite the bot to the channel: /invite @deletion-jobs in {channel}",
    "channel_not_found": (
        "the channel does not exist, or is private and the bot is not in it: invite the bot"
        " (/invite @deletion-jobs), or remove the subscription (/deletion-jobs digest unsubscribe, or DIGEST_CHANNELS)"
    ),
    "is_archived": (
        "the channel is archived: unarchive it, or remove the subscription"
        " (/deletion-jobs digest unsubscribe, or DIGEST_CHANNELS)"
    ),
    "invalid_auth": "SLACK_BOT_TOKEN is not valid: copy the bot token again from the app's OAuth & Permissions page",
    "not_authed": "SLACK_BOT_TOKEN is empty: set it to the bot token from the app's OAuth & Permissions page",
    "token_revoked": "the bot token was revoked: reinstall the app and set the new SLACK_BOT_TOKEN",
    "account_inactive": "the bot's token belongs to a deleted user or an uninstalled app: reinstall the app and set"
                        " the new SLACK_BOT_TOKEN",
    "missing_scope": "the app lacks the chat:write scope: add it in the app's OAuth & Permissions page and reinstall",
}
# These fail every channel alike: stop the run instead of trying each.
TOKEN_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
DATABASE_ERROR = "database_unavailable"
DATABASE_FIX = (f"{CHECK_DATABASE_URL}; failures not recorded as posted are offered again by the next run once"
                " DIGEST_CLAIM_TTL_MINUTES has passed")
CLAIM_LOST = "claim_taken_over"


@dataclass
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
    messages: list[dict] = field(default_factory=list)
    # Failures of a message Slack took whose mark is not written yet: the ones a database failure leaves unrecorded.
    unrecorded: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
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


class ChannelPacer:
    """At most one post per `interval` seconds in each channel (Slack's guidance for chat.postMessage)."""

    def __init__(self, interval: float = 1.0, *, clock=time.monotonic, sleep=time.sleep):
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def wait(self, channel_id: str) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(channel_id, now))
            # Reserve the slot before sleeping, so two threads posting to one channel queue up.
            self._next_slot[channel_id] = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


class DigestService:
    def __init__(
        self,
        gateway,
        subscriptions: SubscriptionStore,
        ledger: DigestLedger,
        slack_client,
        *,
        lookback: timedelta,
        max_job_age: timedelta,
        post_empty: bool = False,
        configured_channels: Sequence[str] = (),
        configured_group: str | None = None,
        resolver=None,
        visible: Callable[[DeletionJob], bool] | None = None,
        pacer: ChannelPacer | None = None,
        clock=utcnow,
        metrics=None,
    ):
        self._gateway = gateway
        self._subscriptions = subscriptions
        self._ledger = ledger
        self._slack = slack_client
        self._lookback = lookback
        self._max_job_age = max_job_age
        self._post_empty = post_empty
        self._configured_channels = tuple(configured_channels)
        self._configured_group = configured_group
        self._resolver = resolver
        self._visible = visible
        self._pacer = pacer or ChannelPacer()
        self._clock = clock
        # services.metrics.Metrics: every chat.postMessage counted as posted, refused or failed.
        self._metrics = metrics
        self._configured_group_arn: str | None = None

    @classmethod
    def from_settings(cls, settings, *, gateway, subscriptions, ledger, slack_client, resolver=None, access=None,
                      metrics=None):
        return cls(
            gateway,
            subscriptions,
            ledger,
            slack_client,
            lookback=timedelta(hours=settings.digest_lookback_hours),
            max_job_age=timedelta(hours=settings.digest_max_job_hours),
            post_empty=settings.digest_post_empty,
            configured_channels=settings.digest_channels,
            configured_group=settings.digest_dataset_group,
            resolver=resolver,
            visible=access.job_visible if access is not None and access.restricts_groups else None,
            metrics=metrics,
        )

    @property
    def subscriptions(self) -> SubscriptionStore:
        return self._subscriptions

    @property
    def configured_channels(self) -> tuple[str, ...]:
        return self._configured_channels

    # -- DIGEST_CHANNELS ------------------------------------------------------------------------------

    def configured_group_arn(self) -> str | None:
        """DIGEST_DATASET_GROUP as an ARN (a name is resolved once); DigestGroupInvalid when there is none such."""
        if self._configured_group and self._configured_group_arn is None:
            if self._resolver is None:
                self._configured_group_arn = self._configured_group
            else:
                try:
                    self._configured_group_arn = self._resolver.resolve(self._configured_group).arn
                except DatasetGroupNotFound as err:
                    close = f" (close names: {', '.join(err.suggestions)})" if err.suggestions else ""
                    raise DigestGroupInvalid(
                        f"DIGEST_DATASET_GROUP {self._configured_group!r} is not a dataset group in this account and"
                        f" region{close}: set it to a dataset group name or ARN, or leave it empty for all groups"
                    ) from None
                except (ForeignDatasetGroupArn, MalformedArn) as err:
                    why = err if isinstance(err, ForeignDatasetGroupArn) else "not a dataset group ARN"
                    raise DigestGroupInvalid(
                        f"DIGEST_DATASET_GROUP {self._configured_group!r}: {why}. Set it to a dataset group name or"
                        " ARN of this bot's account and region, or leave it empty for all groups"
                    ) from None
        return self._configured_group_arn

    def sync_configured_channels(self) -> None:
        """Store DIGEST_CHANNELS as subscriptions (scoped to DIGEST_DATASET_GROUP); done once at start-up."""
        for line in self._subscriptions.sync_configured(
            self._configured_channels, dataset_group_arn=self.configured_group_arn()
        ):
            logger.info("digest subscriptions: %s", line)

    def _configured_subscriptions(self, stored: dict[str, Subscription]) -> list[Subscription]:
        """DIGEST_CHANNELS not stored yet, as they would be stored: a dry run writes nothing."""
        now = self._clock()
        return [
            Subscription(channel_id=channel, dataset_group_arn=self.configured_group_arn(), at_time=None,
                         timezone=None, origin="settings", created_by=None, created_at=now, last_digest_at=None)
            for channel in self._configured_channels if channel not in stored
        ]

    # -- running ------------------------------------------------------------------------------------------

    def run(self, channel_ids: Sequence[str] | None = None, *, dry_run: bool = False) -> DigestRun:
        """One digest for these channels' subscriptions (all when None). Never raises for AWS or Slack failures:
        they are in the outcomes, and `DigestRun.ok` is False. Nor for database failures: the run stops there."""
        now = self._clock()
        run = DigestRun(started=now)
        try:
            self._run(run, channel_ids, dry_run=dry_run)
        except SQLAlchemyError as err:
            # Before any channel was tried (reading subscriptions or windows); per-channel failures are caught
            # in the loop, so that what was posted is counted.
            run.error, run.fix = DATABASE_ERROR, DATABASE_FIX
            logger.error("digest run stopped: the database does not answer (%s). To fix: %s.",
                         database_reason(err), DATABASE_FIX)
        return run

    def _run(self, run: DigestRun, channel_ids: Sequence[str] | None, *, dry_run: bool) -> None:
        now = run.started
        stored = {s.channel_id: s for s in self._subscriptions.list()}
        subscriptions = list(stored.values())
        if dry_run:
            subscriptions += self._configured_subscriptions(stored)
        if channel_ids is not None:
            wanted = set(channel_ids)
            subscriptions = [s for s in subscriptions if s.channel_id in wanted]
        if not subscriptions:
            logger.info("digest: no subscriptions to run")
            return

        windows = {
            s.channel_id: window_for(
                s.last_digest_at, now=now, lookback=self._lookback,
                oldest_pending=self._ledger.oldest_pending(s.channel_id),
            )
            for s in subscriptions
        }
        # Any all-groups subscription means reading everything anyway: serve the group ones from that read too.
        scopes = {s.dataset_group_arn for s in subscriptions}
        read_scopes = [None] if None in scopes else sorted(scopes)
        reads: dict[str | None, list[DeletionJob] | AwsError] = {}
        for scope in read_scopes:
            served = [windows[s.channel_id] for s in subscriptions if scope is None or s.dataset_group_arn == scope]
            try:
                jobs, calls = self._read(scope, read_cutoff(served, self._max_job_age))
            except AwsError as err:
                logger.error("digest: reading deletion jobs of %s failed (%s); those channels get no digest this run",
                             scope or "all dataset groups", type(err).__name__)
                reads[scope] = err
                continue
            run.list_calls += calls
            reads[scope] = jobs

        token_error: str | None = None
        database_down = False
        for subscription in subscriptions:
            outcome = ChannelOutcome(subscription.channel_id, subscription.dataset_group_arn,
                                     windows[subscription.channel_id])
            run.outcomes.append(outcome)
            source = reads[None] if None in reads else reads[subscription.dataset_group_arn]
            if database_down:
                outcome.error, outcome.fix = DATABASE_ERROR, DATABASE_FIX
                continue
            if isinstance(source, AwsError):
                outcome.error = type(source).__name__
                outcome.fix = "see the Personalize error logged above"
                continue
            if token_error:
                outcome.error, outcome.fix = token_error, PERMANENT_SLACK_ERRORS[token_error]
                continue
            try:
                self._deliver(subscription, outcome, source, dry_run=dry_run)
            except SQLAlchemyError as err:
                # Every channel needs the ledger: stop here rather than post what could not be recorded.
                database_down = True
                self._database_failed(outcome, err)
            if outcome.error in TOKEN_ERRORS:
                token_error = outcome.error
        logger.info(
            "digest run%s: %d channel(s), %d ListDataDeletionJobs call(s), %d failure(s) posted in %d message(s),"
            " %d channel(s) failed",
            " (dry run)" if dry_run else "", len(run.outcomes), run.list_calls,
            sum(o.reported for o in run.outcomes), sum(o.messages_posted for o in run.outcomes),
            sum(1 for o in run.outcomes if not o.ok),
        )

    def run_channel(self, channel_id: str) -> ChannelOutcome:
        """`/deletion-jobs digest now`: this channel's digest at once; NotSubscribed when it has none."""
        if self._subscriptions.get(channel_id) is None:
            raise NotSubscribed(channel_id)
        run = self.run([channel_id])
        outcome = run.outcome(channel_id)
        if outcome is None and run.error:  # the database stopped answering before the channel was tried
            return ChannelOutcome(channel_id, error=run.error, fix=run.fix)
        if outcome is None:  # unsubscribed between the check and the run
            raise NotSubscribed(channel_id)
        return outcome

    def _read(self, dataset_group_arn: str | None, cutoff: datetime) -> tuple[list[DeletionJob], int]:
        """Pages newest created first, until a page reaches jobs created before `cutoff` (or the end)."""
        jobs: dict[str, DeletionJob] = {}
        token = None
        with self._gateway.scope(READ_DEADLINE_SECONDS) as scope:
            while True:
                page = self._gateway.list_jobs_page(
                    dataset_group_arn=dataset_group_arn, next_token=token, max_results=MAX_RESULTS
                )
                for job in page.jobs:
                    # Jobs created while we page shift older ones onto the next page: keep the first sighting.
                    jobs.setdefault(job.arn, job)
                if not page.next_token or any(created_before(job, cutoff) for job in page.jobs):
                    break
                token = page.next_token
            calls = scope.calls
        logger.info("digest: read %d deletion jobs of %s in %d call(s), back to jobs created %s",
                    len(jobs), dataset_group_arn or "all dataset groups", calls, cutoff.isoformat())
        return list(jobs.values()), calls

    def _deliver(self, subscription: Subscription, outcome: ChannelOutcome, jobs: list[DeletionJob],
                 *, dry_run: bool) -> None:
        channel = subscription.channel_id
        window = outcome.window
        assert window is not None
        pending = self._ledger.pending(channel)
        failed = [
            job for job in jobs
            if job.status == "FAILED"
            and (subscription.dataset_group_arn is None or job.dataset_group_arn == subscription.dataset_group_arn)
            and (self._visible is None or self._visible(job))
        ]
        candidates = [job for job in failed if window.includes(job) or job.arn in pending]
        if not dry_run:
            self._forget_vanished(channel, pending, {job.arn for job in candidates})

        if dry_run:
            posted = self._ledger.posted_among(channel, [job.arn for job in candidates])
            todo = [job for job in candidates if job.arn not in posted]
            outcome.found = len(todo)
            if todo:
                outcome.messages = [m for m, _ in render_digest(
                    todo, window=window, dataset_group_arn=subscription.dataset_group_arn)]
            elif self._post_empty:
                outcome.messages = [render_no_failures(window=window, dataset_group_arn=subscription.dataset_group_arn)]
            return

        claim = self._ledger.claim(channel, [(job.arn, failure_time(job)) for job in candidates])
        todo = [job for job in candidates if job.arn in claim.job_arns]
        outcome.found = len(todo)
        if not todo:
            held_elsewhere = bool(candidates) and len(
                self._ledger.posted_among(channel, [job.arn for job in candidates])) < len(candidates)
            if self._post_empty and not held_elsewhere:
                message = render_no_failures(window=window, dataset_group_arn=subscription.dataset_group_arn)
                self._pacer.wait(channel)
                if not self._post(channel, message, outcome):
                    return
                outcome.messages_posted += 1
            logger.info("digest for %s: no new failed deletion jobs since %s%s", channel, window.since.isoformat(),
                        " (another run is posting some)" if held_elsewhere else "")
            self._succeeded(channel, window)
            return

        remaining = list(todo)
        for message, part_jobs in render_digest(todo, window=window, dataset_group_arn=subscription.dataset_group_arn):
            self._pacer.wait(channel)
            # Re-take the claim now, after any pacing wait: the TTL then only has to outlast this one post.
            # The later messages' failures are renewed too, so a slow but progressing run keeps them.
            held = self._ledger.renew(claim, [job.arn for job in remaining])
            lost = [job.arn for job in part_jobs if job.arn not in held]
            if lost:
                self._claim_lost(claim, outcome, lost, [job.arn for job in remaining if job.arn in held])
                return
            response = self._post(channel, message, outcome)
            if response is None:
                released = self._ledger.release(claim, [job.arn for job in remaining])
                logger.error(
                    "digest for %s: %d failure(s) not reported (%d released for the next run)%s",
                    channel, len(remaining), released,
                    f"; {outcome.reported} already posted in {outcome.messages_posted} message(s)"
                    if outcome.messages_posted else "",
                )
                return
            outcome.unrecorded = len(part_jobs)  # until the mark below is written
            self._ledger.mark_posted(claim, [job.arn for job in part_jobs], message_ts=response.get("ts"))
            outcome.unrecorded = 0
            outcome.messages_posted += 1
            outcome.reported += len(part_jobs)
            done = {job.arn for job in part_jobs}
            remaining = [job for job in remaining if job.arn not in done]
        logger.info("digest for %s: posted %d failed deletion job(s) in %d message(s)",
                    channel, outcome.reported, outcome.messages_posted)
        self._succeeded(channel, window)

    def _succeeded(self, channel: str, window: DigestWindow) -> None:
        self._subscriptions.record_success(channel, window.until)
        self._ledger.sweep(channel, failed_before=window.read_from - LEDGER_RETENTION)

    def _forget_vanished(self, channel: str, pending: dict[str, datetime], offered: set[str]) -> None:
        # The read covered every pending failure's time, so one it did not return is gone from AWS (or now hidden
        # by ALLOWED_DATASET_GROUPS, or moved out of the subscription's group): keeping it would hold the window
        # open forever.
        vanished = [arn for arn in pending if arn not in offered]
        if vanished:
            dropped = self._ledger.forget_pending(channel, vanished)
            if dropped:
                logger.warning("digest for %s: %d unposted failure(s) are no longer listed by AWS for this"
                               " subscription; dropped them from the ledger", channel, dropped)

    def _claim_lost(self, claim, outcome: ChannelOutcome, lost: list[str], still_held: list[str]) -> None:
        """Another run took over some of this message's failures: it posts them; this run stops for the channel."""
        channel = claim.channel_id
        released = self._ledger.release(claim, still_held)
        outcome.error = CLAIM_LOST
        minutes = self._ledger.claim_ttl.total_seconds() / 60
        outcome.fix = (f"this run held its failures longer than DIGEST_CLAIM_TTL_MINUTES ({minutes:g}) and another"
                       " run took over some of them; raise DIGEST_CLAIM_TTL_MINUTES if this repeats")
        logger.error(
            "digest for %s: %d failure(s) of the next message are no longer held by this run (another run took them"
            " over, or the claim lapsed); not posting it, so that nothing is posted twice. %d failure(s) released"
            " for the next run%s. To fix: %s.",
            channel, len(lost), released,
            f"; {outcome.reported} already posted in {outcome.messages_posted} message(s)"
            if outcome.messages_posted else "", outcome.fix,
        )

    def _database_failed(self, outcome: ChannelOutcome, err: SQLAlchemyError) -> None:
        outcome.error, outcome.fix = DATABASE_ERROR, DATABASE_FIX
        unrecorded = (
            f" {outcome.unrecorded} failure(s) reached the channel but could not be recorded as posted, so the"
            " next run may post them again." if outcome.unrecorded else ""
        )
        logger.error(
            "digest for %s stopped: the database does not answer (%s); %d failure(s) posted in %d message(s) and"
            " recorded before that.%s Nothing else is marked reported. To fix: %s.",
            outcome.channel_id, database_reason(err), outcome.reported, outcome.messages_posted, unrecorded,
            DATABASE_FIX,
        )

    def _post(self, channel: str, message: dict, outcome: ChannelOutcome):
        """chat.postMessage (paced by the caller); the response, or None after logging why Slack did not take it."""
        response = self._post_once(channel, message, outcome)
        if self._metrics is not None:
            failed = "refused" if outcome.error in PERMANENT_SLACK_ERRORS else "failed"
            self._metrics.digest_post("posted" if response is not None else failed)
        return response

    def _post_once(self, channel: str, message: dict, outcome: ChannelOutcome):
        try:
            return self._slack.chat_postMessage(
                channel=channel, text=message["text"], blocks=message["blocks"], unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as err:
            code = slack_error_code(err)
            fix = PERMANENT_SLACK_ERRORS.get(code)
            outcome.error = code
            if fix:
                outcome.fix = fix.format(channel=channel)
                logger.error("digest for channel %s was refused by Slack: %s. To fix: %s. Nothing is marked reported;"
                             " the next run offers these failures again.", channel, code, outcome.fix)
            else:
                outcome.fix = "Slack did not take the post after retries; the next run tries again"
                logger.error("digest for channel %s failed: Slack answered %s (HTTP %s) after retries; nothing is"
                             " marked reported and the next run tries again.", channel, code, err.response.status_code)
        except Exception as err:  # noqa: BLE001 - connection failures after slack_sdk's own retries
            outcome.error = "connection_error"
            outcome.fix = "check that the bot can reach Slack (SLACK_API_URL, network); the next run tries again"
            logger.error("digest for channel %s failed: could not reach Slack (%s: %s); nothing is marked reported."
                         " If the post timed out it may still have arrived, and the next run may repeat it.",
                         channel, type(err).__name__, err)
        return None


def database_reason(err: SQLAlchemyError) -> str:
    """The driver's first line (e.g. "connection refused"), without SQLAlchemy's SQL and parameters."""
    reason = str(getattr(err, "orig", None) or err).strip()
    return reason.splitlines()[0] if reason else type(err).__name__

"""`/deletion-jobs digest subscribe|unsubscribe|list|now`: digest subscriptions managed from Slack.

`handlers.commands` has already acknowledged the command, checked the user and channel allowlists and parsed
the text (`services.listing.command_parser`, arguments included); this runs on the background pool and returns
what it did as plain data (`services.digest.results`), which the handler renders.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from services.digest.outcome import DATABASE_ERROR
from services.digest.results import DigestAnswer, DigestPosted, Subscribed, SubscriptionList, Unsubscribed
from services.errors import (
    BotNotInChannel,
    DigestDatabaseUnavailable,
    DigestFailed,
    DigestInDirectMessage,
    DigestUsageError,
)
from services.listing.command_parser import DigestCommand
from services.scheduling.scheduler import DigestSchedule
from services.slack.error_code import slack_error_code
from services.storage.store import database_reason

logger = logging.getLogger(__name__)

# Slack's direct message channel ids start with D (group DMs are told apart by conversations.info).
DIRECT_MESSAGE_PREFIX = "D"


class DigestCommands:
    def __init__(self, subscriptions, digest, resolver, access, slack_client, schedule: DigestSchedule,
                 *, configured_channels: Sequence[str] = ()):
        self._subscriptions = subscriptions
        self._digest = digest
        self._resolver = resolver
        self._access = access
        self._slack = slack_client
        self._schedule = schedule
        self._configured = frozenset(configured_channels)

    def handle(self, parsed: DigestCommand, *, channel_id: str | None, user_id: str | None) -> DigestAnswer:
        """What `parsed`, asked in `channel_id` by `user_id`, did. A database that does not answer is
        DigestDatabaseUnavailable, logged here in one line (an outage the operator must see, not a bug with a
        traceback)."""
        try:
            return self._handle(parsed, channel_id=channel_id, user_id=user_id)
        except SQLAlchemyError as err:
            logger.error("/deletion-jobs digest %s in %s: the database does not answer (%s). Check DATABASE_URL and"
                         " that the database is running.", parsed.action, channel_id, database_reason(err))
            raise DigestDatabaseUnavailable(parsed.action) from None

    def _handle(self, parsed: DigestCommand, *, channel_id: str | None, user_id: str | None) -> DigestAnswer:
        if not channel_id:
            raise DigestUsageError("run this in the channel that should get the digest")
        if parsed.action == "subscribe":
            return self.subscribe(parsed, channel_id, user_id)
        if parsed.action == "unsubscribe":
            return self.unsubscribe(channel_id, user_id)
        if parsed.action == "list":
            return self.list_subscriptions()
        # "now": the command parser lets no other action through.
        return self.now(channel_id)

    def subscribe(self, parsed: DigestCommand, channel: str, user_id: str | None) -> Subscribed:
        if channel.startswith(DIRECT_MESSAGE_PREFIX):
            raise DigestInDirectMessage(channel)
        arn = None
        if parsed.group is not None:
            arn = self._resolver.resolve(parsed.group).arn
            self._access.check_group(arn, user_id=user_id)
        note = self._check_membership(channel)
        at_time, zone = parsed.at_time, parsed.timezone
        subscription, created = self._subscriptions.subscribe(
            channel, dataset_group_arn=arn, at_time=at_time, timezone=zone if at_time else None, created_by=user_id)
        logger.info("digest: %s %s %s (group %s, time %s %s)", user_id, "subscribed" if created else "updated",
                    channel, arn or "all", at_time or "default", zone or "")
        return Subscribed(subscription, created=created, schedule_text=self._schedule.describe(subscription),
                          next_run=self._schedule.next_run(subscription), note=note)

    def unsubscribe(self, channel: str, user_id: str | None) -> Unsubscribed:
        removed = self._subscriptions.unsubscribe(channel)
        if removed:
            logger.info("digest: %s unsubscribed %s", user_id, channel)
        return Unsubscribed(channel, removed, still_configured=channel in self._configured)

    def list_subscriptions(self) -> SubscriptionList:
        # Subscriptions to dataset groups the allowlist hides are not shown: nobody outside it sees them.
        visible = tuple(sub for sub in self._subscriptions.list()
                        if sub.dataset_group_arn is None or self._access.group_allowed(sub.dataset_group_arn))
        return SubscriptionList(visible, {sub.channel_id: self._schedule.describe(sub) for sub in visible})

    def now(self, channel: str) -> DigestPosted:
        outcome = self._digest.run_channel(channel)
        if outcome.error == DATABASE_ERROR:  # the run logged it already
            raise DigestDatabaseUnavailable("now", posted=outcome.reported)
        if not outcome.ok:
            raise DigestFailed(channel, outcome.error or "unknown", outcome.fix)
        since = outcome.window.since if outcome.window else None
        return DigestPosted(channel, reported=outcome.reported, messages=outcome.messages_posted, since=since,
                            posted_empty=outcome.messages_posted > 0 and outcome.reported == 0)

    def _check_membership(self, channel: str) -> str | None:
        """Refuse (BotNotInChannel) when the bot cannot post here; a note when Slack could not tell us."""
        try:
            info = self._slack.conversations_info(channel=channel)
        except SlackApiError as err:
            code = slack_error_code(err)
            if code == "channel_not_found":
                # A private channel the bot is not in looks exactly like this.
                raise BotNotInChannel(channel, code) from None
            logger.warning("digest subscribe: conversations.info for %s failed: %s", channel, code)
            return (f"I could not check that I am a member of this channel (Slack said `{code}`). If I am not,"
                    " invite me with `/invite @deletion-jobs`, or the digest cannot be posted.")
        except Exception as err:  # noqa: BLE001 - Slack unreachable: subscribing still works
            logger.warning("digest subscribe: conversations.info for %s failed: %s", channel, err)
            return ("I could not reach Slack to check that I am a member of this channel. If I am not, invite me"
                    " with `/invite @deletion-jobs`.")
        details = info.get("channel") or {}
        if details.get("is_im") or details.get("is_mpim"):
            raise DigestInDirectMessage(channel)
        if details.get("is_archived"):
            raise BotNotInChannel(channel, "is_archived")
        if details.get("is_member") is False:
            raise BotNotInChannel(channel, "not_in_channel")
        return None

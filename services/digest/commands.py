"""`/deletion-jobs digest subscribe|unsubscribe|list|now`: digest subscriptions managed from Slack.

`handlers.commands` has already acknowledged the command and checked the user and channel allowlists; this
runs on the background pool and returns the answer message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError

from blocks.digest_answers import (
    render_digest_now,
    render_subscribed,
    render_subscription_list,
    render_unsubscribed,
)
from handlers.requests import Requester
from services.errors import (
    BotNotInChannel,
    DigestFailed,
    DigestInDirectMessage,
    DigestUsageError,
    InvalidDigestTime,
    MalformedArn,
)
from services.listing.command_parser import ARN_PATTERN, MAX_ARN_LENGTH, NAME_PATTERN, DigestCommand, is_arn
from services.scheduling.scheduler import DigestSchedule, parse_time, parse_timezone
from services.slack.error_code import slack_error_code

logger = logging.getLogger(__name__)

# Slack's direct message channel ids start with D (group DMs are told apart by conversations.info).
DIRECT_MESSAGE_PREFIX = "D"
_LOOKS_LIKE_TIME = re.compile(r"^\d{1,2}([:.h]\d{0,2})?\s*(am|pm)?$", re.IGNORECASE)


def parse_subscribe_args(args: Sequence[str]) -> tuple[str | None, str | None, str | None]:
    """`[dataset-group] [at HH:MM] [time-zone]` → (group as typed, "HH:MM", IANA zone); errors name the word."""
    tokens = list(args)
    marker = next((i for i, t in enumerate(tokens) if t.lower() == "at" or (":" in t and not is_arn(t))), None)
    before, at_time, zone = (tokens if marker is None else tokens[:marker]), None, None
    if marker is not None:
        after = tokens[marker + 1:] if tokens[marker].lower() == "at" else tokens[marker:]
        if not after:
            raise DigestUsageError("say when after `at`, e.g. `at 09:30`", "at")
        at_time = parse_time(after[0])
        if len(after) > 2:
            raise DigestUsageError("too many words after the time: give at most a time zone", " ".join(after[2:]))
        if len(after) == 2:
            zone = parse_timezone(after[1])
    if len(before) > 1:
        if _LOOKS_LIKE_TIME.match(before[1]):
            # `subscribe media-feed 9am`: a time, but not in a form we take.
            raise InvalidDigestTime(before[1])
        raise DigestUsageError("give at most one dataset group; a time goes after `at`", " ".join(before[1:]))
    group = before[0] if before else None
    if group is not None and not is_arn(group) and not NAME_PATTERN.match(group):
        if "/" in group or group.upper() == "UTC":
            raise DigestUsageError("a time zone needs a time before it, e.g. `at 09:30 Europe/Berlin`", group)
        raise DigestUsageError("not a dataset group name", group)
    if group is not None and is_arn(group) and (len(group) > MAX_ARN_LENGTH or not ARN_PATTERN.match(group)):
        raise MalformedArn(group)
    return group, at_time, zone


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

    def handle(self, parsed: DigestCommand, requester: Requester) -> dict:
        channel = requester.channel_id
        if not channel:
            raise DigestUsageError("run this in the channel that should get the digest")
        if parsed.action == "subscribe":
            return self.subscribe(parsed.args, channel, requester.user_id)
        if parsed.args:
            raise DigestUsageError(f"`digest {parsed.action}` takes no more words", " ".join(parsed.args))
        if parsed.action == "unsubscribe":
            removed = self._subscriptions.unsubscribe(channel)
            if removed:
                logger.info("digest: %s unsubscribed %s", requester.user_id, channel)
            return render_unsubscribed(channel, removed, still_configured=channel in self._configured)
        if parsed.action == "list":
            # Subscriptions to dataset groups the allowlist hides are not shown: nobody outside it sees them.
            visible = [sub for sub in self._subscriptions.list()
                       if sub.dataset_group_arn is None or self._access.group_allowed(sub.dataset_group_arn)]
            return render_subscription_list(visible, self._schedule.describe)
        # "now": the command parser lets no other action through.
        return self.now(channel)

    def subscribe(self, args: Sequence[str], channel: str, user_id: str | None) -> dict:
        if channel.startswith(DIRECT_MESSAGE_PREFIX):
            raise DigestInDirectMessage(channel)
        group, at_time, zone = parse_subscribe_args(args)
        arn = None
        if group is not None:
            arn = self._resolver.resolve(group).arn
            self._access.check_group(arn, user_id=user_id)
        note = self._check_membership(channel)
        subscription, created = self._subscriptions.subscribe(
            channel, dataset_group_arn=arn, at_time=at_time, timezone=zone if at_time else None, created_by=user_id)
        logger.info("digest: %s %s %s (group %s, time %s %s)", user_id, "subscribed" if created else "updated",
                    channel, arn or "all", at_time or "default", zone or "")
        return render_subscribed(subscription, created=created, schedule_text=self._schedule.describe(subscription),
                                 next_run=self._schedule.next_run(subscription), note=note)

    def now(self, channel: str) -> dict:
        outcome = self._digest.run_channel(channel)
        if not outcome.ok:
            raise DigestFailed(channel, outcome.error or "unknown", outcome.fix)
        since = outcome.window.since if outcome.window else None
        return render_digest_now(channel, reported=outcome.reported, messages=outcome.messages_posted, since=since,
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

"""Posting a digest message: pacing (one post per second per channel), chat.postMessage, and what each Slack
error means for the operator.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from services.digest.outcome import Failure
from services.slack.error_code import slack_error_code

logger = logging.getLogger(__name__)

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


def token_failure(code: str) -> Failure:
    """The failure of every channel after Slack refused the bot's token with `code` (one of TOKEN_ERRORS)."""
    return Failure(code, PERMANENT_SLACK_ERRORS[code])


@dataclass(frozen=True)
class Posted:
    """Slack took the message; `ts` is its timestamp (kept in the ledger)."""

    ts: str | None


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


class DigestPoster:
    """Posts digest messages through the bot's WebClient (its retry handlers are the only retries)."""

    def __init__(self, slack_client, pacer: ChannelPacer | None = None, *, metrics=None):
        self._slack = slack_client
        self._pacer = pacer or ChannelPacer()
        # services.metrics.Metrics: every chat.postMessage counted as posted, refused or failed.
        self._metrics = metrics

    def wait_turn(self, channel: str) -> None:
        """Wait until the channel may get its next post (the caller renews its claims after this, not before)."""
        self._pacer.wait(channel)

    def post(self, channel: str, message: dict) -> Posted | Failure:
        """chat.postMessage; Posted, or the Failure (logged at ERROR) when Slack did not take the message."""
        result = self._post(channel, message)
        if self._metrics is not None:
            failed = "refused" if isinstance(result, Failure) and result.error in PERMANENT_SLACK_ERRORS else "failed"
            self._metrics.digest_post("posted" if isinstance(result, Posted) else failed)
        return result

    def _post(self, channel: str, message: dict) -> Posted | Failure:
        try:
            response = self._slack.chat_postMessage(
                channel=channel, text=message["text"], blocks=message["blocks"], unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as err:
            return _refused(channel, err)
        except Exception as err:  # noqa: BLE001 - connection failures after slack_sdk's own retries
            logger.error("digest for channel %s failed: could not reach Slack (%s: %s); nothing is marked reported."
                         " If the post timed out it may still have arrived, and the next run may repeat it.",
                         channel, type(err).__name__, err)
            return Failure("connection_error",
                           "check that the bot can reach Slack (SLACK_API_URL, network); the next run tries again")
        return Posted(response.get("ts"))


def _refused(channel: str, err: SlackApiError) -> Failure:
    code = slack_error_code(err)
    fix = PERMANENT_SLACK_ERRORS.get(code)
    if fix:
        failure = Failure(code, fix.format(channel=channel))
        logger.error("digest for channel %s was refused by Slack: %s. To fix: %s. Nothing is marked reported;"
                     " the next run offers these failures again.", channel, code, failure.fix)
        return failure
    logger.error("digest for channel %s failed: Slack answered %s (HTTP %s) after retries; nothing is"
                 " marked reported and the next run tries again.", channel, code, err.response.status_code)
    return Failure(code, "Slack did not take the post after retries; the next run tries again")

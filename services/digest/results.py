"""What `/deletion-jobs digest …` did, as plain data: `DigestCommands` returns these and the handler renders them
(`handlers/digest.py` with `blocks/digest_answers.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.models import Subscription


@dataclass(frozen=True)
class Subscribed:
    """`digest subscribe`: the subscription as stored, whether it is new, and when its digest comes."""

    subscription: Subscription
    created: bool
    schedule_text: str
    next_run: datetime | None
    # Slack could not tell whether the bot is in the channel: the subscription is kept, with this warning.
    note: str | None = None


@dataclass(frozen=True)
class Unsubscribed:
    """`digest unsubscribe`: the removed subscription (None: there was none), and whether DIGEST_CHANNELS brings
    it back at the next start."""

    channel_id: str
    removed: Subscription | None
    still_configured: bool


@dataclass(frozen=True)
class SubscriptionList:
    """`digest list`: the subscriptions the requester may see, with each one's schedule in words."""

    subscriptions: tuple[Subscription, ...]
    schedules: Mapping[str, str] = field(default_factory=dict)

    def schedule_of(self, subscription: Subscription) -> str:
        return self.schedules[subscription.channel_id]


@dataclass(frozen=True)
class DigestPosted:
    """`digest now`: what this channel's digest posted (no failures: `posted_empty` when it said so)."""

    channel_id: str
    reported: int
    messages: int
    since: datetime | None
    posted_empty: bool = False


DigestAnswer = Subscribed | Unsubscribed | SubscriptionList | DigestPosted

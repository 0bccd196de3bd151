"""DIGEST_CHANNELS and DIGEST_DATASET_GROUP: the subscriptions the settings make, stored at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from services.errors import AwsError, DatasetGroupNotFound, DigestGroupInvalid, ForeignDatasetGroupArn, MalformedArn
from services.models import ORIGIN_SETTINGS, Subscription
from services.storage.store import database_reason
from services.storage.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)


class ConfiguredChannels:
    """The channels DIGEST_CHANNELS subscribes, to DIGEST_DATASET_GROUP (None: all groups)."""

    def __init__(self, subscriptions: SubscriptionStore, channels: Sequence[str] = (), group: str | None = None,
                 *, resolver=None, clock: Callable[[], datetime]):
        self._subscriptions = subscriptions
        self.channels = tuple(channels)
        self._group = group
        self._resolver = resolver
        self._clock = clock
        self._group_arn: str | None = None

    def group_arn(self) -> str | None:
        """DIGEST_DATASET_GROUP as an ARN (a name is resolved once); DigestGroupInvalid when there is none such."""
        if self._group and self._group_arn is None:
            self._group_arn = self._resolve() if self._resolver is not None else self._group
        return self._group_arn

    def _resolve(self) -> str:
        try:
            return self._resolver.resolve(self._group).arn
        except DatasetGroupNotFound as err:
            close = f" (close names: {', '.join(err.suggestions)})" if err.suggestions else ""
            raise DigestGroupInvalid(
                f"DIGEST_DATASET_GROUP {self._group!r} is not a dataset group in this account and"
                f" region{close}: set it to a dataset group name or ARN, or leave it empty for all groups"
            ) from None
        except (ForeignDatasetGroupArn, MalformedArn) as err:
            why = err if isinstance(err, ForeignDatasetGroupArn) else "not a dataset group ARN"
            raise DigestGroupInvalid(
                f"DIGEST_DATASET_GROUP {self._group!r}: {why}. Set it to a dataset group name or"
                " ARN of this bot's account and region, or leave it empty for all groups"
            ) from None

    def sync(self) -> None:
        """Store DIGEST_CHANNELS as subscriptions (scoped to DIGEST_DATASET_GROUP); raises what stopped it."""
        for line in self._subscriptions.sync_configured(self.channels, dataset_group_arn=self.group_arn()):
            logger.info("digest subscriptions: %s", line)

    def apply(self, *, then: str = "") -> bool:
        """sync, or False and one ERROR line (ending in `then`, what happens next) when AWS or the database did not
        answer. DigestGroupInvalid, a setting to fix, is raised."""
        try:
            self.sync()
        except AwsError as err:
            logger.error("could not resolve DIGEST_DATASET_GROUP %r through AWS (%s); DIGEST_CHANNELS were not"
                         " synced%s", self._group, type(err).__name__, then)
            return False
        except SQLAlchemyError as err:
            logger.error("could not store DIGEST_CHANNELS: the database does not answer (%s). Check DATABASE_URL and"
                         " that the database is running%s", database_reason(err), then)
            return False
        return True

    def unstored(self, stored: dict[str, Subscription]) -> list[Subscription]:
        """DIGEST_CHANNELS not stored yet, as they would be stored: a dry run writes nothing."""
        now = self._clock()
        return [
            Subscription(channel_id=channel, dataset_group_arn=self.group_arn(), at_time=None,
                         timezone=None, origin=ORIGIN_SETTINGS, created_by=None, created_at=now, last_digest_at=None)
            for channel in self.channels if channel not in stored
        ]

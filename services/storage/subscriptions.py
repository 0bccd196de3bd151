"""Digest subscriptions: which channels get a digest, of which dataset group, when, and up to when it was posted.

The table is declared in `services.storage.schema`; this module owns its queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from services.models import ORIGIN_SETTINGS, ORIGIN_SLACK, Subscription
from services.storage.schema import digest_subscriptions
from services.storage.store import stored_utc, utcnow


class SubscriptionStore:
    """Which channels get a digest, of which dataset group (None: all), and when."""

    def __init__(self, engine: Engine, *, clock=utcnow):
        self._engine = engine
        self._clock = clock

    def get(self, channel_id: str) -> Subscription | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id)
            ).first()
        return Subscription.from_row(row) if row else None

    def list(self) -> list[Subscription]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(digest_subscriptions).order_by(digest_subscriptions.c.channel_id))
            return [Subscription.from_row(row) for row in rows]

    def subscribe(
        self,
        channel_id: str,
        *,
        dataset_group_arn: str | None,
        at_time: str | None = None,
        timezone: str | None = None,
        created_by: str | None = None,
        origin: str = ORIGIN_SLACK,
    ) -> tuple[Subscription, bool]:
        """Create or replace the channel's subscription; True when it is new. The watermark is kept."""
        now = stored_utc(self._clock())
        values = {
            "dataset_group_arn": dataset_group_arn,
            "at_time": at_time,
            "timezone": timezone,
            "origin": origin,
            "updated_at": now,
        }
        created = False
        for _attempt in range(2):
            try:
                with self._engine.begin() as connection:
                    changed = connection.execute(
                        update(digest_subscriptions)
                        .where(digest_subscriptions.c.channel_id == channel_id)
                        .values(**values)
                    ).rowcount
                    if not changed:
                        connection.execute(insert(digest_subscriptions).values(
                            channel_id=channel_id, created_by=created_by, created_at=now, **values))
                        created = True
                break
            except IntegrityError:
                # Someone subscribed the same channel between our UPDATE and INSERT: update theirs.
                created = False
        subscription = self.get(channel_id)
        assert subscription is not None
        return subscription, created

    def unsubscribe(self, channel_id: str) -> Subscription | None:
        """Remove the channel's subscription; the removed one, or None when there was none."""
        with self._engine.begin() as connection:
            row = connection.execute(
                select(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id)
            ).first()
            if row is None:
                return None
            connection.execute(delete(digest_subscriptions).where(digest_subscriptions.c.channel_id == channel_id))
        return Subscription.from_row(row)

    def record_success(self, channel_id: str, until: datetime) -> None:
        """Move the channel's watermark to `until`, never backwards (a slower concurrent run may finish later)."""
        until = stored_utc(until)
        column = digest_subscriptions.c.last_digest_at
        with self._engine.begin() as connection:
            connection.execute(
                update(digest_subscriptions)
                .where(digest_subscriptions.c.channel_id == channel_id)
                .where(or_(column.is_(None), column < until))
                .values(last_digest_at=until)
            )

    def sync_configured(self, channel_ids: Sequence[str], *, dataset_group_arn: str | None) -> list[str]:
        """Make DIGEST_CHANNELS subscriptions match the settings; returns a line per change, for the log.

        Channels subscribed from Slack are left alone; settings-made ones no longer listed are removed.
        """
        wanted = list(dict.fromkeys(channel_ids))
        existing = {s.channel_id: s for s in self.list()}
        changes = []
        for channel_id in wanted:
            current = existing.get(channel_id)
            if current is None:
                self.subscribe(channel_id, dataset_group_arn=dataset_group_arn, origin=ORIGIN_SETTINGS)
                changes.append(f"subscribed {channel_id} (DIGEST_CHANNELS)")
            elif current.origin == ORIGIN_SETTINGS and current.dataset_group_arn != dataset_group_arn:
                self.subscribe(channel_id, dataset_group_arn=dataset_group_arn, origin=ORIGIN_SETTINGS)
                changes.append(f"changed {channel_id} to dataset group {dataset_group_arn or 'all'} (DIGEST_CHANNELS)")
        for channel_id, current in existing.items():
            if current.origin == ORIGIN_SETTINGS and channel_id not in wanted:
                self.unsubscribe(channel_id)
                changes.append(f"unsubscribed {channel_id}: no longer in DIGEST_CHANNELS")
        return changes

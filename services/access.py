"""AccessPolicy: who may use the bot, where, and which dataset groups they may see. Empty lists mean open."""

from __future__ import annotations

import logging

from services.errors import AccessRefused
from services.models import DeletionJob, dataset_group_name

logger = logging.getLogger(__name__)


class AccessPolicy:
    def __init__(
        self,
        *,
        user_ids: tuple[str, ...] = (),
        channel_ids: tuple[str, ...] = (),
        dataset_groups: tuple[str, ...] = (),
    ):
        self._users = frozenset(user_ids)
        self._channels = frozenset(channel_ids)
        self._group_arns = frozenset(g for g in dataset_groups if g.startswith("arn:"))
        self._group_names = frozenset(g for g in dataset_groups if not g.startswith("arn:"))

    @classmethod
    def from_settings(cls, settings) -> AccessPolicy:
        return cls(
            user_ids=settings.allowed_user_ids,
            channel_ids=settings.allowed_channel_ids,
            dataset_groups=settings.allowed_dataset_groups,
        )

    @property
    def restricts_groups(self) -> bool:
        return bool(self._group_arns or self._group_names)

    def check_requester(self, user_id: str | None, channel_id: str | None, *, any_channel: bool = False) -> None:
        """AccessRefused unless the user (and, unless `any_channel`, the channel) is allowed."""
        if self._users and user_id not in self._users:
            logger.warning("access refused: user %s is not in ALLOWED_USER_IDS", user_id)
            raise AccessRefused("use this bot")
        if self._channels and not any_channel and channel_id not in self._channels:
            logger.warning("access refused: channel %s is not in ALLOWED_CHANNEL_IDS (user %s)", channel_id, user_id)
            raise AccessRefused("use this bot in this channel")

    def user_allowed(self, user_id: str | None) -> bool:
        """Whether ALLOWED_USER_IDS lets this person through (no log line: callers say what it refuses)."""
        return not self._users or user_id in self._users

    def group_allowed(self, arn: str) -> bool:
        if not self.restricts_groups:
            return True
        return arn in self._group_arns or dataset_group_name(arn) in self._group_names

    def check_group(self, arn: str, *, user_id: str | None = None) -> None:
        if not self.group_allowed(arn):
            logger.warning("access refused: user %s asked for dataset group %s, not in ALLOWED_DATASET_GROUPS",
                           user_id, arn)
            raise AccessRefused(f"see the dataset group {dataset_group_name(arn)}")

    def job_visible(self, job: DeletionJob) -> bool:
        return self.group_allowed(job.dataset_group_arn)

"""HomeTab: publishes a person's Home tab (`views.publish`), and opens a job's Details from it in a modal.

The handlers have acknowledged Slack already; this runs on the background pool. Someone outside ALLOWED_USER_IDS
gets a view that says the bot is not available to them, built without reading anything. A Home view's buttons
carry no response_url, so Details answers in a modal: `views.open` at once with the click's trigger_id (valid for
3 s), then `views.update` once AWS has answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from services.errors import AccessRefused, BotError, ListExpired, NotWatching
from services.home.snapshot import SharedSnapshot
from services.home.view_model import HomeModelBuilder, snapshot_age
from services.models import DeletionJobDetails, HomeModel
from services.slack.error_code import slack_error_code
from services.storage.store import utcnow

logger = logging.getLogger(__name__)

HOME = "home"
UNAVAILABLE = "unavailable"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class HomeRenderers:
    """The Home tab's Block Kit, injected by app_factory: services never import blocks/."""

    home: Callable[[HomeModel], dict]
    unavailable: Callable[[], dict]
    # No snapshot to show: the read failed (the error's class name and when) or the database did not answer.
    unreadable: Callable[[str | None, datetime | None], dict]
    loading_modal: Callable[[], dict]
    details_modal: Callable[[DeletionJobDetails], dict]
    error_modal: Callable[[Exception], dict]


@dataclass(frozen=True)
class Published:
    """What a publish did, for the audit line."""

    view: str
    published: bool
    groups: int = 0
    snapshot_age_s: float | None = None


class HomeTab:
    def __init__(self, snapshot: SharedSnapshot, builder: HomeModelBuilder, slack_client, renderers: HomeRenderers,
                 access, listing, *, watches=None, clock=utcnow):
        self._snapshot = snapshot
        self._watches = watches
        self._builder = builder
        self._slack = slack_client
        self._render = renderers
        self._access = access
        self._listing = listing
        self._clock = clock

    def publish(self, user_id: str, *, refresh: bool = False) -> Published:
        """Publish this person's Home tab; `refresh` (the Refresh button) accepts a snapshot up to 30 s old."""
        if not self._access.user_allowed(user_id):
            logger.warning("home: user %s is not in ALLOWED_USER_IDS; their Home tab says the bot is not available",
                           user_id)
            return Published(UNAVAILABLE, self._publish(user_id, self._render.unavailable()))
        try:
            state = self._snapshot.refreshed() if refresh else self._snapshot.current()
            if state.snapshot is None:
                return Published(UNREADABLE, self._publish(user_id, self._render.unreadable(state.failure,
                                                                                         state.failed_at)))
            model = self._builder.build(user_id, state)
        except SQLAlchemyError as err:
            logger.warning("home: the state store does not answer (%s); %s's Home tab says so", _reason(err), user_id)
            return Published(UNREADABLE, self._publish(user_id, self._render.unreadable(None, None)))
        return Published(HOME, self._publish(user_id, self._render.home(model)), groups=len(model.groups),
                         snapshot_age_s=snapshot_age(state.snapshot, self._clock()))

    def unwatch(self, user_id: str, job_arn: str) -> str:
        """Unwatch on the Home tab: end the person's watch of that job, then publish their Home again (without it).
        A second press, or a watch that ended meanwhile, just publishes. Returns the audit outcome."""
        if not self._access.user_allowed(user_id) or self._watches is None:
            self.publish(user_id)
            return "refused"
        try:
            ended = self._watches.stop(job_arn, user_id=user_id)
            logger.info("home: %s stopped watching %s", user_id, ended.job_arn)
        except NotWatching:
            pass
        published = self.publish(user_id)
        return "ok" if published.published else "error"

    def open_details(self, user_id: str, trigger_id: str | None, value: str) -> str:
        """Details of a failed job from the Home tab, in a modal; returns the audit outcome."""
        view_id = self._open_modal(trigger_id)
        if view_id is None:
            return "error"
        outcome = "ok"
        try:
            if not self._access.user_allowed(user_id):
                raise AccessRefused("use this bot")
            modal = self._render.details_modal(self._listing.details(value, user_id=user_id).details)
        except BotError as err:
            outcome = "refused" if isinstance(err, AccessRefused) else "user_error"
            modal = self._render.error_modal(err)
            if isinstance(err, ListExpired):
                # The Home tab was published long ago: publish it afresh, with buttons that work.
                self.publish(user_id)
        except Exception as err:  # noqa: BLE001 - answered in the modal; logged with its traceback
            logger.exception("home: Details failed unexpectedly")
            outcome, modal = "error", self._render.error_modal(err)
        self._call("views.update", self._slack.views_update, view_id=view_id, view=modal)
        return outcome

    def _open_modal(self, trigger_id: str | None) -> str | None:
        if not trigger_id:
            logger.warning("home: a Details click without a trigger_id; no modal can be opened")
            return None
        answer = self._call("views.open", self._slack.views_open, trigger_id=trigger_id,
                            view=self._render.loading_modal())
        return ((answer or {}).get("view") or {}).get("id")

    def _publish(self, user_id: str, view: dict) -> bool:
        return self._call("views.publish", self._slack.views_publish, user_id=user_id, view=view) is not None

    @staticmethod
    def _call(method: str, call, **kwargs) -> dict | None:
        """One Web API call; a refusal or an unreachable Slack is one log line, never a traceback."""
        try:
            return call(**kwargs).data
        except SlackApiError as err:
            logger.warning("home: %s failed: %s", method, slack_error_code(err))
        except OSError as err:
            logger.warning("home: %s failed: Slack did not answer (%s)", method, type(err).__name__)
        return None


def _reason(err: SQLAlchemyError) -> str:
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return lines[0] if lines else type(err).__name__

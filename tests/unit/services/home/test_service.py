"""HomeTab and the Home listeners in process: who gets which view, Slack or the database failing (one log line, no
traceback), Details in a modal, and the Messages tab publishing nothing."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy.exc import OperationalError

from blocks import home as home_blocks
from services.access import AccessPolicy
from services.errors import ListExpired, NotWatching
from services.home.service import HomeRenderers, HomeTab
from services.home.snapshot import SnapshotState
from services.home.view_model import HomeModelBuilder
from services.models import GroupActivity
from tests.helpers.home_fakes import NOW, group_arn, snapshot

RENDERERS = HomeRenderers(home=home_blocks.render_home, unavailable=home_blocks.render_home_unavailable,
                          unreadable=home_blocks.render_home_unreadable,
                          loading_modal=home_blocks.render_loading_modal,
                          details_modal=home_blocks.render_details_modal, error_modal=home_blocks.render_error_modal)


class FakeSlack:
    """A WebClient stand-in: records views.* calls; `refuse` makes them fail as Slack would."""

    def __init__(self, refuse: str | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.refuse = refuse

    def _answer(self, method: str, **kwargs):
        self.calls.append((method, kwargs))
        data = {"ok": self.refuse is None, "view": {"id": "V1"}} if self.refuse is None else {
            "ok": False, "error": self.refuse}
        response = SlackResponse(client=None, http_verb="POST", api_url=method, req_args={}, data=data, headers={},
                                 status_code=200)
        if self.refuse:
            raise SlackApiError("refused", response)
        return response

    def views_publish(self, **kwargs):
        return self._answer("views.publish", **kwargs)

    def views_open(self, **kwargs):
        return self._answer("views.open", **kwargs)

    def views_update(self, **kwargs):
        return self._answer("views.update", **kwargs)


class FakeSnapshot:
    def __init__(self, state=None, error=None):
        self.state = state or SnapshotState(snapshot([GroupActivity(group_arn("media-feed"), "media-feed", {})]))
        self.error = error
        self.reads = 0

    def current(self):
        self.reads += 1
        if self.error:
            raise self.error
        return self.state

    refreshed = current


class FakeListing:
    def __init__(self, error=None):
        self.error = error

    def details(self, value, *, user_id=None):
        raise self.error


class FakeWatches:
    def __init__(self, watching: set[str]):
        self.watching_arns = watching

    def stop(self, job, *, user_id):
        if job not in self.watching_arns:
            raise NotWatching(job)
        self.watching_arns.remove(job)
        return SimpleNamespace(job_arn=job)


def home_tab(*, slack=None, snapshot_=None, access=None, listing=None, watches=None) -> HomeTab:
    access = access or AccessPolicy()
    builder = HomeModelBuilder(access, SimpleNamespace(list=lambda: []), lambda sub: "daily",
                               refresh_seconds=300, clock=lambda: NOW)
    return HomeTab(snapshot_ or FakeSnapshot(), builder, slack or FakeSlack(), RENDERERS, access,
                   listing or FakeListing(), watches=watches, clock=lambda: NOW)


def test_an_outsider_gets_the_unavailable_view_without_any_read():
    slack, snap = FakeSlack(), FakeSnapshot()
    published = home_tab(slack=slack, snapshot_=snap, access=AccessPolicy(user_ids=("UIN",))).publish("UOUT")
    assert published.view == "unavailable" and published.published
    assert snap.reads == 0
    assert slack.calls[0][1]["view"] == home_blocks.render_home_unavailable()


def test_slack_refusing_the_publish_is_one_warning_and_no_traceback(caplog):
    caplog.set_level(logging.WARNING)
    published = home_tab(slack=FakeSlack(refuse="invalid_arguments")).publish("U1")
    assert not published.published
    [line] = [r for r in caplog.records if r.name == "services.home.service"]
    assert "views.publish failed: invalid_arguments" in line.getMessage() and line.exc_info is None


def test_a_database_that_does_not_answer_is_said_on_home(caplog):
    slack = FakeSlack()
    error = OperationalError("SELECT", {}, Exception("connection refused"))
    published = home_tab(slack=slack, snapshot_=FakeSnapshot(error=error)).publish("U1")
    assert published.view == "unreadable" and published.published
    assert "database does not answer" in str(slack.calls[0][1]["view"])
    assert not [r for r in caplog.records if r.exc_info]


def test_nothing_read_yet_and_aws_failing_says_why():
    slack = FakeSlack()
    state = SnapshotState(None, failure="AwsThrottled", failed_at=NOW)
    assert home_tab(slack=slack, snapshot_=FakeSnapshot(state=state)).publish("U1").view == "unreadable"
    assert "throttling" in str(slack.calls[0][1]["view"])


def test_details_from_an_expired_home_answers_in_the_modal_and_publishes_home_afresh():
    slack = FakeSlack()
    outcome = home_tab(slack=slack, listing=FakeListing(ListExpired("old"))).open_details("U1", "T.1.x", "v")
    assert outcome == "user_error"
    assert [method for method, _ in slack.calls] == ["views.open", "views.publish", "views.update"]
    assert "out of date" in str(slack.calls[-1][1]["view"])
    assert slack.calls[-1][1]["view_id"] == "V1"


def test_details_without_a_trigger_id_opens_nothing():
    slack = FakeSlack()
    assert home_tab(slack=slack).open_details("U1", None, "v") == "error"
    assert slack.calls == []



def test_unwatch_on_home_ends_the_watch_and_publishes_home_again_and_a_second_press_only_publishes():
    slack, watches = FakeSlack(), FakeWatches({"arn:j1"})
    tab = home_tab(slack=slack, watches=watches)
    assert tab.unwatch("U1", "arn:j1") == "ok"
    assert watches.watching_arns == set()
    assert tab.unwatch("U1", "arn:j1") == "ok"
    assert [method for method, _ in slack.calls] == ["views.publish", "views.publish"]


def test_an_outsider_cannot_unwatch_from_home():
    slack, watches = FakeSlack(), FakeWatches({"arn:j1"})
    tab = home_tab(slack=slack, watches=watches, access=AccessPolicy(user_ids=("UIN",)))
    assert tab.unwatch("UOUT", "arn:j1") == "refused"
    assert watches.watching_arns == {"arn:j1"}
    assert slack.calls[0][1]["view"] == home_blocks.render_home_unavailable()

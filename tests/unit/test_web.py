"""The gates in front of Bolt (web.py): body size, then signature, then shape, before Bolt parses a byte."""

from __future__ import annotations

import io
import logging
import time
import tracemalloc

import pytest
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from devtools.slack_requests import sign, slash_command_body
from tests.helpers.credentials import SIGNING_SECRET
from web import MAX_BODY_BYTES, create_wsgi_app

# NOW is replaced by the time of the call: a timestamp taken at import goes stale on a slow run.
NOW = "now"


def unsigned() -> dict[str, str]:
    """Headers of a current request with a wrong signature (a timestamp taken at import went stale in a slow run)."""
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(int(time.time())), "HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64}


class NoReading(io.RawIOBase):
    """A request body that must not be read; it counts the attempts."""

    def __init__(self):
        self.reads = 0

    def read(self, size=-1):
        self.reads += 1
        return b""


@pytest.fixture
def bolt():
    # A token from `authorize`, as the bot does: Bolt then calls no Web API (auth.test) before ack().
    app = App(signing_secret=SIGNING_SECRET, authorize=lambda enterprise_id, team_id, user_id: AuthorizeResult(
        enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token="xoxb-unit"))
    app.command("/deletion-jobs")(lambda ack: ack())
    dispatched = []
    dispatch = app.dispatch
    app.dispatch = lambda request: dispatched.append(request) or dispatch(request)
    app.dispatched = dispatched
    return app


@pytest.fixture
def parses(monkeypatch):
    """How many times Bolt parsed a body."""
    import slack_bolt.request.request as bolt_request

    calls = []
    parse_body = bolt_request.parse_body
    monkeypatch.setattr(bolt_request, "parse_body", lambda *args: calls.append(1) or parse_body(*args))
    return calls


def environ(body: bytes | None = None, *, stream=None, headers=None, length: str | None = None, **extra) -> dict:
    env = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": stream if stream is not None else io.BytesIO(body or b""),
    }
    if length is not None or body is not None:
        env["CONTENT_LENGTH"] = length if length is not None else str(len(body))
    env.update(headers or {})
    env.update(extra)
    if env.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") == NOW:
        env["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = str(int(time.time()))
    return env


def signed(body: str) -> dict:
    return {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in sign(SIGNING_SECRET, body).items()
            if name != "Content-Type"}


def call(app, env) -> tuple[int, bytes]:
    statuses = []
    body = b"".join(app(env, lambda status, headers, exc_info=None: statuses.append(status)))
    return int(statuses[0].split()[0]), body


def call_measuring_memory(app, env) -> tuple[int, int]:
    """`call`, and the peak of what Python allocated meanwhile (tracemalloc), in bytes."""
    tracemalloc.start()
    try:
        status, _ = call(app, env)
        return status, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "deletion_jobs.web"]


def test_a_body_over_the_cap_is_refused_from_its_content_length_without_being_read(bolt, caplog):
    stream = NoReading()
    status, _ = call(create_wsgi_app(bolt, SIGNING_SECRET), environ(stream=stream, length=str(5 * 2**20),
                                                                      headers=unsigned()))
    assert status == 413
    assert stream.reads == 0
    assert refusals(caplog) == [f"refused a request to /slack/events: 413, a body of {5 * 2**20} bytes is over"
                                f" the {MAX_BODY_BYTES}-byte limit"]


@pytest.mark.parametrize("body", [b"a%26b%3D" * 655_360, b"a=1&" * 1_310_720], ids=["encoded-pairs", "pairs"])
def test_an_unsigned_5_mb_body_costs_no_memory(bolt, body):
    """Such bodies were parsed into millions of form pairs before the signature was checked: 160 MB each."""
    status, peak = call_measuring_memory(create_wsgi_app(bolt, SIGNING_SECRET), environ(body, headers=unsigned()))
    assert status == 413
    assert peak < 2**20, f"{peak / 2**20:.1f} MB"


@pytest.mark.parametrize("body", [b"a=1&" * 62_000, b"a%26b%3D" * 31_000], ids=["pairs", "encoded-pairs"])
def test_an_unsigned_body_under_the_cap_is_refused_before_anything_parses_it(bolt, parses, body, caplog):
    assert len(body) < MAX_BODY_BYTES
    status, peak = call_measuring_memory(create_wsgi_app(bolt, SIGNING_SECRET), environ(body, headers=unsigned()))
    assert status == 401
    assert parses == [] and bolt.dispatched == []
    assert peak < 2**20, f"{peak / 2**20:.1f} MB (parsing it took 7 to 14 MB)"
    assert refusals(caplog) == ["refused a request to /slack/events: 401, bad X-Slack-Signature"]


def test_a_body_of_unknown_length_is_read_only_up_to_the_cap(bolt):
    stream = io.BytesIO(b"x" * (3 * MAX_BODY_BYTES))
    status, _ = call(create_wsgi_app(bolt, SIGNING_SECRET),
                     environ(stream=stream, headers=unsigned(), **{"wsgi.input_terminated": True}))
    assert status == 413
    assert stream.tell() == MAX_BODY_BYTES + 1


def test_a_body_of_unknown_length_on_a_server_that_cannot_end_it_is_411_unread(bolt):
    stream = NoReading()
    assert call(create_wsgi_app(bolt, SIGNING_SECRET), environ(stream=stream, headers=unsigned()))[0] == 411
    assert stream.reads == 0


@pytest.mark.parametrize("length", ["-1", "12abc", "１２", " 12", "9" * 40])
def test_a_content_length_that_is_not_a_number_is_400(bolt, length):
    assert call(create_wsgi_app(bolt, SIGNING_SECRET), environ(stream=NoReading(), length=length))[0] == 400


@pytest.mark.parametrize("headers", [
    {},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "abc", "HTTP_X_SLACK_SIGNATURE": "v0=00"},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "１７００００００００", "HTTP_X_SLACK_SIGNATURE": "v0=00"},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "1e10", "HTTP_X_SLACK_SIGNATURE": "v0=00"},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(int(time.time()) + 3600), "HTTP_X_SLACK_SIGNATURE": "v0=00"},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": NOW, "HTTP_X_SLACK_SIGNATURE": "v0=\xe9\xff"},
    {"HTTP_X_SLACK_REQUEST_TIMESTAMP": NOW, "HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64},
], ids=["none", "not-a-number", "wide-digits", "float", "an-hour-ahead", "latin-1-signature", "wrong"])
def test_every_form_of_bad_signature_is_401_with_one_line(bolt, parses, headers, caplog):
    body = b"payload=%7Bbad"
    assert call(create_wsgi_app(bolt, SIGNING_SECRET), environ(body, headers=headers))[0] == 401
    assert parses == [] and bolt.dispatched == []
    assert len(refusals(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_signed_command_reaches_bolt_once(bolt):
    body = slash_command_body("failed", response_url="http://127.0.0.1:9/r")
    status, _ = call(create_wsgi_app(bolt, SIGNING_SECRET), environ(body.encode(), headers=signed(body)))
    assert status == 200
    assert len(bolt.dispatched) == 1 and bolt.dispatched[0].body["command"] == "/deletion-jobs"


def test_healthz_and_unknown_paths(bolt):
    app = create_wsgi_app(bolt, SIGNING_SECRET)
    assert call(app, environ(b"", REQUEST_METHOD="GET", PATH_INFO="/healthz")) == (
        200, b'{"status": "ok", "scheduler": "off"}')
    assert call(app, environ(b"", REQUEST_METHOD="GET", PATH_INFO="/slack/events"))[0] == 404
    assert call(app, environ(b"x", PATH_INFO="/slack/commands"))[0] == 404


def test_the_cap_leaves_three_times_the_biggest_click_this_bot_can_receive():
    """A click on a 20-job page posted in a channel: Slack sends the whole message, every button value in it."""
    from datetime import UTC, datetime

    from blocks.job_list import render_job_page
    from devtools.slack_requests import block_action_body
    from services.models import Cursor, DeletionJob, ListQuery, Page

    now = datetime.now(UTC)
    jobs = [DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{'j' * 63}{i}",
                        name="n" * 63, dataset_group_arn="arn:aws:personalize:us-east-1:123456789012:dataset-group/"
                        + "g" * 63, status="FAILED", created=now, updated=now,
                        failure_reason='<!channel> & "quoted" reason ' * 100) for i in range(20)]
    page = Page(Cursor(ListQuery(None, "FAILED")), jobs, Cursor(ListQuery()), 20, 1)
    message = render_job_page(page, next_value="v" * 2000, details_values=["d" * 2000] * 20)
    body = block_action_body(action_id="deletion_jobs.next", value="v" * 2000, message={**message, "ts": "1.2"},
                             response_url="https://hooks.slack.com/actions/T1/1/" + "x" * 24,
                             container_ephemeral=False)
    assert 3 * len(body) <= MAX_BODY_BYTES


def test_the_work_of_a_command_starts_only_once_its_answer_is_written(dispatch_bot, emulator, slack, monkeypatch):
    """The server calls close() after writing the 200 (PEP 3333): only then is the listing submitted."""
    emulator.seed_realistic(jobs=30)
    bot = dispatch_bot()
    submitted = []
    submit = bot.services.background.submit
    monkeypatch.setattr(bot.services.background, "submit",
                        lambda fn, *a, **k: submitted.append(fn) or submit(fn, *a, **k))
    body = slash_command_body("failed", response_url=slack.response_url("after-close"))
    statuses = []
    answer = create_wsgi_app(bot.app, SIGNING_SECRET)(environ(body.encode(), headers=signed(body)),
                                                      lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["200 OK"] and b"".join(answer) == b""
    assert submitted == [] and emulator.call_count() == 0  # acknowledged, nothing started
    answer.close()
    assert len(submitted) == 1
    assert slack.wait_for_responses(1, key="after-close")[0]["blocks"]


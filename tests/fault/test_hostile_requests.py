"""Junk and malformed requests at the bot's HTTP server (`python bot.py`'s): a clear 4xx, one log line each,
no traceback anywhere (log or stderr), and no work done."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import pytest

from devtools.slack_requests import block_action_body, post, sign
from tests.helpers.credentials import SIGNING_SECRET

FORM = "application/x-www-form-urlencoded"


def unsigned(timestamp: str | None = None) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": timestamp or str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64, "Content-Type": FORM}


def payload(value: str) -> str:
    return urlencode({"payload": value})


# The bodies the attack used; 80,000 brackets keep the nested one under the body cap once form-encoded.
JUNK_PAYLOADS = {
    "malformed": payload("{not json"),
    "a list": payload("[1, 2]"),
    "null": payload("null"),
    "a number": payload("5"),
    "nested 80,000 deep": payload("[" * 80_000),
    "a JSON body nested 100,000 deep": '{"a":' + "[" * 100_000,
}


def post_raw(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def assert_one_quiet_line_each(caplog, capfd, requests: int) -> None:
    lines = [r for r in caplog.records if r.name == "deletion_jobs.web"]
    assert len(lines) == requests, [r.getMessage() for r in lines]
    assert all(r.getMessage().startswith("refused a request to /slack/events: 4") for r in lines)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text and "Traceback" not in capfd.readouterr().err


def test_unsigned_junk_is_refused_with_one_line_and_no_traceback(run_bot, emulator, slack, caplog, capfd):
    bot = run_bot()
    caplog.set_level(logging.INFO)
    statuses = {
        "timestamp not a number": post_raw(bot.events_url, b"command=%2Fdeletion-jobs", unsigned("soon")),
        "not UTF-8": post_raw(bot.events_url, b"\xff\xfe\xfd" * 100, unsigned()),
    }
    for name, body in JUNK_PAYLOADS.items():
        statuses[name] = post_raw(bot.events_url, body.encode(), unsigned())
    assert statuses == dict.fromkeys(statuses, 401)
    assert_one_quiet_line_each(caplog, capfd, len(statuses))
    assert emulator.call_count() == 0 and slack.response_posts() == []


def test_signed_junk_is_400_with_one_line_and_no_traceback(run_bot, emulator, slack, caplog, capfd):
    """Only a holder of the signing secret can send these; they still get an answer, not a 500."""
    bot = run_bot()
    caplog.set_level(logging.INFO)
    statuses = {}
    for name, body in JUNK_PAYLOADS.items():
        statuses[name] = post(bot.events_url, body, sign(SIGNING_SECRET, body))[0]
    raw = b"\xff\xfe\xfd" * 100
    statuses["not UTF-8"] = post_raw(bot.events_url, raw, signed_bytes(raw))
    assert statuses == dict.fromkeys(statuses, 400)
    assert_one_quiet_line_each(caplog, capfd, len(statuses))
    assert emulator.call_count() == 0 and slack.response_posts() == []


def signed_bytes(raw: bytes) -> dict[str, str]:
    """Slack's headers for a body that is not text (devtools' `sign` takes text)."""
    import hashlib
    import hmac

    timestamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": FORM}


def click_body(**changes) -> str:
    """A signed-able button click whose payload has `changes` applied."""
    from urllib.parse import parse_qs

    body = block_action_body(action_id="deletion_jobs.next", value="v", response_url="http://127.0.0.1:9/unused")
    data = json.loads(parse_qs(body)["payload"][0])
    data.update(changes)
    return payload(json.dumps(data))


@pytest.mark.parametrize("changes", [
    {"user": "U123"},
    {"user": None},
    {"user": {"name": "no id"}},
    {"actions": []},
    {"actions": "deletion_jobs.next"},
    {"actions": ["deletion_jobs.next"]},
    {"actions": [{"value": "no action_id"}]},
    {"actions": [{"action_id": "deletion_jobs.next", "value": 5}]},
    {"channel": "C123"},
    {"container": ["x"]},
], ids=["user-string", "user-null", "user-without-id", "actions-empty", "actions-string", "action-string",
        "action-without-id", "value-number", "channel-string", "container-list"])
def test_signed_malformed_block_actions_are_400_and_do_no_work(run_bot, emulator, slack, caplog, capfd, changes,
                                                               monkeypatch):
    bot = run_bot()
    submitted = []
    monkeypatch.setattr(bot.services.background, "submit", lambda *args, **kwargs: submitted.append(args))
    caplog.set_level(logging.INFO)
    body = click_body(**changes)
    assert post(bot.events_url, body, sign(SIGNING_SECRET, body))[0] == 400
    assert_one_quiet_line_each(caplog, capfd, 1)
    assert submitted == [] and emulator.call_count() == 0


def test_a_well_formed_click_still_works_beside_them(run_bot, emulator, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    first = bot.ask("")
    assert bot.press(first)["blocks"]

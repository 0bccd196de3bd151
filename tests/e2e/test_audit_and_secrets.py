"""One audit line per command and click, with its fields; and no token, signing secret or request body in any log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from devtools.slack_requests import post, sign, slash_command_body
from tests.helpers.bots import job_arns
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET
from tests.helpers.logs import audit_lines, everything_logged

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
AUDIT_FIELDS = {"audit", "team", "user", "channel", "filter", "results", "aws_calls", "latency_ms", "outcome"}


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=9, jobs=150, now=NOW)


# ---- the audit line ------------------------------------------------------------------------------------


def test_one_audit_line_per_command_and_click_with_who_where_what_and_cost(emulator, run_bot, account,
                                                                           bot_logging, caplog):
    stream = bot_logging("INFO")
    bot = run_bot()
    group = account["media-feed"]

    emulator.reset_calls()
    page = bot.ask("media-feed completed", user_id="UAUDIT1", channel_id="CAUDIT1", team_id="TAUDIT1")
    command_calls = emulator.call_count()
    [command] = audit_lines(caplog)
    assert command.keys() >= AUDIT_FIELDS
    assert command["audit"] == "command"
    assert (command["team"], command["user"], command["channel"]) == ("TAUDIT1", "UAUDIT1", "CAUDIT1")
    assert command["filter"] == {"dataset_group": group, "status": "COMPLETED"}
    assert command["results"] == len(job_arns(page)) > 0
    # Every AWS call the request made is counted: the name lookup and the listing.
    assert command["aws_calls"] == command_calls >= 2
    assert isinstance(command["latency_ms"], int | float) and command["latency_ms"] >= 0
    assert command["outcome"] == "ok"

    emulator.reset_calls()
    second = bot.press(page, "Next page", user_id="UAUDIT2", channel_id="CAUDIT1")
    click = audit_lines(caplog)[1]
    assert click.keys() >= AUDIT_FIELDS
    assert (click["audit"], click["action"], click["user"], click["page"]) == (
        "click", "deletion_jobs.next", "UAUDIT2", 2)
    assert click["filter"] == {"dataset_group": group, "status": "COMPLETED"}
    assert click["results"] == len(job_arns(second))
    assert click["aws_calls"] == emulator.call_count()

    emulator.reset_calls()
    bot.press(second, "Details")
    details = audit_lines(caplog)[2]
    assert (details["audit"], details["action"], details["aws_calls"]) == ("click", "deletion_jobs.details", 1)
    assert details["job"].startswith("arn:aws:personalize:")

    # Exactly one line per request, and the same lines reach the bot's own log stream as single JSON lines.
    assert len(audit_lines(caplog)) == 3
    streamed = [line for line in stream.getvalue().splitlines() if "deletion_jobs.audit" in line]
    assert len(streamed) == 3
    assert all(json.loads(line.split("deletion_jobs.audit: ", 1)[1]) for line in streamed)


@pytest.mark.parametrize(
    ("settings", "text", "outcome", "error"),
    [
        ({"allowed_user_ids": ("USOMEONE",)}, "failed", "refused", "AccessRefused"),
        ({}, "failed completed", "user_error", "CommandError"),
        ({}, "no-such-group", "user_error", "DatasetGroupNotFound"),
    ],
)
def test_refusals_and_mistakes_are_audited_too(run_bot, account, bot_logging, caplog, settings, text, outcome, error):
    bot_logging("INFO")
    bot = run_bot(**settings)
    bot.ask(text)
    [line] = audit_lines(caplog)
    assert (line["outcome"], line["error"]) == (outcome, error)
    assert {"team", "user", "channel", "aws_calls", "latency_ms"} <= line.keys()


# ---- secrets -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_no_token_signing_secret_or_request_body_in_any_log_line(emulator, run_bot, account, bot_logging, caplog,
                                                                  level):
    stream = bot_logging(level)
    bot = run_bot(log_level=level)
    assert bot.settings.log_level == level

    # The ordinary path: a command, a click, a Details, a user mistake, a refusal.
    page = bot.ask("failed")
    bot.press(page, "Details")
    bot.press(page, "Next page")
    bot.ask("failedd")
    # The Web API client as well: at DEBUG slack_sdk logs every request it sends.
    import app_factory as bot_module

    bot_module.build_web_client(bot.settings).auth_test()

    # Bad signatures: refused before Bolt sees them (Bolt would log the whole body). The body here carries markers
    # that must not reach any log (the rejected request's response_url key and its command text).
    forged_key, marker = "forged-response-url-key", "forged-body-marker-5e1"
    forged = slash_command_body(marker, response_url=bot.slack.response_url(forged_key))
    assert post(bot.events_url, forged, sign("wrong-secret", forged))[0] == 401
    stale = slash_command_body(marker, response_url=bot.slack.response_url(forged_key))
    assert post(bot.events_url, stale, sign(SIGNING_SECRET, stale, timestamp=1_000_000_000))[0] == 401
    unsigned_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(bot.events_url, forged, unsigned_headers)[0] == 401

    logged = everything_logged(caplog, stream)
    refusal = "refused a request to /slack/events: 401"
    assert logged.count(refusal) >= 3, "the refusals must still be logged, without their body"
    for secret in (SIGNING_SECRET, BOT_TOKEN, marker, forged_key):
        assert secret not in logged, f"{secret!r} appears in the log"
    assert bot.slack.response_posts(forged_key) == []
    assert "xoxb-" not in logged
    if level == "DEBUG":
        assert any(r.levelno == logging.DEBUG for r in caplog.records), "DEBUG logging was not really on"


def test_settings_never_print_their_secrets(make_settings):
    settings = make_settings(slack_app_token="xapp-1-A0-secret-app-token")
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert SIGNING_SECRET not in text and BOT_TOKEN not in text and "secret-app-token" not in text


def test_redaction_covers_any_logger_and_both_bolt_body_formats(bot_logging, caplog):
    stream = bot_logging("DEBUG")
    logging.getLogger("some.library").warning("retrying with token %s", BOT_TOKEN)
    logging.getLogger("slack_bolt.RequestVerification").info(
        "Invalid request signature detected (signature: v0=abc, timestamp: 1, body: token=x&text=%s)", "body-1")
    logging.getLogger("slack_bolt.App").warning(
        "A global middleware (m) skipped calling either `next()` or `next_()` without providing a response "
        "for the request ({'text': 'body-2'})")
    logged = everything_logged(caplog, stream)
    assert BOT_TOKEN not in logged and "body-1" not in logged and "body-2" not in logged
    assert logged.count("[redacted]") >= 2 and "[redacted-token]" in logged


def test_healthz_says_nothing_secret(run_bot):
    import urllib.request

    bot = run_bot()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(bot.url + "/healthz", timeout=10) as response:
        body = response.read().decode()
    assert response.status == 200
    assert json.loads(body) == {"status": "ok", "scheduler": "off"}

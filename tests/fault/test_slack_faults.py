"""Slack misbehaving on the response_url, and requests Slack may replay or users may repeat."""

from __future__ import annotations

import logging
import time

from devtools.slack_requests import block_action_body, post, sign, slash_command_body
from tests.helpers.bots import find_button, job_arns
from tests.helpers.credentials import SIGNING_SECRET
from tests.helpers.gunicorn import PATIENCE
from tests.helpers.logs import everything_logged, wait_for_log
from tests.helpers.tcp_proxy import TcpProxy


def test_response_url_500_then_ok_is_retried(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    slack.queue_response_url_reply(500, "oops")
    ack = bot.command("FAILED")
    message = bot.answer(ack)
    assert job_arns(message)
    posts = slack.response_posts(ack.response_key)
    assert [p.status for p in posts] == [500, 200]


def test_expired_response_url_is_logged_not_crashed(emulator, run_bot, slack, caplog):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    slack.queue_response_url_reply(404, "expired_url")
    ack = bot.command("FAILED")
    deadline = time.monotonic() + 10
    while not slack.response_posts(ack.response_key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.status for p in slack.response_posts(ack.response_key)] == [404]
    deadline = time.monotonic() + 5
    while "response_url expired" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "response_url expired" in caplog.text
    # the bot carries on
    assert job_arns(bot.ask("FAILED"))


def test_replayed_signed_command_inside_five_minutes_is_answered_once(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    body = slash_command_body("FAILED", response_url=slack.response_url("replay"))
    headers = sign(bot.signing_secret, body)
    first = post(bot.events_url, body, headers)
    second = post(bot.events_url, body, headers)
    assert first[0] == second[0] == 200
    answers = slack.wait_for_responses(1, key="replay")
    assert job_arns(answers[0]) == [j["dataDeletionJobArn"] for j in emulator.jobs(status="FAILED")][:10]
    bot.ask("help")  # answered after both copies were handled: the replay had its chance to post
    assert len(slack.responses("replay")) == 1


def test_replayed_click_is_answered_once(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=80)
    bot = run_bot()
    first = bot.ask("")
    button = find_button(first, "Next page")
    body = block_action_body(action_id=button["action_id"], value=button["value"],
                             response_url=slack.response_url("click-replay"))
    headers = sign(bot.signing_secret, body)
    assert post(bot.events_url, body, headers)[0] == 200
    assert post(bot.events_url, body, headers)[0] == 200
    pages = slack.wait_for_responses(1, key="click-replay")
    assert job_arns(pages[0])
    bot.ask("help")
    assert len(slack.responses("click-replay")) == 1


def test_commands_need_no_slack_web_api_call_before_the_ack(emulator, run_bot, slack):
    """Bolt would call auth.test before the first ack() of a process; an unreachable Web API broke every command."""
    emulator.seed_realistic(jobs=40)
    closed_port = slack.port + 1 if slack.port < 65535 else slack.port - 1
    bot = run_bot(slack_api_url=f"http://127.0.0.1:{closed_port}/api/")
    ack = bot.command("FAILED")
    assert ack.status == 200
    assert job_arns(bot.answer(ack))


def test_no_web_api_call_at_all_on_the_command_path(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()  # pointed at the stub, which records every Web API call
    page = bot.ask("")
    bot.press(page)
    bot.press(page, "Details")
    assert slack.calls() == []


# ---- response URLs: at most 5 posts each, and in no log line (issue 8, item 5) ------------------------------


def test_a_response_url_that_drops_connections_gets_three_posts_and_never_reaches_the_log(
        emulator, run_bot, bot_logging, caplog):
    """slack_sdk's ConnectionErrorRetryHandler doubled each attempt (6 POSTs) and logged `for POST <url>` at INFO."""
    emulator.seed_realistic(jobs=40)
    stream = bot_logging("DEBUG")
    bot = run_bot(log_level="DEBUG")
    with TcpProxy("127.0.0.1", bot.slack.port) as proxy:
        proxy.cut()  # connections to this response_url are closed as soon as they arrive
        url = f"http://127.0.0.1:{proxy.port}/response/dropped-key-7d3"
        status, _, _ = bot.send(slash_command_body("FAILED", response_url=url))
        assert status == 200
        wait_for_log(caplog, "response_url failed 3 times")
        assert proxy.refused_while_cut == 3
    logged = everything_logged(caplog, stream)
    assert "dropped-key-7d3" not in logged and f"127.0.0.1:{proxy.port}" not in logged
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "DEBUG logging was not really on"


def test_one_response_url_gets_five_posts_in_all_when_two_requests_share_it(emulator, run_bot, slack, caplog):
    """The second answer through the same URL only gets what the first left of Slack's five. (A replay of the same
    request is not processed again at all; this is two requests, or a replay while the state store is down.)"""
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    slack.queue_response_url_reply(500, "oops", times=100, key="five")
    url = slack.response_url("five")
    assert bot.send(slash_command_body("FAILED", response_url=url))[0] == 200
    wait_for_log(caplog, "response_url failed 3 times")
    assert bot.send(slash_command_body("FAILED", response_url=url))[0] == 200
    # The second answer ends on the budget, or (as before the fix) after three more posts of its own.
    logged = wait_for_log(caplog, "response_url failed 3 times", times=2, or_else="response_url has had its 5 posts")
    assert "response_url has had its 5 posts" in logged
    assert [p.status for p in slack.response_posts("five")] == [500] * 5


def test_under_gunicorn_a_dropping_response_url_gets_three_posts_and_stays_out_of_the_log(
        emulator, slack, start_gunicorn):
    """The Procfile's web process at DEBUG: every line gunicorn and the bot write, none naming the URL."""
    emulator.seed_realistic(jobs=40)
    server = start_gunicorn(LOG_LEVEL="DEBUG")
    server.wait_until_serving()
    with TcpProxy("127.0.0.1", slack.port) as proxy:
        proxy.cut()
        url = f"http://127.0.0.1:{proxy.port}/response/gunicorn-key-91b"
        command = slash_command_body("FAILED", response_url=url)
        assert post(server.url + "/slack/events", command, sign(SIGNING_SECRET, command))[0] == 200
        deadline = time.monotonic() + PATIENCE
        while "response_url failed 3 times" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "response_url failed 3 times" in server.output()
        assert proxy.refused_while_cut == 3
    output = server.output()
    assert " DEBUG " in output, "DEBUG logging was not really on"
    assert "gunicorn-key-91b" not in output and f"127.0.0.1:{proxy.port}" not in output

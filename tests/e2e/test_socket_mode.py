"""Socket Mode end to end (issue 14, section 4): `python bot.py` with SLACK_APP_TOKEN against a local stand-in of
Slack's WebSocket server (devtools/socket_mode_stub.py, reached through the Slack stub's apps.connections.open).

Commands and clicks are acknowledged on the socket by envelope_id and answered on their response_url; when Slack
refreshes the connection (a `disconnect` message, then the close) or the connection just drops, the bot opens a new
one and keeps answering, losing no command it acknowledged; SIGTERM closes the socket with a close frame.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from devtools._http import free_port
from devtools.running_bot import find_button, job_arns
from tests.e2e.test_entrypoint import ROOT, bot_env
from tests.e2e.test_metrics import scrape, value
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET

PATIENCE = 60
APP_TOKEN = "xapp-1-A0DELJOBS-socket-test-token"


class SocketModeBot:
    def __init__(self, tmp_path, slack, emulator, **extra):
        self.metrics_port = free_port()
        env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                      SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url,
                      AWS_ENDPOINT_URL_PERSONALIZE=emulator.url, METRICS_PORT=str(self.metrics_port), **extra)
        self.log = (tmp_path / "bot.log").open("w+")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE)
        self.log.close()


@pytest.fixture
def socket_bot(tmp_path, slack, emulator):
    started = []

    def start(**extra) -> SocketModeBot:
        bot = SocketModeBot(tmp_path, slack, emulator, **extra)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()


def ask(socket, slack, text: str, key: str, **kwargs) -> dict:
    envelope = socket.send_slash_command(text, response_url=slack.response_url(key), **kwargs)
    socket.wait_for_ack(envelope, timeout=PATIENCE)
    return slack.wait_for_responses(1, key=key, timeout=PATIENCE)[0]


def test_commands_and_clicks_are_acknowledged_on_the_socket_and_answered_across_refreshes(
        socket_bot, slack, emulator):
    emulator.seed_realistic(jobs=80)
    socket = slack.enable_socket_mode()
    bot = socket_bot()
    socket.wait_for_connections(1, timeout=PATIENCE)
    assert [c.params.get("token") or c.headers.get("authorization") for c in slack.calls("apps.connections.open")] \
        == [f"Bearer {APP_TOKEN}"]

    first = ask(socket, slack, "", "sm-1")
    assert len(job_arns(first)) == 10
    button = find_button(first, "Next page")
    click = socket.send_click(button["action_id"], button["value"], response_url=slack.response_url("sm-2"))
    assert socket.wait_for_ack(click, timeout=PATIENCE).payload in (None, {})
    second = slack.wait_for_responses(1, key="sm-2", timeout=PATIENCE)[0]
    assert job_arns(second) and not set(job_arns(second)) & set(job_arns(first))

    # A command acknowledged just before Slack refreshes the connection is still answered.
    emulator.latency = 1.0
    pending = socket.send_slash_command("FAILED", response_url=slack.response_url("sm-3"))
    socket.wait_for_ack(pending, timeout=PATIENCE)
    socket.refresh(warn=True)
    socket.wait_for_connections(2, timeout=PATIENCE)
    assert job_arns(slack.wait_for_responses(1, key="sm-3", timeout=PATIENCE)[0])
    emulator.latency = 0
    assert job_arns(ask(socket, slack, "FAILED", "sm-4"))

    # A connection that just drops, with no disconnect message first.
    socket.refresh(warn=False)
    socket.wait_for_connections(3, timeout=PATIENCE)
    assert job_arns(ask(socket, slack, "FAILED", "sm-5"))

    # The same delivery twice (same trigger_id) over the socket: both acknowledged, answered once.
    envelopes = [socket.send_slash_command("FAILED", response_url=slack.response_url("sm-6"), trigger_id="1.2.same")
                 for _ in range(2)]
    for envelope in envelopes:
        socket.wait_for_ack(envelope, timeout=PATIENCE)
    ask(socket, slack, "help", "sm-7")
    assert len(slack.responses("sm-6")) == 1

    acks = [len(socket.acks_of(e)) for e in (click, pending, *envelopes)]
    assert acks == [1, 1, 1, 1], "every envelope acknowledged exactly once"
    # The bot records an ack's latency just after the ack leaves, so the stub can see the last ack first: scrape
    # until the count catches up (bounded), then compare exactly.
    deadline = time.monotonic() + PATIENCE
    while True:
        _, samples = scrape(f"http://127.0.0.1:{bot.metrics_port}")
        if value(samples, "deletion_jobs_ack_seconds_count") >= len(socket.acks) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert value(samples, "deletion_jobs_ack_seconds_count") == len(socket.acks)
    assert value(samples, "deletion_jobs_commands_total", command="list", outcome="ok") == 5
    assert socket.open_connections() == 1
    assert "Traceback" not in bot.output() and APP_TOKEN not in bot.output()


def test_sigterm_closes_the_socket_cleanly_and_finishes_acknowledged_answers(socket_bot, slack, emulator):
    emulator.seed_realistic(jobs=40)
    socket = slack.enable_socket_mode()
    bot = socket_bot()
    socket.wait_for_connections(1, timeout=PATIENCE)
    emulator.latency = 2.0  # the answer is still being worked on when SIGTERM arrives
    envelope = socket.send_slash_command("FAILED", response_url=slack.response_url("term"))
    socket.wait_for_ack(envelope, timeout=PATIENCE)
    bot.process.send_signal(signal.SIGTERM)
    socket.wait_until_closed(timeout=PATIENCE)
    assert bot.process.wait(PATIENCE) == 0, bot.output()
    assert socket.client_closes == 1, "a WebSocket close frame, not a dropped connection"
    assert job_arns(slack.responses("term")[0])
    time.sleep(0.5)
    assert socket.connections == 1, "no reconnect after SIGTERM"
    assert "Traceback" not in bot.output()

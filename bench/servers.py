"""The servers the benchmarks start and the requests they send: a process per server, started from a shell
command line with $PORT set, and signed slash commands whose answers arrive at the Slack stub."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from devtools.personalize_emulator import PersonalizeEmulator
from devtools.slack_requests import post, sign, slash_command_body
from devtools.slack_stub import SlackStub

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
# `python bot.py`'s HTTP server (web_server.BufferingHTTPServer), with no scheduler.
BOT_PY_COMMAND = "python bot.py"


def procfile_web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("Procfile has no web: line")


class Server:
    """A process started from a shell command line, with $PORT set, waited on until /healthz answers."""

    def __init__(self, command: str, env: dict, port: int):
        self.port = port
        self.command = command
        # The server's own output goes to a file, shown if it fails to start.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"server did not start: {command}; its output is in {self.log.name}")

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def rss_mb(self) -> float:
        import psutil

        parent = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def env_for(emulator: PersonalizeEmulator, slack: SlackStub, database: str, port: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DIGEST_", "ALLOWED_"))}
    env.update({
        "PORT": str(port), "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url, "AWS_ENDPOINT_URL_PERSONALIZE": emulator.url,
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
        "DATABASE_URL": database, "LOG_LEVEL": "WARNING", "RUN_SCHEDULER": "false",
        "PATH": str(ROOT / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""),
    })
    env.update(extra)
    return env


def send_command(url: str, slack: SlackStub, text: str, key: str) -> tuple[int, float]:
    """A signed `/deletion-jobs <text>` whose answer goes to the stub's response_url `key`: (status, seconds)."""
    body = slash_command_body(text, response_url=slack.response_url(key))
    status, _, seconds = post(url, body, sign(SECRET, body))
    return status, seconds


def wait_for_answers(slack: SlackStub, keys: list[str], timeout: float) -> int:
    """How many of `keys` got an answer at their response_url within `timeout` seconds (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        answered = sum(1 for key in keys if slack.responses(key))
        if answered == len(keys) or time.monotonic() > deadline:
            return answered
        time.sleep(0.2)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p95_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * .95) - 1)] * 1000


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (Linux; None elsewhere). Each
    such client retransmits its SYN after about a second: a burst that overflows shows up as ~1 s acks."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
                 if line.startswith("TcpExt:")]
        return int(dict(zip(lines[0], lines[1], strict=True))["ListenOverflows"])
    except (OSError, IndexError, KeyError, ValueError):
        return None

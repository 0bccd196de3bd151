"""`python bot.py` as an operator runs it: clear start-up errors, and HTTP serving on $PORT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.slack_requests import post, sign, slash_command_body
from tests.helpers.bots import job_arns
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[2]


def bot_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DIGEST_", "ALLOWED_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}", "RUN_SCHEDULER": "false",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def test_missing_settings_exit_2_with_one_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=bot_env(tmp_path),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_database_is_a_clear_error_not_a_traceback(tmp_path, free_port):
    port = free_port()  # nothing listens there
    env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                  DATABASE_URL=f"postgresql://bot:secret-pw@127.0.0.1:{port}/nope")
    result = subprocess.run([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr and "secret-pw" not in result.stderr


def test_python_bot_py_serves_slack_over_http(tmp_path, emulator, slack, free_port):
    emulator.seed_realistic(jobs=50)
    port = free_port()
    env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, PORT=str(port),
                  SLACK_API_URL=slack.api_url, AWS_ENDPOINT_URL_PERSONALIZE=emulator.url)
    process = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("bot.py never answered /healthz")
        body = slash_command_body("failed", response_url=slack.response_url("cli"))
        status, _, _ = post(base + "/slack/events", body, sign(SIGNING_SECRET, body))
        assert status == 200
        message = slack.wait_for_responses(1, key="cli", timeout=30)[0]
        assert job_arns(message) == [j["dataDeletionJobArn"] for j in emulator.jobs(status="FAILED")][:10]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_a_database_that_accepts_but_never_answers_is_a_clear_error(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                      DATABASE_URL=f"postgresql://bot@127.0.0.1:{port}/db")
        result = subprocess.run([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "does not answer" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_slack_app_token_is_a_clear_error(tmp_path, slack):
    slack.queue_response("apps.connections.open", body={"ok": False, "error": "invalid_auth"}, times=10)
    env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                  SLACK_APP_TOKEN="xapp-1-revoked-token", SLACK_API_URL=slack.api_url,
                  AWS_ENDPOINT_URL_PERSONALIZE="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in output
    assert "Traceback" not in output and "xapp-1-revoked-token" not in output

"""The Procfile's web process, gunicorn, as a subprocess: its command line read from the Procfile, its environment,
and a handle to wait for it, talk to it and read its output."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Loopback only: never let a proxy variable reroute the test's requests.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# How long a test waits for gunicorn to boot, answer and stop before declaring it stuck: a bound, not a target.
PATIENCE = 60


def procfile_command(process: str) -> tuple[dict[str, str], list[str]]:
    """The Procfile's line for `process`: its leading VAR=value assignments and its argv, as a shell splits them."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            words = shlex.split(command)
            env = {}
            while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            return env, words
    raise AssertionError(f"Procfile has no {process!r} process")


def gunicorn_env(tmp_path, *, port: int, emulator, slack, drop=(), **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "ALLOWED_", "DIGEST_", "GUNICORN_")) and k.lower() not in
           {"http_proxy", "https_proxy", "all_proxy"}}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "PORT": str(port),
        # The config binds 0.0.0.0:$PORT as platforms need; the test keeps to loopback through gunicorn's own
        # override variable, so the command itself stays exactly the Procfile's.
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "AWS_ENDPOINT_URL_PERSONALIZE": emulator.url,
        "AWS_REGION": "us-east-1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    for name in drop:
        env.pop(name, None)
    return env


class Gunicorn:
    """gunicorn started exactly as the Procfile's web line says, with its output collected in a file."""

    def __init__(self, tmp_path, env: dict[str, str], port: int):
        procfile_env, argv = procfile_command("web")
        self.port = port
        self.log_path = tmp_path / "gunicorn.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env={**env, **procfile_env}, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                with _opener.open(self.url + "/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer /healthz:\n{self.output()}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with _opener.open(self.url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE)
        self._log.close()

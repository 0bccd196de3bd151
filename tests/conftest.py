"""The fixtures every suite shares (unit, e2e, fault, fuzz, devtools), in this one file.

Isolation: settings built without the environment, AWS credentials that go nowhere, no proxy between the tests
and loopback. Stand-ins: the Personalize emulator and the Slack stub. The bot: over HTTP (`run_bot`) or in
process through `app.dispatch` (`dispatch_bot`). And a free port, a clock, databases, logging, gunicorn.
Helpers that are not fixtures live in `tests/helpers/`.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools._http import free_port as _free_port  # noqa: E402
from devtools.personalize_emulator import PersonalizeEmulator  # noqa: E402
from devtools.slack_stub import SlackStub  # noqa: E402
from tests.helpers.bots import start_bot, start_in_process_bot  # noqa: E402
from tests.helpers.clock import Clock  # noqa: E402
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET  # noqa: E402
from tests.helpers.databases import (  # noqa: E402
    DATABASE_KINDS,
    empty_database,
    engine_with_schema,
    postgres_database,
    sqlite_url_in,
)
from tests.helpers.gunicorn import Gunicorn, gunicorn_env  # noqa: E402
from tests.helpers.logs import bot_logging_installed  # noqa: E402

# The whole suite waits more than it computes (subprocesses starting, servers timing out idle clients, AWS and Slack
# answering late on purpose): it runs on at least this many worker processes (pyproject's `-n auto`), so the waits
# overlap. A run that names its own tests (a file, a folder other than tests/) stays in one process: starting
# workers would cost it more than it saves. `-n N` on the command line, or PYTEST_XDIST_AUTO_NUM_WORKERS, decides.
SUITE_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own reading of it
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS or all(
        Path(arg.split("::")[0]).resolve() == ROOT / "tests" for arg in config.args)
    return max(SUITE_WORKERS, os.cpu_count() or 1) if whole_suite else 0


# Fuzzing: fixed seeds by default (CI), many more random examples on demand:
#   HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest -k "fuzz or hypothesis or any_"
settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---- isolation ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _botocore_reads_its_data_once():
    """Each boto3 client the bot builds starts a botocore session of its own (as it must, after any fork), and each
    session reads and parses botocore's data files again: about 0.15 s per bot built, a fifth of the suite's time.
    The files do not change during a run, so in this process the sessions share one loader, as the clients of one
    session share it in production."""
    import botocore.loaders
    import botocore.session

    with pytest.MonkeyPatch.context() as patch:
        shared_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
        patch.setattr(botocore.session, "create_loader", shared_loader)
        yield



@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Dummy credentials and no shared config: nothing can reach a real AWS account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # slack_sdk honours HTTP(S)_PROXY but not NO_PROXY: loopback calls would go to the proxy.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(tmp_path):
    """Settings(...) with test secrets and a throwaway SQLite file; keyword arguments override."""
    from config import Settings

    def build(**overrides):
        values = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "database_url": sqlite_url_in(tmp_path),
            "run_scheduler": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


# ---- the stand-ins -----------------------------------------------------------------------------------------


@pytest.fixture
def emulator(monkeypatch):
    """The Personalize emulator on a free loopback port; boto3 clients made in the test go to it."""
    with PersonalizeEmulator() as emu:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", emu.url)
        yield emu


@pytest.fixture
def make_personalize(emulator):
    """Builds real boto3 clients on the emulator; keyword arguments go to botocore's Config."""

    def build(**config):
        return boto3.client(
            "personalize",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # One attempt unless a test asks for retries, so error tests see the error at once.
            # (In Config, "max_attempts" counts retries; "total_max_attempts" counts attempts.)
            config=Config(**{"retries": {"mode": "standard", "total_max_attempts": 1}, **config}),
        )

    return build


@pytest.fixture
def personalize(make_personalize):
    return make_personalize()


@pytest.fixture
def slack():
    """The Slack stub: Web API calls and response_url posts, recorded."""
    with SlackStub() as stub:
        yield stub


@pytest.fixture
def free_port():
    """`free_port()`: a loopback port nothing listens on, for a server the test starts (or for nothing at all)."""
    return _free_port


@pytest.fixture
def clock():
    """A Clock at CLOCK_START (Monday 2 November 2026, 09:00 UTC) that moves only when the test moves it."""
    return Clock()


# ---- the bot -----------------------------------------------------------------------------------------------


def _bots(make_settings, slack, emulator, start):
    started = []

    def build(**overrides):
        overrides.setdefault("slack_api_url", slack.api_url)
        bot = start(make_settings(**overrides), slack=slack, emulator=emulator)
        started.append(bot)
        return bot

    return build, started


@pytest.fixture
def run_bot(make_settings, slack, emulator):
    """`run_bot(**settings)` serves the bot over HTTP on loopback; every bot started is stopped after the test."""
    start, started = _bots(make_settings, slack, emulator, start_bot)
    yield start
    for bot in started:
        bot.stop()


@pytest.fixture
def dispatch_bot(make_settings, slack, emulator):
    """`dispatch_bot(**settings)`: the same bot with no server; requests go through `app.dispatch` in process."""
    start, started = _bots(make_settings, slack, emulator, start_in_process_bot)
    yield start
    for bot in started:
        bot.stop()


@pytest.fixture
def submitted(monkeypatch):
    """What requests handed over to run after their ack (services.background.Handoff); the work still runs."""
    from services.background import Handoff

    calls = []
    submit = Handoff.submit
    monkeypatch.setattr(Handoff, "submit", lambda self, fn, *a, **k: calls.append(fn) or submit(self, fn, *a, **k))
    return calls


@pytest.fixture
def bot_logging(caplog):
    """`bot_logging(level)` installs the bot's own logging (redaction included) and returns the stream it writes."""
    with bot_logging_installed(caplog) as install:
        yield install


@pytest.fixture
def start_gunicorn(tmp_path, emulator, slack):
    """`start_gunicorn(drop=(), **env)`: the Procfile's web process on a free port; killed after the test."""
    started = []

    def start(drop=(), **extra) -> Gunicorn:
        port = _free_port()
        env = gunicorn_env(tmp_path, port=port, emulator=emulator, slack=slack, drop=drop, **extra)
        server = Gunicorn(tmp_path, env, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# ---- databases ---------------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path):
    """A SQLite file for the test, not created yet."""
    return sqlite_url_in(tmp_path)


@pytest.fixture
def state_engine(sqlite_url):
    """An engine on the test's SQLite file with every table of the bot."""
    with engine_with_schema(sqlite_url) as engine:
        yield engine


@pytest.fixture(scope="session")
def _session_postgres():
    """One PostgreSQL database for the session (per xdist worker), dropped at the end."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request, tmp_path):
    """Runs the test once on SQLite and once on PostgreSQL; either database starts empty."""
    if request.param == "sqlite":
        return sqlite_url_in(tmp_path)
    url = request.getfixturevalue("_session_postgres")
    empty_database(url)
    return url


@pytest.fixture
def digest_engine(database_url):
    """An engine with every table of the bot, on SQLite and on PostgreSQL."""
    with engine_with_schema(database_url) as engine:
        yield engine

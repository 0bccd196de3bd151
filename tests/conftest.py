"""Fixtures shared by every test: settings built without the environment, AWS credentials that go nowhere."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Fuzzing: fixed seeds by default (CI), many more random examples on demand:
#   HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest -k "fuzz or hypothesis or any_"
settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token-0123456789"


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


@pytest.fixture
def make_settings(tmp_path):
    """Settings(...) with test secrets and a throwaway SQLite file; keyword arguments override."""
    from config import Settings

    def build(**overrides):
        values = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "database_url": f"sqlite:///{tmp_path / 'state.sqlite3'}",
            "run_scheduler": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build

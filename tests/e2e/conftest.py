"""End-to-end fixtures: the Personalize emulator, the Slack stub, and the bot running against both."""

from __future__ import annotations

import pytest

from devtools.personalize_emulator import PersonalizeEmulator
from devtools.slack_stub import SlackStub
from tests.helpers.bots import start_bot


@pytest.fixture
def emulator(monkeypatch):
    with PersonalizeEmulator() as emu:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", emu.url)
        yield emu


@pytest.fixture
def slack():
    with SlackStub() as stub:
        yield stub


@pytest.fixture
def run_bot(make_settings, slack, emulator):
    """`run_bot(**settings)` starts the bot; every bot started is stopped after the test."""
    started = []

    def start(**overrides):
        overrides.setdefault("slack_api_url", slack.api_url)
        running = start_bot(make_settings(**overrides), slack=slack, emulator=emulator)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()

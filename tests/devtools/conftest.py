"""Fixtures for the stand-in tests: a running emulator, a boto3 client on it, a running Slack stub."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from devtools.personalize_emulator import PersonalizeEmulator
from devtools.slack_stub import SlackStub


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # slack_sdk honours HTTP(S)_PROXY but not NO_PROXY: loopback calls would go to the proxy.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator():
    with PersonalizeEmulator() as emu:
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
    with SlackStub() as stub:
        yield stub

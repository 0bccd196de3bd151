"""Fuzz: any value a client can send with a Watch, Unwatch or Details (of a watch message) click gets an answer,
never a traceback, and never a watch of a job in a dataset group the clicker may not see.

Runs through the real handler code (`handlers.watches.answer_watch_click`), the services, boto3 and the emulator.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.job_list import ACTION_WATCH
from blocks.watch import ACTION_UNWATCH, ACTION_WATCH_DETAILS
from handlers.requests import Requester
from handlers.watches import answer_watch_click


class Capture:
    """Stands in for Bolt's `respond`; ResponseDelivery is swapped for a recorder below."""

    response_url = "http://127.0.0.1:9/unused"


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    from app_factory import build_services
    from config import Settings
    from devtools.personalize_emulator import PersonalizeEmulator

    with PersonalizeEmulator() as emulator:
        groups = emulator.seed_realistic(jobs=60)
        previous = os.environ.get("AWS_ENDPOINT_URL_PERSONALIZE")
        os.environ["AWS_ENDPOINT_URL_PERSONALIZE"] = emulator.url
        for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
            os.environ.setdefault(name, value)
        services = build_services(Settings(
            _env_file=None, slack_bot_token="xoxb-fuzz", slack_signing_secret="fuzz-secret",
            database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'w.sqlite3'}",
            allowed_dataset_groups=("media-feed",)))
        sent: list[dict] = []
        services.delivery.send = lambda respond, message, replace_original=False: sent.append(message) or True
        try:
            yield services, emulator, groups, sent
        finally:
            services.background.shutdown(wait=False)
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_PERSONALIZE", None)
            else:
                os.environ["AWS_ENDPOINT_URL_PERSONALIZE"] = previous


def click(services, sent, action_id: str, value: str) -> dict:
    before = len(sent)
    answer_watch_click(services, Requester("T1", "UFUZZ", "C1"), action_id, value, Capture())
    assert len(sent) == before + 1
    return sent[-1]


@settings(max_examples=60)
@given(action=st.sampled_from([ACTION_WATCH, ACTION_UNWATCH, ACTION_WATCH_DETAILS]),
       value=st.one_of(st.text(max_size=300), st.text(max_size=2100),
                       st.builds(lambda n: f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{n}",
                                 st.text(max_size=80))))
def test_any_value_gets_an_answer_and_never_a_traceback(bot, action, value):
    services, _, _, sent = bot
    message = click(services, sent, action, value)
    assert message["text"] and "Traceback" not in message["text"]
    assert "Something went wrong" not in message["text"], (action, value, message["text"])


def test_a_value_naming_a_job_of_a_hidden_group_never_starts_a_watch(bot):
    services, emulator, groups, sent = bot
    hidden = [job for job in emulator.jobs(groups["retail-recs"]) if job["status"] in ("PENDING", "IN_PROGRESS")]
    assert hidden, "the seed has running jobs in retail-recs"
    message = click(services, sent, ACTION_WATCH, hidden[0]["dataDeletionJobArn"])
    assert "not allowed" in message["text"]
    assert services.watches.watching("UFUZZ") == []

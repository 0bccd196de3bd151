"""Fuzz: any button value a client can send gets a page of its own list or "this list has expired", nothing else.

Runs through the real services (JobListing → pager → boto3 → the emulator over HTTP) and the click handler's own
answer path (`handlers.actions.answer_click`: access check, audit, the failure answer), for every button the bot
draws, so an exception anywhere on the click path shows: as a wrong answer, or as a traceback in the log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.errors import EXPIRED_TEXT
from blocks.job_list import ACTION_BACK, ACTION_CONTINUE, ACTION_DETAILS, ACTION_NEXT, ACTION_RESTART
from devtools.personalize_emulator import PersonalizeEmulator
from devtools.running_bot import find_button
from handlers.actions import answer_click
from handlers.requests import Requester
from services.errors import BotError, ListExpired
from services.models import Cursor, ListQuery
from tests.helpers.databases import sqlite_url_in

LIST_BUTTONS = (ACTION_NEXT, ACTION_CONTINUE, ACTION_BACK, ACTION_RESTART, ACTION_DETAILS)
CLICKER = Requester("T1", "U1", "C1")


class RecordedAnswers:
    """Stands in for ResponseDelivery: keeps the messages a click would post to its response_url."""

    def __init__(self):
        self.messages: list[dict] = []

    def send(self, respond, message: dict, *, replace_original: bool = False) -> bool:
        self.messages.append(message)
        return True


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """The bot's services on an emulator with 120 jobs; the click's answer is recorded instead of posted."""
    from app_factory import build_services
    from config import Settings

    with PersonalizeEmulator() as emulator:
        groups = emulator.seed_realistic(jobs=120)
        saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL_PERSONALIZE", "AWS_ACCESS_KEY_ID",
                                                         "AWS_SECRET_ACCESS_KEY")}
        os.environ.update({"AWS_ENDPOINT_URL_PERSONALIZE": emulator.url, "AWS_ACCESS_KEY_ID": "t",
                           "AWS_SECRET_ACCESS_KEY": "t"})
        built = None
        try:
            settings = Settings(_env_file=None, slack_bot_token="xoxb-fuzz", slack_signing_secret="fuzz-secret",
                                database_url=sqlite_url_in(tmp_path_factory.mktemp("fuzz")))
            built = build_services(settings)
            yield dataclasses.replace(built, delivery=RecordedAnswers()), groups
        finally:
            if built is not None:
                built.background.shutdown(wait=False)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextmanager
def logged_records():
    """Every record logged meanwhile, whatever its logger or level."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.NOTSET)
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def click(services, action_id: str, value: str) -> tuple[dict, list[logging.LogRecord]]:
    """What the click handler answers to a click on `value`, and what it logged meanwhile."""
    answers = services.delivery
    before = len(answers.messages)
    with logged_records() as records:
        answer_click(services, CLICKER, action_id, value, respond=None)
    [message] = answers.messages[before:]
    return message, records


@given(st.text(max_size=2100))
def test_arbitrary_values_say_expired_on_every_button(services, value):
    services, _ = services
    for action_id in LIST_BUTTONS:
        message, records = click(services, action_id, value)
        assert EXPIRED_TEXT in message["text"], (action_id, message["text"])
        assert find_button(message, "Run it again") is not None, action_id
        assert find_button(message, "Try again") is None, "an expired list is not worth trying again"
        assert "Traceback" not in json.dumps(message)
        assert [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR] == [], action_id
    with pytest.raises(ListExpired):
        services.listing.details(value)
    with pytest.raises(ListExpired):
        services.listing.restart(value)


@given(data=st.data())
def test_tampered_values_never_show_another_dataset_group(services, data):
    services, groups = services
    listing = services.listing
    group = data.draw(st.sampled_from(sorted(groups.values())))
    token_page = data.draw(st.sampled_from([None, "x" * 1500]))
    query = ListQuery(group, data.draw(st.sampled_from([None, "FAILED"])))
    value = listing._codec.encode(Cursor(query, api_token=token_page))
    index = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.text(min_size=1, max_size=3))
    tampered = value[:index] + replacement + value[index + 1:]
    try:
        view = listing.page_at(tampered)
    except ListExpired:
        return
    except BotError:
        return  # an AWS refusal of a token is also an answer, never another group's page
    assert view.page.cursor.query == query
    assert all(job.dataset_group_arn == group for job in view.page.jobs)

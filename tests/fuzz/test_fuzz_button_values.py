"""Fuzz: any button value a client can send gets a page of its own list or "this list has expired", nothing else.

Runs through the real services (JobListing → pager → boto3 → the emulator over HTTP) and through the
user-facing renderer, so an exception anywhere on the click path would show.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.errors import EXPIRED_TEXT, render_error
from devtools.personalize_emulator import PersonalizeEmulator
from services.errors import BotError, ListExpired
from services.models import Cursor, ListQuery


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    import os

    from app_factory import build_services
    from config import Settings

    with PersonalizeEmulator() as emulator:
        groups = emulator.seed_realistic(jobs=120)
        previous = os.environ.get("AWS_ENDPOINT_URL_PERSONALIZE")
        os.environ["AWS_ENDPOINT_URL_PERSONALIZE"] = emulator.url
        for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
            os.environ.setdefault(name, value)
        try:
            settings = Settings(_env_file=None, slack_bot_token="xoxb-fuzz", slack_signing_secret="fuzz-secret",
                                database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.sqlite3'}")
            services = build_services(settings)
            yield services.listing, groups
        finally:
            services.background.shutdown(wait=False)
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_PERSONALIZE", None)
            else:
                os.environ["AWS_ENDPOINT_URL_PERSONALIZE"] = previous


def click_any(listing, value):
    """What a click on `value` shows: ("page", query) or ("message", text)."""
    for action in (listing.page_at, listing.restart):
        try:
            view = action(value)
        except BotError as err:
            message = render_error(err, restart_value=listing.restart_value(getattr(err, "query", None)))
            assert "Traceback" not in message["text"]
            return "message", message["text"]
        return "page", view.page.cursor.query
    return None


@given(st.text(max_size=2100))
def test_arbitrary_values_say_expired(listing, value):
    listing, _ = listing
    kind, what = click_any(listing, value)
    assert kind == "message" and EXPIRED_TEXT in what
    with pytest.raises(ListExpired):
        listing.details(value)


@given(data=st.data())
def test_tampered_values_never_show_another_dataset_group(listing, data):
    listing, groups = listing
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

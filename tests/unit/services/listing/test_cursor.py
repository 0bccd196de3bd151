import json
import time
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import ListExpired
from services.listing.cursor import BUTTON_VALUE_LIMIT, CursorCodec, _b64
from services.models import STATUSES, Cursor, ListQuery, Position
from services.storage.store import CursorStore, StateStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    state = StateStore.from_url(f"sqlite:///{tmp_path_factory.mktemp('codec') / 's.sqlite3'}")
    state.create_schema()
    return CursorStore(state.engine, ttl=timedelta(hours=1))


@pytest.fixture(scope="module")
def codec(store):
    return CursorCodec(b"secret", store, ttl_seconds=3600)


group_arns = st.one_of(
    st.none(),
    st.from_regex(r"arn:aws:personalize:us-east-1:\d{12}:dataset-group/[a-z][a-z0-9-]{0,62}", fullmatch=True),
)
tokens = st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=1500))
cursors = st.builds(
    Cursor,
    query=st.builds(ListQuery, dataset_group_arn=group_arns, status=st.one_of(st.none(), st.sampled_from(STATUSES))),
    api_token=tokens,
    after=st.one_of(st.none(), st.builds(
        Position,
        created_us=st.integers(0, 2**53),
        arn=st.from_regex(r"arn:aws:personalize:us-east-1:\d{12}:data-deletion-job/[a-z][a-z0-9-]{0,62}",
                          fullmatch=True),
    )),
    page=st.integers(1, 10_000),
    shown=st.integers(0, 1_000_000),
)


@given(cursors)
def test_every_cursor_round_trips_and_fits_a_button(codec, cursor):
    value = codec.encode(cursor)
    assert len(value) <= BUTTON_VALUE_LIMIT
    assert codec.decode(value) == cursor
    job_arn = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/" + "j" * 63
    details = codec.encode_details(job_arn, value)
    assert len(details) <= BUTTON_VALUE_LIMIT
    assert codec.decode_details(details) == (job_arn, value)


def test_long_tokens_are_stored_and_short_ones_inline(codec):
    query = ListQuery("arn:aws:personalize:us-east-1:123456789012:dataset-group/g", "FAILED")
    assert codec.encode(Cursor(query, api_token="t" * 20)).startswith("c.")
    assert codec.encode(Cursor(query, api_token="t" * 1500)).startswith("s.")


@given(st.text(max_size=2500))
def test_arbitrary_values_are_expired_lists(codec, value):
    with pytest.raises(ListExpired):
        codec.decode(value)


@given(cursors, st.integers(0, 10_000), st.characters())
def test_tampered_values_never_decode_to_another_list(codec, cursor, position, char):
    value = codec.encode(cursor)
    index = position % len(value)
    tampered = value[:index] + char + value[index + 1:]
    if tampered == value:
        return
    try:
        decoded = codec.decode(tampered)
    except ListExpired:
        return
    assert decoded == cursor  # only base64 padding-equivalent edits could still verify


def test_expired_cursor_remembers_its_query(store):
    now = [1_000_000.0]
    codec = CursorCodec(b"secret", store, ttl_seconds=60, clock=lambda: now[0])
    query = ListQuery(None, "FAILED")
    value = codec.encode(Cursor(query, api_token="abc", after=Position(1, "arn:j"), page=2, shown=10))
    now[0] += 61
    with pytest.raises(ListExpired) as caught:
        codec.decode(value)
    assert caught.value.query == query


def test_a_value_signed_with_another_key_is_refused(store, codec):
    other = CursorCodec(b"other", store, ttl_seconds=3600)
    with pytest.raises(ListExpired):
        codec.decode(other.encode(Cursor(ListQuery(None, "FAILED"))))


def test_unknown_stored_id_is_expired_but_keeps_query(codec):
    query = ListQuery("arn:aws:personalize:us-east-1:123456789012:dataset-group/g", None)
    value = codec.encode(Cursor(query, api_token="x" * 1500))
    kind, body, _ = value.split(".")
    forged_body = "unknown" + body[body.index("~"):]
    forged = codec._sign("s", forged_body)  # a correctly signed id that is not in the store
    with pytest.raises(ListExpired) as caught:
        codec.decode(forged)
    assert caught.value.query == query


def test_an_offset_cursor_from_before_positions_offers_to_run_its_list_again(codec):
    """Buttons posted before the upgrade carry version-1 cursors (an offset): they cannot resume, but the query
    they show can be run again."""
    query = ListQuery("arn:aws:personalize:us-east-1:123456789012:dataset-group/g", "FAILED")
    issued = int(time.time())
    old = codec._sign("c", _b64(json.dumps([1, query.dataset_group_arn, "FAILED", "tok", 3, 2, 10, issued]).encode()))
    with pytest.raises(ListExpired) as caught:
        codec.decode(old)
    assert caught.value.query == query

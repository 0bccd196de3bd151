import html
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.errors import TOKEN_LIMIT, render_error
from blocks.mrkdwn import escape_truncated
from services.errors import CommandError, DigestUsageError, InvalidDigestTime, MalformedArn, UnknownTimeZone
from services.listing.command_parser import (
    ARN_PATTERN,
    DIGEST_ACTIONS,
    NAME_PATTERN,
    WATCH_ACTIONS,
    DigestCommand,
    ExportCommand,
    HelpCommand,
    ListCommand,
    WatchCommand,
    normalise_status,
    parse_command,
)
from tests.helpers.blockkit import assert_within_limits

ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ListCommand()),
        (None, ListCommand()),
        ("   ", ListCommand()),
        ("failed", ListCommand(status="FAILED")),
        ("FAILED", ListCommand(status="FAILED")),
        ("in-progress", ListCommand(status="IN_PROGRESS")),
        ("In_Progress", ListCommand(status="IN_PROGRESS")),
        ("media-feed", ListCommand(group="media-feed")),
        ("media-feed failed", ListCommand(group="media-feed", status="FAILED")),
        ("failed media-feed", ListCommand(group="media-feed", status="FAILED")),
        (f"{ARN} COMPLETED", ListCommand(group=ARN, status="COMPLETED")),
        (f"pending {ARN}", ListCommand(group=ARN, status="PENDING")),
        ("help", HelpCommand()),
        ("HELP", HelpCommand()),
        ("digest subscribe media-feed at 09:30 Europe/Berlin",
         DigestCommand("subscribe", group="media-feed", at_time="09:30", timezone="Europe/Berlin")),
        ("digest subscribe", DigestCommand("subscribe")),
        (f"digest subscribe {ARN} 7:05", DigestCommand("subscribe", group=ARN, at_time="07:05")),
        ("digest now", DigestCommand("now")),
    ],
)
def test_parses(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("failed completed", "completed"),
        ("a b", "b"),
        ("a b c", "c"),
        ("fa!led", "fa!led"),
        ("&lt;!channel&gt;", "<!channel>"),
        ("digest", "digest"),
        ("digest explode", "explode"),
    ],
)
def test_rejects_with_the_offending_token(text, token):
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    assert caught.value.token == token
    assert caught.value.problem


@pytest.mark.parametrize("arn", ["arn:aws:personalize:us-east-1:123:dataset-group/x", "arn:aws:s3:::bucket",
                                 "arn:aws:personalize:us-east-1:123456789012:dataset-group/" + "x" * 300])
def test_malformed_arns_are_named(arn):
    with pytest.raises(MalformedArn) as caught:
        parse_command(f"{arn} failed")
    assert caught.value.arn == arn


def usage_answer(err: Exception) -> str:
    message = render_error(err)
    assert_within_limits(message)
    return message["blocks"][0]["text"]["text"]


def assert_is_what_was_typed(result, words: list[str]) -> None:
    """A parsed command is made of the words typed, each read as what it is, and of nothing else."""
    if isinstance(result, HelpCommand):
        assert len(words) == 1 and words[0].lower() in {"help", "-h", "--help", "?", "usage"}
    elif isinstance(result, DigestCommand):
        assert words[0].lower() == "digest" and result.action == words[1].lower() in DIGEST_ACTIONS
        assert result.group is None or result.group in words[2:]
        assert result.timezone is None or result.timezone.lower() in {word.lower() for word in words[2:]}
    elif isinstance(result, ExportCommand):
        assert words[0].lower() == "export"
        assert result.group is None or result.group in words[1:]
        assert result.status is None or result.status in [normalise_status(word) for word in words[1:]]
        for word, day in (("since", result.since), ("until", result.until)):
            assert day is None or (word in [w.lower() for w in words] and day.isoformat() in words)
        assert result.since is None or result.until is None or result.since < result.until
    elif isinstance(result, WatchCommand):
        assert result.action == words[0].lower() in WATCH_ACTIONS
        assert result.job is None if result.action == "watching" else result.job == " ".join(words[1:])
    else:
        assert isinstance(result, ListCommand)
        assert len(words) == (result.group is not None) + (result.status is not None)
        assert result.status is None or result.status in [normalise_status(word) for word in words]
        if result.group is not None:
            assert result.group in words and normalise_status(result.group) is None
            assert NAME_PATTERN.match(result.group) or ARN_PATTERN.match(result.group)


WORDS = ["failed", "IN-progress", "media-feed", ARN, "digest", "help", "x!", "arn:aws:s3:::b", "&lt;", "at", "09:30"]


@given(st.text(max_size=4000)
       | st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)
       | st.lists(st.sampled_from(WORDS + list(DIGEST_ACTIONS)), max_size=4).map(lambda w: " ".join(["digest", *w])))
def test_any_text_parses_or_gives_a_usage_answer(text):
    words = html.unescape(text).split()
    try:
        result = parse_command(text)
    except CommandError as err:
        # The answer names the word it could not read and points to the usage.
        assert err.problem and err.token
        assert err.token.lower() in ({word.lower() for word in words}
                                     | {" ".join(words[1:]).lower(), " ".join(words[2:]).lower()})
        answer = usage_answer(err)
        assert answer.startswith(f":warning: I did not understand `{escape_truncated(err.token, TOKEN_LIMIT)}`: ")
        if isinstance(err, DigestUsageError):  # answered with the digest's usage
            assert "`/deletion-jobs digest now`" in answer
        else:
            assert "Type `/deletion-jobs help` for examples." in answer
    except MalformedArn as err:
        assert err.arn in words
        assert "is not a dataset group ARN. It should look like" in usage_answer(err)
    except (InvalidDigestTime, UnknownTimeZone) as err:  # `digest subscribe at 25:00`, `at 9:00 Mars/Base`
        assert err.token
    else:
        assert_is_what_was_typed(result, words)
# ---- watches (issue 11) ----------------------------------------------------------------------------------

JOB_ARN = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/gdpr-42"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("watch gdpr-42", WatchCommand("watch", "gdpr-42")),
        (f"Watch {JOB_ARN}", WatchCommand("watch", JOB_ARN)),
        ("unwatch gdpr-42", WatchCommand("unwatch", "gdpr-42")),
        ("watching", WatchCommand("watching")),
        ("WATCHING", WatchCommand("watching")),
    ],
)
def test_watch_keywords(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "token"), [("watch", "watch"), ("unwatch", "unwatch"), ("watch a b", "a b"),
                                             ("watching media-feed", "media-feed")])
def test_watch_keywords_need_exactly_their_words(text, token):
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    assert caught.value.token == token


@pytest.mark.parametrize("name", ["watch", "unwatch", "watching", "export"])
def test_a_dataset_group_named_like_a_keyword_is_reached_by_its_arn(name):
    arn = f"arn:aws:personalize:us-east-1:123456789012:dataset-group/{name}"
    assert parse_command(f"{arn} failed") == ListCommand(group=arn, status="FAILED")
    try:
        by_name = parse_command(f"{name} failed")
    except CommandError:
        by_name = None
    assert not isinstance(by_name, ListCommand)


# ---- export (issue 12) -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export", ExportCommand()),
        ("EXPORT failed", ExportCommand(status="FAILED")),
        ("export media-feed", ExportCommand(group="media-feed")),
        ("export completed media-feed since 2026-11-01",
         ExportCommand(group="media-feed", status="COMPLETED", since=date(2026, 11, 1))),
        ("export until 2026-12-01 since 2026-11-01 " + ARN,
         ExportCommand(group=ARN, since=date(2026, 11, 1), until=date(2026, 12, 1))),
        ("export Since 2026-02-28 UNTIL 2026-03-01", ExportCommand(since=date(2026, 2, 28), until=date(2026, 3, 1))),
    ],
)
def test_parses_exports(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "token", "problem"),
    [
        ("export since", "since", "needs a date"),
        ("export since yesterday", "yesterday", "needs a date"),
        ("export since 2026-13-01", "2026-13-01", "needs a date"),
        ("export since 2026-02-30", "2026-02-30", "needs a date"),
        ("export until 20261101", "20261101", "needs a date"),
        ("export since 2026-11-01 since 2026-11-02", "since", "only once"),
        ("export since 2026-11-02 until 2026-11-02", "2026-11-02", "before"),
        ("export until 2026-11-02 since 2026-11-03", "2026-11-03", "before"),
        ("export a b c", "c", "too many words"),
        ("export failed pending", "pending", "only one status"),
        ("export fa!led", "fa!led", "not a status"),
    ],
)
def test_export_errors_name_the_offending_words(text, token, problem):
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    assert caught.value.token == token
    assert problem in caught.value.problem


def test_export_with_a_malformed_arn_is_refused_as_one():
    with pytest.raises(MalformedArn):
        parse_command("export arn:aws:personalize:us-east-1:1:dataset-group/x")


EXPORT_WORDS = ["since", "UNTIL", "2026-11-01", "2026-12-01", "2026-02-30", "yesterday", "failed", "media-feed", ARN,
                "x!", "arn:aws:s3:::b"]


@given(st.lists(st.sampled_from(EXPORT_WORDS), max_size=6).map(lambda w: " ".join(["export", *w])))
def test_any_export_parses_or_names_the_word_it_could_not_read(text):
    words = text.split()
    try:
        result = parse_command(text)
    except CommandError as err:
        assert err.problem and err.token in words
        named = escape_truncated(err.token, TOKEN_LIMIT)
        assert usage_answer(err).startswith(f":warning: I did not understand `{named}`")
    except MalformedArn as err:
        assert err.arn in words
    else:
        assert_is_what_was_typed(result, words)

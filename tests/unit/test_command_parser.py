import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import CommandError, InvalidDigestTime, MalformedArn, UnknownTimeZone
from services.listing.command_parser import DigestCommand, HelpCommand, ListCommand, WatchCommand, parse_command

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


@given(st.text(max_size=4000))
def test_any_text_parses_or_gives_a_usage_answer(text):
    try:
        result = parse_command(text)
    except CommandError as err:
        assert err.problem
    except MalformedArn as err:
        assert err.arn
    except (InvalidDigestTime, UnknownTimeZone) as err:  # `digest subscribe at 25:00`, `at 9:00 Mars/Base`
        assert err.token
    else:
        assert isinstance(result, ListCommand | HelpCommand | DigestCommand | WatchCommand)


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


@pytest.mark.parametrize("name", ["watch", "unwatch", "watching"])
def test_a_dataset_group_named_like_a_keyword_is_reached_by_its_arn(name):
    arn = f"arn:aws:personalize:us-east-1:123456789012:dataset-group/{name}"
    assert parse_command(f"{arn} failed") == ListCommand(group=arn, status="FAILED")
    try:
        by_name = parse_command(f"{name} failed")
    except CommandError:
        by_name = None
    assert not isinstance(by_name, ListCommand)

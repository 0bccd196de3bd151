"""`/deletion-jobs digest …` from Slack: parsing, membership check, allowlists, and the answers people see."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from blocks.errors import render_error
from handlers.commands import answer_command
from handlers.digest import answer_digest
from handlers.requests import Requester
from services.access import AccessPolicy
from services.audit import AuditLog
from services.aws.dataset_groups import DatasetGroupResolver
from services.container import Services
from services.digest.commands import DigestCommands
from services.digest.results import DigestPosted, Subscribed, Unsubscribed
from services.digest.service import DigestService
from services.errors import (
    AccessRefused,
    BotNotInChannel,
    DatasetGroupNotFound,
    DigestDatabaseUnavailable,
    DigestFailed,
    DigestInDirectMessage,
    DigestUsageError,
    ForeignDatasetGroupArn,
    InvalidDigestTime,
    MalformedArn,
    NotSubscribed,
    UnknownTimeZone,
)
from services.listing.command_parser import CommandError, parse_command
from services.models import DatasetGroup, DeletionJob
from services.scheduling.scheduler import DigestSchedule
from services.storage.ledger import DigestLedger
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.blockkit import assert_within_limits
from tests.helpers.clock import CLOCK_START
from tests.helpers.digest_fakes import DIGEST_RENDERER, FakeGateway, FakePacer, FakeSlack, posted_arns

NOW = CLOCK_START
MEDIA = "arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed"
RETAIL = "arn:aws:personalize:us-east-1:123456789012:dataset-group/retail"


class GroupsGateway(FakeGateway):
    def list_dataset_groups(self):
        return [DatasetGroup("media-feed", MEDIA), DatasetGroup("retail", RETAIL)]


@pytest.fixture
def env(state_engine, clock):
    gateway = GroupsGateway()
    slack = FakeSlack()
    subscriptions = SubscriptionStore(state_engine, clock=clock)
    digest = DigestService(gateway, subscriptions, DigestLedger(state_engine, claim_ttl=timedelta(minutes=15)), slack,
                           renderer=DIGEST_RENDERER, lookback=timedelta(hours=24), max_job_age=timedelta(hours=48),
                           pacer=FakePacer(), clock=clock)

    def commands(access=None, configured=()):
        return DigestCommands(subscriptions, digest, DatasetGroupResolver(gateway), access or AccessPolicy(), slack,
                              DigestSchedule("0 9 * * *", "UTC"), configured_channels=configured)

    return type("Env", (), {"gateway": gateway, "slack": slack, "subscriptions": subscriptions, "commands": commands,
                            "digest": digest})


def ask(commands, action: str, *args: str, channel: str = "C1", user: str = "U1") -> dict:
    """`/deletion-jobs digest <action> <args>` as the command handler runs it: parsed, handled, rendered."""
    parsed = parse_command(" ".join(["digest", action, *args]))
    message = answer_digest(commands, parsed, Requester("T1", user, channel))
    assert_within_limits(message)
    return message


def answer_text(message: dict) -> str:
    return message["blocks"][0]["text"]["text"]


def error_text(err: Exception) -> str:
    message = render_error(err)
    assert_within_limits(message)
    return message["blocks"][0]["text"]["text"]


# ---- parsing --------------------------------------------------------------------------------------------


def parse_subscribe_args(args):
    """`digest subscribe <args>` through the command parser."""
    return parse_command(" ".join(["digest", "subscribe", *args]))


@pytest.mark.parametrize("args, expected", [
    ((), (None, None, None)),
    (("media-feed",), ("media-feed", None, None)),
    (("at", "8:30"), (None, "08:30", None)),
    (("at", "08:30", "europe/berlin"), (None, "08:30", "Europe/Berlin")),
    (("media-feed", "at", "17:45", "America/New_York"), ("media-feed", "17:45", "America/New_York")),
    (("media-feed", "07:00"), ("media-feed", "07:00", None)),
    ((MEDIA, "at", "07:00", "UTC"), (MEDIA, "07:00", "UTC")),
])
def test_subscribe_arguments(args, expected):
    parsed = parse_subscribe_args(args)
    assert (parsed.group, parsed.at_time, parsed.timezone) == expected


@pytest.mark.parametrize("args, error", [
    (("at", "25:00"), InvalidDigestTime),
    (("media-feed", "9am"), InvalidDigestTime),
    (("at",), DigestUsageError),
    (("at", "09:00", "Mars/Olympus"), UnknownTimeZone),
    (("at", "09:00", "UTC", "extra"), DigestUsageError),
    (("Europe/Berlin",), DigestUsageError),
    (("media-feed", "retail"), DigestUsageError),
    (("arn:aws:personalize:us-east-1:123:dataset-group/x",), MalformedArn),
    (("<!channel>",), DigestUsageError),
])
def test_bad_subscribe_arguments_are_named(args, error):
    with pytest.raises(error):
        parse_subscribe_args(args)


def test_bad_times_and_zones_get_a_clear_answer():
    assert "`25:00` is not a time I understand. Use 24-hour `HH:MM`" in error_text(InvalidDigestTime("25:00"))
    text = error_text(UnknownTimeZone("Europe/Berln", ("Europe/Berlin",)))
    assert "I don't know the time zone `Europe/Berln`" in text and "`Europe/Berlin`" in text
    usage = error_text(DigestUsageError("a time zone needs a time before it", "<!channel>"))
    assert "&lt;!channel&gt;" in usage and "digest subscribe" in usage


# ---- subscribe --------------------------------------------------------------------------------------------


def test_subscribe_stores_the_channel_and_says_when_the_digest_comes(env):
    message = ask(env.commands(), "subscribe", "media-feed", "at", "08:30", "Europe/Berlin")
    sub = env.subscriptions.get("C1")
    assert (sub.dataset_group_arn, sub.at_time, sub.timezone, sub.created_by) == (MEDIA, "08:30", "Europe/Berlin",
                                                                                "U1")
    text = answer_text(message)
    assert "Subscribed <#C1>" in text and "dataset group `media-feed`" in text
    assert "every day at 08:30 Europe/Berlin" in text and "Next digest: <!date^" in text
    assert env.slack.info_calls == ["C1"]


def test_subscribing_again_updates_the_subscription(env):
    ask(env.commands(), "subscribe")
    message = ask(env.commands(), "subscribe", "retail")
    assert "Updated the subscription of <#C1>" in answer_text(message)
    assert env.subscriptions.get("C1").dataset_group_arn == RETAIL


def test_subscribe_refuses_when_the_bot_is_not_in_the_channel_and_says_how_to_fix_it(env):
    env.slack.channel_info["C1"] = {"is_member": False}
    with pytest.raises(BotNotInChannel) as caught:
        ask(env.commands(), "subscribe")
    assert env.subscriptions.get("C1") is None
    text = error_text(caught.value)
    assert "I am not a member of <#C1>" in text and "/invite @deletion-jobs" in text


def test_a_private_channel_without_the_bot_looks_like_channel_not_found(env):
    env.slack.info_error = "channel_not_found"
    with pytest.raises(BotNotInChannel):
        ask(env.commands(), "subscribe")


def test_an_archived_channel_is_refused(env):
    env.slack.channel_info["C1"] = {"is_archived": True}
    with pytest.raises(BotNotInChannel) as caught:
        ask(env.commands(), "subscribe")
    assert "archived" in error_text(caught.value)


def test_when_slack_cannot_tell_the_subscription_is_kept_with_a_warning(env):
    env.slack.info_error = "missing_scope"
    message = ask(env.commands(), "subscribe")
    assert env.subscriptions.get("C1") is not None
    assert "could not check that I am a member" in answer_text(message)


@pytest.mark.parametrize("channel, info", [
    ("D0123ABCD", {}),  # a direct message: refused before Slack is asked (conversations.info needs im:read)
    ("G0123ABCD", {"is_mpim": True}),  # a group direct message: only Slack can tell
])
def test_a_direct_message_cannot_get_the_digest_and_is_told_so(env, channel, info):
    env.slack.channel_info[channel] = info
    with pytest.raises(DigestInDirectMessage) as caught:
        ask(env.commands(), "subscribe", channel=channel)
    assert env.subscriptions.get(channel) is None
    assert env.slack.info_calls == ([] if channel.startswith("D") else [channel])
    text = error_text(caught.value)
    assert text == (":no_entry: A digest goes to a channel, not to a direct message. Run `/deletion-jobs digest"
                    " subscribe` in the channel that should get it.")


def test_an_unknown_group_is_named_with_close_names(env):
    with pytest.raises(DatasetGroupNotFound) as caught:
        ask(env.commands(), "subscribe", "media-fed")
    assert caught.value.suggestions[0] == "media-feed"
    assert env.subscriptions.get("C1") is None


def test_the_group_allowlist_applies_to_subscriptions(env):
    access = AccessPolicy(dataset_groups=("retail",))
    with pytest.raises(AccessRefused):
        ask(env.commands(access), "subscribe", "media-feed")
    ask(env.commands(access), "subscribe", "retail")


def test_list_hides_subscriptions_to_groups_outside_the_allowlist(env):
    ask(env.commands(), "subscribe", "media-feed", channel="C1")
    ask(env.commands(), "subscribe", "retail", channel="C2")
    listing = str(ask(env.commands(AccessPolicy(dataset_groups=("retail",))), "list"))
    assert "retail" in listing and "media-feed" not in listing and "C1" not in listing


def test_the_user_and_channel_allowlists_apply_before_anything_happens(env):
    """Through the real command handler: nothing is stored, Slack is not asked, the answer says no."""
    delivered = []

    class Delivery:
        def send(self, respond, message, **kwargs):
            delivered.append(message)

    class Listing:
        def restart_value(self, query):
            return None

    services = Services(listing=Listing(), access=AccessPolicy(user_ids=("UADMIN",)), audit=AuditLog(env.gateway),
                        background=None, delivery=Delivery(), digest_commands=env.commands(),
                        digest=env.digest, digest_schedule=DigestSchedule("0 9 * * *", "UTC"))
    answer_command(services, Requester("T1", "UOTHER", "C1"), "digest subscribe", respond=None)
    assert "not allowed" in delivered[0]["blocks"][0]["text"]["text"]
    assert env.subscriptions.get("C1") is None and env.slack.info_calls == []

    answer_command(services, Requester("T1", "UADMIN", "C1"), "digest subscribe at 7:00", respond=None)
    assert "Subscribed <#C1>" in delivered[1]["blocks"][0]["text"]["text"]


# ---- unsubscribe, list, now ------------------------------------------------------------------------------


def test_unsubscribe_and_list(env):
    commands = env.commands(configured=("CCONF",))
    ask(commands, "subscribe", channel="C1")
    ask(commands, "subscribe", "retail", "at", "07:00", "Asia/Tokyo", channel="C2")
    listing = answer_text(ask(commands, "list")) + ask(commands, "list")["blocks"][1]["text"]["text"]
    assert "<#C1> · all dataset groups" in listing and "<#C2> · dataset group `retail`" in listing
    assert "every day at 07:00 Asia/Tokyo" in listing

    assert "no longer gets the digest" in answer_text(ask(commands, "unsubscribe", channel="C1"))
    assert "nothing to stop" in answer_text(ask(commands, "unsubscribe", channel="C1"))
    env.subscriptions.subscribe("CCONF", dataset_group_arn=None, origin="settings")
    assert "DIGEST_CHANNELS" in answer_text(ask(commands, "unsubscribe", channel="CCONF"))


def test_the_list_counts_subscriptions_in_words_that_agree(env):
    commands = env.commands()
    ask(commands, "subscribe", channel="C1")
    one = ask(commands, "list")
    assert one["text"] == "1 digest subscription" and answer_text(one) == "*1 digest subscription*"
    ask(commands, "subscribe", channel="C2")
    two = ask(commands, "list")
    assert two["text"] == "2 digest subscriptions" and answer_text(two) == "*2 digest subscriptions*"


def test_extra_words_after_list_are_refused(env):
    with pytest.raises(DigestUsageError):
        ask(env.commands(), "list", "everything")


def test_now_posts_this_channel_digest_at_once(env):
    ask(env.commands(), "subscribe")
    failed = DeletionJob(arn="arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j1", name="j1",
                         dataset_group_arn=MEDIA, status="FAILED", created=NOW - timedelta(hours=3),
                         updated=NOW - timedelta(hours=2), failure_reason="nope")
    env.gateway.add(failed)
    text = answer_text(ask(env.commands(), "now"))
    assert "Posted 1 failed deletion job" in text and "to <#C1>" in text
    assert posted_arns(env.slack.posted_to("C1")) == [failed.arn]
    assert "No new failed deletion jobs" in answer_text(ask(env.commands(), "now"))


def test_now_without_a_subscription_and_now_refused_by_slack(env):
    with pytest.raises(NotSubscribed) as caught:
        ask(env.commands(), "now")
    assert "/deletion-jobs digest subscribe" in error_text(caught.value)

    ask(env.commands(), "subscribe")
    env.gateway.add(DeletionJob(arn="arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j2", name="j2",
                                dataset_group_arn=MEDIA, status="FAILED", created=NOW - timedelta(hours=3),
                                updated=NOW - timedelta(hours=2), failure_reason="nope"))
    env.slack.refuse("C1", "not_in_channel")
    with pytest.raises(DigestFailed) as refused:
        ask(env.commands(), "now")
    assert (refused.value.channel_id, refused.value.code) == ("C1", "not_in_channel")
    assert "/invite @deletion-jobs" in error_text(refused.value)


def test_a_dataset_group_arn_of_another_region_is_refused_and_nothing_is_stored(env):
    foreign = "arn:aws:personalize:eu-west-1:123456789012:dataset-group/media-feed"
    with pytest.raises(ForeignDatasetGroupArn) as caught:
        ask(env.commands(), "subscribe", foreign, "at", "08:30")
    assert env.subscriptions.get("C1") is None
    assert env.slack.info_calls == [], "refused before asking Slack anything"
    assert "this bot reads region `us-east-1`" in error_text(caught.value)


@pytest.mark.parametrize("token", ["media-feed", "a" * 63, "a" * 64, "-feed", "feed!", MEDIA, MEDIA + "/x",
                                   "arn:aws:personalize:us-east-1:123:dataset-group/x", "ARN:aws:s3:::bucket"])
def test_a_subscription_names_its_dataset_group_as_a_listing_does(token):
    """One name/ARN check in the command parser: a token a listing refuses, a subscription refuses too."""
    def verdict(text):
        try:
            parse_command(text)
        except MalformedArn:
            return "malformed ARN"
        except CommandError:
            return "not a name"
        return "accepted"

    assert verdict(f"digest subscribe {token}") == verdict(token)


def test_digest_commands_return_what_they_did_as_plain_data(env):
    """No Block Kit in services/: the handler renders these (handlers/digest.py)."""
    commands = env.commands()
    subscribed = commands.handle(parse_command("digest subscribe media-feed at 8:30"), channel_id="C1", user_id="U1")
    assert isinstance(subscribed, Subscribed) and subscribed.created
    assert (subscribed.subscription.dataset_group_arn, subscribed.subscription.at_time) == (MEDIA, "08:30")
    assert subscribed.schedule_text == "every day at 08:30 UTC" and subscribed.note is None

    listed = commands.handle(parse_command("digest list"), channel_id="C1", user_id="U1")
    assert [s.channel_id for s in listed.subscriptions] == ["C1"]
    assert listed.schedule_of(listed.subscriptions[0]) == "every day at 08:30 UTC"

    posted = commands.handle(parse_command("digest now"), channel_id="C1", user_id="U1")
    assert posted == DigestPosted("C1", reported=0, messages=0, since=posted.since)

    removed = commands.handle(parse_command("digest unsubscribe"), channel_id="C1", user_id="U1")
    assert isinstance(removed, Unsubscribed) and removed.removed.channel_id == "C1" and not removed.still_configured


# ---- the database down ------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("command", "says"), [
    ("digest list", "could not show the digest subscriptions"),
    ("digest now", "could not post this channel's digest"),
    ("digest subscribe", "could not change this channel's digest subscription"),
    ("digest unsubscribe", "could not change this channel's digest subscription"),
])
def test_with_the_database_down_digest_commands_say_so_without_a_traceback(env, caplog, command, says):
    """Nothing listens at DATABASE_URL: a real driver error, through the real command handler."""
    from services.storage.store import create_state_engine

    engine = create_state_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    subscriptions = SubscriptionStore(engine)
    digest = DigestService(env.gateway, subscriptions, DigestLedger(engine, claim_ttl=timedelta(minutes=15)),
                           env.slack, renderer=DIGEST_RENDERER, lookback=timedelta(hours=24),
                           max_job_age=timedelta(hours=48), pacer=FakePacer())
    commands = DigestCommands(subscriptions, digest, DatasetGroupResolver(env.gateway), AccessPolicy(), env.slack,
                              DigestSchedule("0 9 * * *", "UTC"))
    delivered = []

    class Delivery:
        def send(self, respond, message, **kwargs):
            delivered.append(message)

    services = Services(listing=None, access=AccessPolicy(), audit=AuditLog(env.gateway), background=None,
                        delivery=Delivery(), digest_commands=commands, digest=digest,
                        digest_schedule=DigestSchedule("0 9 * * *", "UTC"))
    with caplog.at_level(logging.INFO):
        answer_command(services, Requester("T1", "U1", "C1"), command, respond=None)
    engine.dispose()

    [message] = delivered
    assert_within_limits(message)
    text = message["blocks"][0]["text"]["text"]
    assert "database is unavailable" in text and says in text, text
    assert "Something went wrong" not in text
    assert all(r.exc_info is None for r in caplog.records), "no traceback in the log"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "database does not answer" in errors[0], errors
    audit = [r.getMessage() for r in caplog.records if r.name == "deletion_jobs.audit"]
    assert len(audit) == 1 and "DigestDatabaseUnavailable" in audit[0]


def test_digest_now_that_loses_the_database_mid_run_says_what_it_posted(env, monkeypatch):
    from sqlalchemy.exc import OperationalError

    ask(env.commands(), "subscribe")
    for i in range(30):  # two messages
        env.gateway.add(DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/m{i}",
                                    name=f"m{i}", dataset_group_arn=MEDIA, status="FAILED",
                                    created=NOW - timedelta(hours=3), updated=NOW - timedelta(hours=2, minutes=i),
                                    failure_reason="nope"))
    ledger = env.digest._ledger
    original, marks = ledger.mark_posted, []

    def mark_then_fail(claim, job_arns, *, message_ts):
        marks.append(len(job_arns))
        if len(marks) == 2:
            raise OperationalError("UPDATE digest_ledger ...", {}, Exception("server closed the connection"))
        return original(claim, job_arns, message_ts=message_ts)

    monkeypatch.setattr(ledger, "mark_posted", mark_then_fail)
    with pytest.raises(DigestDatabaseUnavailable) as caught:
        ask(env.commands(), "now")
    text = error_text(caught.value)
    assert f"I posted {marks[0]} failed deletion jobs before it stopped answering" in text
    assert "could not post this channel's digest" in text

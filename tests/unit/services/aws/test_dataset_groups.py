"""DatasetGroupResolver: an ARN outside the bot's partition, region or account is refused, naming the part; one
that names no dataset group is refused naming the group and the region."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from blocks.errors import render_error
from services.aws.dataset_groups import DatasetGroupResolver
from services.aws.personalize import PersonalizeGateway
from services.digest.service import DigestService
from services.errors import (
    AwsThrottled,
    DatasetGroupArnNotFound,
    DatasetGroupNotFound,
    DigestGroupInvalid,
    ForeignDatasetGroupArn,
)
from services.models import DatasetGroup
from tests.helpers.blockkit import assert_within_limits
from tests.helpers.waiting import wait_until

HOME = "arn:aws:personalize:us-east-1:123456789012:dataset-group/"


class Gateway:
    """The resolver's side of PersonalizeGateway: where the bot reads, ListDatasetGroups and DescribeDatasetGroup,
    counted. `created` are groups AWS has that the cached list does not show yet."""

    def __init__(self, *, region="us-east-1", partition="aws", groups=("media-feed",), created=()):
        self.region, self.partition = region, partition
        self.groups = [DatasetGroup(name, HOME + name) for name in groups]
        self.created = [DatasetGroup(name, HOME + name) for name in created]
        self.list_calls = 0
        self.described: list[str] = []

    def list_dataset_groups(self):
        self.list_calls += 1
        return list(self.groups)

    def describe_dataset_group(self, arn):
        self.described.append(arn)
        return next((group for group in self.groups + self.created if group.arn == arn), None)


@pytest.mark.parametrize(
    ("arn", "part", "given", "expected", "list_calls"),
    [
        ("arn:aws-cn:personalize:cn-north-1:123456789012:dataset-group/media-feed", "partition", "aws-cn", "aws", 0),
        ("arn:aws-us-gov:personalize:us-gov-west-1:123456789012:dataset-group/x", "partition", "aws-us-gov", "aws", 0),
        ("arn:aws:personalize:eu-west-1:123456789012:dataset-group/media-feed", "region", "eu-west-1", "us-east-1", 0),
        ("arn:aws:personalize:us-east-1:999999999999:dataset-group/media-feed", "account", "999999999999",
         "123456789012", 1),
    ],
)
def test_an_arn_elsewhere_is_refused_naming_the_part(arn, part, given, expected, list_calls):
    gateway = Gateway()
    with pytest.raises(ForeignDatasetGroupArn) as caught:
        DatasetGroupResolver(gateway).resolve(arn)
    assert (caught.value.part, caught.value.given, caught.value.expected) == (part, given, expected)
    assert gateway.list_calls == list_calls, "partition and region are checked without calling AWS"


def test_an_arn_of_the_bots_own_account_and_region_is_taken_with_one_cached_lookup():
    gateway = Gateway(created=("not-listed-yet",))
    resolver = DatasetGroupResolver(gateway)
    assert resolver.resolve(HOME + "media-feed") == DatasetGroup("media-feed", HOME + "media-feed")
    assert gateway.described == [], "a listed group costs no call of its own"
    assert resolver.resolve(HOME + "not-listed-yet").arn == HOME + "not-listed-yet"
    assert gateway.described == [HOME + "not-listed-yet"], "a group created since the list was cached is described"
    assert gateway.list_calls == 1


def test_an_arn_that_names_no_dataset_group_is_refused_naming_the_group_and_the_region():
    gateway = Gateway()
    with pytest.raises(DatasetGroupArnNotFound) as caught:
        DatasetGroupResolver(gateway).resolve(HOME + "ghost")
    assert (caught.value.name, caught.value.region, caught.value.account) == ("ghost", "us-east-1", "123456789012")
    assert isinstance(caught.value, DatasetGroupNotFound), "caught wherever an unknown name is"
    assert gateway.described == [HOME + "ghost"]
    message = render_error(caught.value)
    assert_within_limits(message)
    assert message["blocks"][0]["text"]["text"] == (
        ":mag: The dataset group `ghost` does not exist in region `us-east-1` (account `123456789012`).")


def test_whether_a_group_the_allowlist_hides_exists_is_not_told():
    gateway = Gateway()
    resolver = DatasetGroupResolver(gateway, visible=lambda arn: arn.endswith("/media-feed"))
    assert resolver.resolve(HOME + "hidden-or-ghost").arn == HOME + "hidden-or-ghost", "the access check refuses it"
    assert gateway.described == []


def test_a_digest_dataset_group_arn_that_names_no_group_stops_the_bot():
    digest = DigestService(Gateway(), None, None, None, renderer=None, lookback=timedelta(hours=24),
                           max_job_age=timedelta(hours=48), configured_group=HOME + "ghost",
                           resolver=DatasetGroupResolver(Gateway()))
    with pytest.raises(DigestGroupInvalid) as caught:
        digest.configured_group_arn()
    assert f"DIGEST_DATASET_GROUP '{HOME}ghost' is not a dataset group in this account and region" in str(caught.value)


def test_the_partition_comes_from_the_client_region():
    gateway = Gateway(region="cn-north-1", partition="aws-cn", groups=())
    arn = "arn:aws-cn:personalize:cn-north-1:123456789012:dataset-group/media-feed"
    gateway.created = [DatasetGroup("media-feed", arn)]
    assert DatasetGroupResolver(gateway).resolve(arn).arn == arn
    with pytest.raises(ForeignDatasetGroupArn) as caught:
        DatasetGroupResolver(gateway).resolve(HOME + "media-feed")
    assert caught.value.part == "partition"


def test_with_no_dataset_group_to_learn_the_account_from_only_partition_and_region_are_checked():
    arn = "arn:aws:personalize:us-east-1:999999999999:dataset-group/media-feed"
    gateway = Gateway(groups=())
    gateway.created = [DatasetGroup("media-feed", arn)]
    assert DatasetGroupResolver(gateway).resolve(arn).arn == arn


def test_the_answer_says_which_part_does_not_match_and_escapes_the_arn():
    err = ForeignDatasetGroupArn("arn:aws:personalize:eu-west-1:123456789012:dataset-group/<!here>", "region",
                                 "eu-west-1", "us-east-1")
    message = render_error(err)
    assert_within_limits(message)
    text = message["blocks"][0]["text"]["text"]
    assert "That ARN is in region `eu-west-1`; this bot reads region `us-east-1`" in text
    assert "&lt;!here&gt;" in text and "<!here>" not in text


@pytest.mark.parametrize("configured", ["arn:aws:personalize:eu-west-1:123456789012:dataset-group/media-feed",
                                        "arn:nonsense"])
def test_a_digest_dataset_group_setting_elsewhere_is_a_settings_error(configured):
    digest = DigestService(Gateway(), None, None, None, renderer=None, lookback=timedelta(hours=24),
                           max_job_age=timedelta(hours=48), configured_group=configured,
                           resolver=DatasetGroupResolver(Gateway()))
    with pytest.raises(DigestGroupInvalid) as caught:
        digest.configured_group_arn()
    assert "DIGEST_DATASET_GROUP" in str(caught.value)
    if "eu-west-1" in configured:
        assert "region eu-west-1; this bot reads region us-east-1" in str(caught.value)


def test_people_naming_groups_at_once_on_a_cold_cache_cost_one_list_dataset_groups(emulator, make_personalize):
    emulator.add_dataset_group("media-feed")
    resolver = DatasetGroupResolver(PersonalizeGateway(make_personalize()))
    emulator.hold()
    found = []
    threads = [threading.Thread(target=lambda: found.append(resolver.resolve("media-feed").name)) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        # One reads (held at AWS), nineteen wait for its answer.
        wait_until(lambda: resolver.waiting() == 19, what="nineteen requests waiting for the one read")
        assert emulator.call_count("ListDatasetGroups") == 1
    finally:
        emulator.release()
    for thread in threads:
        thread.join(60)
    assert found == ["media-feed"] * 20
    assert emulator.call_count("ListDatasetGroups") == 1


def test_a_failed_read_fails_everyone_waiting_at_once_and_the_next_request_reads_again(emulator, make_personalize):
    """Before, the waiters queued on a lock and each read again in turn: fifty people, fifty timeouts in a row."""
    emulator.add_dataset_group("media-feed")
    emulator.inject_error("ListDatasetGroups", "ThrottlingException")
    resolver = DatasetGroupResolver(PersonalizeGateway(make_personalize()))
    emulator.hold()
    outcomes = []

    def ask():
        try:
            outcomes.append(resolver.resolve("media-feed").name)
        except AwsThrottled:
            outcomes.append("throttled")

    threads = [threading.Thread(target=ask) for _ in range(10)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: resolver.waiting() == 9, what="nine requests waiting for the one read")
    finally:
        emulator.release()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["throttled"] * 10 and emulator.call_count("ListDatasetGroups") == 1
    assert resolver.resolve("media-feed").name == "media-feed"
    assert emulator.call_count("ListDatasetGroups") == 2


def test_a_read_that_ended_on_its_own_callers_deadline_is_made_again_by_a_waiter_with_time_left():
    from services.errors import DeadlineSpent

    class Gateway:
        calls = 0

        def list_dataset_groups(self):
            Gateway.calls += 1
            if Gateway.calls == 1:
                started.set()
                go.wait(30)
                raise DeadlineSpent("list_dataset_groups: deadline passed before the call")
            return [DatasetGroup(name="media-feed", arn=HOME + "media-feed")]

    started, go = threading.Event(), threading.Event()
    resolver = DatasetGroupResolver(Gateway())
    first_error = []
    first = threading.Thread(target=lambda: first_error.append(_raised(resolver.groups)))
    first.start()
    assert started.wait(30)
    second = []
    waiter = threading.Thread(target=lambda: second.append(resolver.groups()))
    waiter.start()
    wait_until(lambda: resolver.waiting() == 1, what="the second request waiting")
    go.set()
    first.join(30)
    waiter.join(30)
    assert isinstance(first_error[0], DeadlineSpent)
    assert [g.name for g in second[0]] == ["media-feed"] and Gateway.calls == 2


def _raised(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - the test inspects it
        return err
    return None

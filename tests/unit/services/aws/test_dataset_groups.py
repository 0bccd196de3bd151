"""DatasetGroupResolver: an ARN outside the bot's partition, region or account is refused, naming the part; one
that names no dataset group is refused naming the group and the region."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blocks.errors import render_error
from services.aws.dataset_groups import DatasetGroupResolver
from services.digest.service import DigestService
from services.errors import DatasetGroupArnNotFound, DatasetGroupNotFound, DigestGroupInvalid, ForeignDatasetGroupArn
from services.models import DatasetGroup
from tests.helpers.blockkit import assert_within_limits

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


class ArrivalsLock:
    """A lock that counts the threads that have come to it (holding it or waiting for it)."""

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.arrived = 0

    def __enter__(self):
        with self._count:
            self.arrived += 1
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


def test_people_naming_groups_at_once_on_a_cold_cache_cost_one_list_dataset_groups(emulator, make_personalize):
    import threading

    from services.aws.personalize import PersonalizeGateway
    from tests.helpers.waiting import wait_until

    emulator.add_dataset_group("media-feed")
    resolver = DatasetGroupResolver(PersonalizeGateway(make_personalize()))
    resolver._reading = arrivals = ArrivalsLock()
    emulator.hold()
    found = []
    threads = [threading.Thread(target=lambda: found.append(resolver.resolve("media-feed").name)) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        # One reads (held at AWS), nineteen wait for its answer.
        wait_until(lambda: arrivals.arrived == 20, what="every request at the read")
        assert emulator.call_count("ListDatasetGroups") == 1
    finally:
        emulator.release()
    for thread in threads:
        thread.join(60)
    assert found == ["media-feed"] * 20
    assert emulator.call_count("ListDatasetGroups") == 1

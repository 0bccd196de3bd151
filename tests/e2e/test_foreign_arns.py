"""Dataset group ARNs outside the bot's partition, region or account, typed in Slack: refused with a sentence that
names the part, before any ListDataDeletionJobs call, in listings and in digest subscriptions alike."""

from __future__ import annotations

import pytest

from tests.helpers.bots import job_arns

ELSEWHERE = [
    ("arn:aws-cn:personalize:cn-north-1:123456789012:dataset-group/media-feed",
     "That ARN is in partition `aws-cn`; this bot reads partition `aws`"),
    ("arn:aws:personalize:eu-west-1:123456789012:dataset-group/media-feed",
     "That ARN is in region `eu-west-1`; this bot reads region `us-east-1`"),
    ("arn:aws:personalize:us-east-1:999999999999:dataset-group/media-feed",
     "That ARN is in account `999999999999`; this bot reads account `123456789012`"),
]


@pytest.fixture
def media_feed(emulator):
    group = emulator.add_dataset_group("media-feed")
    emulator.seed_bulk(group, 15)
    return group


@pytest.mark.parametrize(("arn", "sentence"), ELSEWHERE)
def test_listing_a_group_elsewhere_is_refused_naming_the_part(emulator, run_bot, media_feed, arn, sentence):
    bot = run_bot()
    answer = bot.ask(f"{arn} failed")
    assert sentence in answer["text"]
    assert emulator.call_count("ListDataDeletionJobs") == 0
    assert len(job_arns(bot.ask(media_feed))) == 10, "the bot's own ARN is listed as before"


@pytest.mark.parametrize(("arn", "sentence"), ELSEWHERE)
def test_subscribing_to_a_group_elsewhere_is_refused_and_stores_nothing(emulator, run_bot, slack, media_feed, arn,
                                                                       sentence):
    slack.set_channel("C123")
    bot = run_bot()
    answer = bot.ask(f"digest subscribe {arn}")
    assert sentence in answer["text"] and "Subscribed" not in answer["text"]
    assert "No channel gets a digest yet" in bot.ask("digest list")["text"]
    assert "Subscribed" in bot.ask(f"digest subscribe {media_feed}")["text"]

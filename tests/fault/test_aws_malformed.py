"""AWS answering HTTP 200 with a body that is not an answer (empty, an HTML page from a proxy, truncated JSON).

botocore returns `{}` for such a body, without an error. Read as "no jobs", the digest would find no failures,
move each channel's mark past them, and lose them; the listing would say "no more matching jobs". Both must
treat it as the failed call it is, and lose nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import create_engine

from devtools.personalize_emulator import RawBody
from services.storage.subscriptions import SubscriptionStore
from tests.helpers.bots import job_arns
from tests.helpers.digest_runs import (
    CHANNEL,
    NOW,
    Account,
    assert_failed_loudly,
    assert_next_run_posts_everything_once,
    digest_env,
    ledger_rows,
    run_digest,
)

KINDS = ["empty", "html", "truncated"]
AWS_ERROR_TEXT = "AWS could not answer this request"
# Well-formed JSON whose list member has the wrong type: botocore coerces each to [] without an error.
COERCED_JOBS = [b'{"dataDeletionJobs":{}}', b'{"dataDeletionJobs":""}']


@pytest.fixture
def jobs(emulator) -> Account:
    """300+ deletion jobs; `jobs.expected` are the failures a digest must post."""
    return Account(emulator)


def last_digest_at(database_url: str):
    engine = create_engine(database_url)
    try:
        return SubscriptionStore(engine).get(CHANNEL).last_digest_at
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_a_digest_reading_a_malformed_page_fails_marks_nothing_and_the_next_run_posts_every_failure(
        kind, emulator, slack, jobs, sqlite_url, tmp_path):
    database_url = sqlite_url
    slack.set_channel(CHANNEL)
    emulator.inject_body("ListDataDeletionJobs", kind)
    env = digest_env(emulator, slack, database_url)

    broken = run_digest(env, tmp_path)

    assert_failed_loudly(broken, "list_data_deletion_jobs", "cannot use", "request id")
    assert "request id None" not in broken.stderr
    assert slack.messages(CHANNEL) == []
    assert ledger_rows(database_url) == (set(), set()), "nothing claimed, nothing marked"
    assert last_digest_at(database_url) is None, "the channel's mark did not move"
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


@pytest.mark.parametrize("kind", KINDS)
def test_the_listing_answers_a_malformed_page_with_the_aws_error_message(kind, emulator, run_bot, caplog):
    emulator.seed_realistic(jobs=30)
    bot = run_bot()
    emulator.inject_body("ListDataDeletionJobs", kind)

    message = bot.ask("FAILED")

    assert AWS_ERROR_TEXT in message["text"] and "AWS request id" in message["text"]
    assert "no more" not in message["text"].lower()
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING], "no traceback"
    assert job_arns(bot.ask("FAILED")), "the next healthy answer lists the jobs"


@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_list_dataset_groups_is_answered_as_an_aws_error_and_not_cached(kind, emulator, run_bot):
    emulator.seed_realistic(jobs=30)
    bot = run_bot()
    emulator.inject_body("ListDatasetGroups", kind)

    refused = bot.ask("media-feed failed")

    assert AWS_ERROR_TEXT in refused["text"], "not 'no dataset group named media-feed'"
    assert job_arns(bot.ask("media-feed failed")), "resolved on the next command"
    assert emulator.call_count("ListDatasetGroups") == 2, "the broken answer was not cached"


@pytest.mark.parametrize("body", COERCED_JOBS)
def test_a_digest_reading_a_list_member_of_the_wrong_type_fails_and_the_next_run_posts_every_failure(
        body, emulator, slack, jobs, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    slack.set_channel(CHANNEL)
    emulator.inject_body("ListDataDeletionJobs", RawBody(body))
    env = digest_env(emulator, slack, database_url)

    broken = run_digest(env, tmp_path)

    assert_failed_loudly(broken, "list_data_deletion_jobs", "not a JSON array", "request id")
    assert slack.messages(CHANNEL) == []
    assert ledger_rows(database_url) == (set(), set()), "nothing claimed, nothing marked"
    assert last_digest_at(database_url) is None, "the channel's mark did not move"
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


def test_a_list_dataset_groups_member_of_the_wrong_type_is_an_aws_error_and_not_cached(emulator, run_bot):
    emulator.seed_realistic(jobs=30)
    bot = run_bot()
    emulator.inject_body("ListDatasetGroups", RawBody(b'{"datasetGroups":{}}'))

    refused = bot.ask("media-feed failed")

    assert AWS_ERROR_TEXT in refused["text"], "not 'no dataset group named media-feed'"
    assert job_arns(bot.ask("media-feed failed")), "resolved on the next command"
    assert emulator.call_count("ListDatasetGroups") == 2, "the broken answer was not cached"


def looping_page(group_arn: str, token: str = "again") -> RawBody:
    """A ListDataDeletionJobs page of 100 recent jobs whose nextToken is always `token`."""
    created = (NOW - timedelta(minutes=5)).timestamp()
    jobs = [{"dataDeletionJobArn": f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/loop-{i}",
             "datasetGroupArn": group_arn, "jobName": f"loop-{i}", "status": "FAILED",
             "creationDateTime": created - i, "lastUpdatedDateTime": created} for i in range(100)]
    return RawBody(json.dumps({"dataDeletionJobs": jobs, "nextToken": token}).encode())


def test_a_digest_whose_next_token_repeats_fails_after_two_calls_and_the_next_run_posts_every_failure(
        emulator, slack, jobs, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    slack.set_channel(CHANNEL)
    group = emulator.add_dataset_group("looping")
    emulator.inject_body("ListDataDeletionJobs", looping_page(group), times=50)
    env = digest_env(emulator, slack, database_url)

    broken = run_digest(env, tmp_path)

    assert emulator.call_count("ListDataDeletionJobs") == 2, "the repeated token was not followed"
    assert_failed_loudly(broken, "list_data_deletion_jobs", "repeats")
    assert slack.messages(CHANNEL) == []
    assert ledger_rows(database_url) == (set(), set()), "nothing claimed, nothing marked"
    emulator.clear_faults()
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


def test_the_listing_answers_a_repeated_next_token_with_the_aws_error_message(emulator, run_bot):
    emulator.seed_realistic(jobs=30)
    bot = run_bot()
    group = emulator.add_dataset_group("looping")
    emulator.inject_body("ListDataDeletionJobs", looping_page(group), times=50)

    message = bot.ask("PENDING")

    assert AWS_ERROR_TEXT in message["text"]
    assert emulator.call_count("ListDataDeletionJobs") == 2

"""Fifty people asking the same thing cost the AWS calls of one (LIST_CACHE_SECONDS, single-flight), through the real
bot in process, with the Personalize emulator over HTTP. Counts only, never times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from app_factory import build_app, build_services
from services.aws.personalize import PersonalizeGateway
from tests.helpers.bots import InProcessBot, job_arns, walk
from tests.helpers.waiting import wait_until

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# A first page of 20 failed jobs, 10 % of them failed: two API pages of 100.
PAGE_SIZE = 20
ONE_COMMAND = 2
PEOPLE = 50


@pytest.fixture
def account(emulator):
    group = emulator.add_dataset_group("bulk")
    emulator.seed_bulk(group, 10_000, failed_every=10, now=NOW)
    return group


@pytest.fixture
def bot(make_settings, slack, emulator, account):
    """The bot as app_factory builds it, its gateway kept at hand; the cache long enough to outlast a busy test."""
    started = []

    def start(**overrides) -> tuple[InProcessBot, PersonalizeGateway]:
        settings = make_settings(slack_api_url=slack.api_url, page_size=PAGE_SIZE, **overrides)
        gateway = PersonalizeGateway.from_settings(settings)
        services = build_services(settings, gateway=gateway)
        bot = InProcessBot(settings, services, build_app(settings, services), None, slack, emulator,
                           settings.slack_signing_secret.get_secret_value())
        started.append(bot)
        return bot, gateway

    yield start
    for bot in started:
        bot.stop()


def test_one_command_reads_two_api_pages(emulator, bot):
    running, _ = bot(list_cache_seconds=0)
    emulator.reset_calls()
    assert len(job_arns(running.ask("failed"))) == PAGE_SIZE
    assert emulator.call_count("ListDataDeletionJobs") == ONE_COMMAND


def test_fifty_commands_one_after_another_cost_the_calls_of_one(emulator, bot):
    running, _ = bot(list_cache_seconds=300)
    emulator.reset_calls()
    pages = [running.ask("failed", user_id=f"U{i:03d}") for i in range(PEOPLE)]
    assert emulator.call_count("ListDataDeletionJobs") == ONE_COMMAND
    assert all(job_arns(page) == job_arns(pages[0]) for page in pages)


def test_fifty_commands_at_once_cost_the_calls_of_one(emulator, bot):
    running, gateway = bot(list_cache_seconds=300)
    emulator.reset_calls()
    emulator.hold()
    try:
        acks = [running.command("failed", user_id=f"U{i:03d}") for i in range(PEOPLE)]
        # Everyone else waits for the first request's call, still held at AWS.
        wait_until(lambda: gateway.page_cache.waiting() == PEOPLE - 1, what="49 requests waiting for the one call")
        assert emulator.call_count("ListDataDeletionJobs") == 1
    finally:
        emulator.release()
    pages = [running.answer(ack) for ack in acks]
    assert emulator.call_count("ListDataDeletionJobs") == ONE_COMMAND
    assert all(len(job_arns(page)) == PAGE_SIZE for page in pages)


def test_without_the_cache_every_command_calls_aws(emulator, bot):
    running, gateway = bot(list_cache_seconds=0)
    assert gateway.page_cache is None
    emulator.reset_calls()
    for i in range(3):
        running.ask("failed", user_id=f"U{i}")
    assert emulator.call_count("ListDataDeletionJobs") == 3 * ONE_COMMAND


def test_with_the_cache_on_a_walk_reads_each_api_page_once(emulator, bot):
    running, _ = bot(list_cache_seconds=300)
    emulator.reset_calls()
    shown, messages = walk(running, "bulk failed", max_pages=8)
    # Each Next click re-reads the API page it resumes in: from the cache now, never worse than floor + one page.
    pages_passed = math.ceil(len(shown) * 10 / 100)
    assert emulator.call_count("ListDataDeletionJobs") == pages_passed
    assert emulator.call_count("ListDataDeletionJobs") <= pages_passed + len(messages)

"""Load: 50 simultaneous slash commands and 50 simultaneous clicks on the running HTTP app."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.bots import find_button, job_arns

CONCURRENCY = 50


def test_fifty_commands_and_fifty_clicks_at_once(emulator, run_bot, slack, caplog):
    caplog.set_level(logging.WARNING)
    emulator.seed_realistic(jobs=300)
    emulator.latency = 0.2  # AWS is never instant; let requests overlap
    bot = run_bot()
    expected = [job["dataDeletionJobArn"] for job in emulator.jobs(status="FAILED")]

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        acks = list(pool.map(lambda _: bot.command("FAILED"), range(CONCURRENCY)))
    assert [ack.status for ack in acks] == [200] * CONCURRENCY
    pages = [bot.answer(ack, timeout=60) for ack in acks]
    assert all(job_arns(page) == expected[:10] for page in pages)

    buttons = [find_button(page, "Next page") for page in pages]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        clicks = list(pool.map(lambda b: bot.click(b["action_id"], b["value"]), buttons))
    assert [ack.status for ack in clicks] == [200] * CONCURRENCY
    second = [bot.answer(ack, timeout=60) for ack in clicks]
    assert all(job_arns(page) == expected[10:20] for page in second)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []

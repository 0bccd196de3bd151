"""Several scheduler processes on one PostgreSQL database, the leader SIGKILLed twice (issue 14, sections 1 and 5).

`python bot.py scheduler` as the Procfile's clock runs it, two and then three of them, with a once-a-minute
DIGEST_SCHEDULE, DIGEST_POST_EMPTY=true and 5-second leases. The leader is killed once in the middle of a minute and
once two seconds before a tick (so that tick falls due while nobody leads). Counted at the Slack stub: each failure
posted once, and exactly one digest per tick, the one that fell in the gap posted by the successor.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.e2e.test_entrypoint import ROOT, bot_env
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET
from tests.helpers.databases import postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CHANNEL = "CFAILOVER"
LEASE_SECONDS = 5


class Clock:
    """`python bot.py scheduler` processes, each with its output in a file."""

    def __init__(self, tmp_path, env):
        self.tmp_path, self.env = tmp_path, env
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = (self.tmp_path / f"clock-{len(self.processes)}.log").open("w")
        process = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "scheduler"], cwd=self.tmp_path,
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    def output(self) -> str:
        return "\n".join(f"--- clock-{i} ---\n" + (self.tmp_path / f"clock-{i}.log").read_text()
                         for i in range(len(self.processes)))

    def stop(self) -> None:
        for process in self.alive():
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def leader_pid(engine) -> int | None:
    """The pid in the live lease's owner (host:pid:suffix); None while nobody leads (or before the table exists)."""
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT owner, expires_at > clock_timestamp() FROM scheduler_lease")).first()
    except ProgrammingError:
        return None
    return int(row[0].split(":")[1]) if row and row[1] else None


def wait_until(condition, what: str, timeout: float, clock: Clock):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout}s for {what}\n{clock.output()}")


def sleep_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))


def digests(slack) -> list:
    return [c for c in slack.calls("chat.postMessage") if c.ok and c.params.get("channel") == CHANNEL]


def test_two_then_three_schedulers_leader_killed_twice_each_failure_once_one_digest_per_tick(
        tmp_path, emulator, slack):
    group = emulator.add_dataset_group("failover")
    slack.set_channel(CHANNEL)
    with postgres_database() as url:
        env = bot_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                      SLACK_API_URL=slack.api_url, AWS_ENDPOINT_URL_PERSONALIZE=emulator.url, DATABASE_URL=url,
                      DIGEST_CHANNELS=CHANNEL, DIGEST_SCHEDULE="* * * * *", DIGEST_POST_EMPTY="true",
                      SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS), LOG_LEVEL="INFO")
        clock = Clock(tmp_path, env)
        engine = create_engine(url)
        try:
            first = clock.start()
            wait_until(lambda: leader_pid(engine) == first.pid, "the first scheduler to lead", 60, clock)
            clock.start()  # two schedulers
            time.sleep(3)  # the second one is up and standing by

            # Tick 1: an empty digest. Then, mid-minute, two failures appear and the leader is SIGKILLed.
            wait_until(lambda: digests(slack), "tick 1's digest", 90, clock)
            tick1 = math.floor(digests(slack)[0].at / 60) * 60
            sleep_until(tick1 + 25)
            failures = [emulator.add_job(group, status="FAILED", created=datetime.now(UTC) - timedelta(hours=1),
                                         updated=datetime.now(UTC), failure_reason=f"failover failure {i}")
                        for i in range(2)]
            killed = [leader_pid(engine)]
            os.kill(killed[0], signal.SIGKILL)
            wait_until(lambda: leader_pid(engine) not in (None, killed[0]), "a successor", 3 * LEASE_SECONDS, clock)
            clock.start()  # three schedulers (one dead)

            # Tick 2 posts the two failures. Two seconds before tick 3 the leader is SIGKILLed: tick 3 falls due
            # while nobody leads, and the successor posts it (empty) once it has taken over.
            wait_until(lambda: any(c.at >= tick1 + 60 for c in digests(slack)), "tick 2's digest", 60, clock)
            sleep_until(tick1 + 118)
            killed.append(leader_pid(engine))
            os.kill(killed[1], signal.SIGKILL)
            wait_until(lambda: any(c.at >= tick1 + 120 for c in digests(slack)), "tick 3's digest from the successor",
                       60, clock)
            time.sleep(5)  # anything posted twice would be by now
            assert len(clock.alive()) == 1 and leader_pid(engine) == clock.alive()[0].pid
        finally:
            clock.stop()
            engine.dispose()

    posts = digests(slack)
    by_tick = {}
    for call in posts:
        by_tick.setdefault(math.floor(call.at / 60) * 60 - tick1, []).append(call)
    texts = {tick: [str(c.params.get("blocks")) + c.params.get("text", "") for c in calls]
             for tick, calls in by_tick.items()}
    assert sorted(texts) == [0, 60, 120], f"one digest per tick, no other post: {texts}\n{clock.output()}"
    assert [len(texts[t]) for t in (0, 60, 120)] == [1, 1, 1], texts
    assert "No failed deletion jobs" in texts[0][0] and "No failed deletion jobs" in texts[120][0]
    everything = " ".join(t for ts in texts.values() for t in ts)
    for arn in failures:
        assert everything.count(arn) == 1, f"{arn} posted once"
    assert all(pid is not None for pid in killed) and killed[0] != killed[1]
    output = clock.output()
    assert output.count("now leads and runs the jobs") == 3
    assert "catching up the digest missed" in output
    assert "Traceback" not in output

"""The AWS-cost figures of issue 10: what many people asking at once, and many digest subscriptions, cost in
Personalize calls against what one of them costs; and the time to a first page when every call is slow.

Counts come from the Personalize emulator (`call_count`), compared with a floor measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bench.servers import ROOT, Server, env_for, median_ms, procfile_web_command, send_command, wait_for_answers
from devtools._http import free_port

LIST = "ListDataDeletionJobs"
GROUPS = "ListDatasetGroups"
SHARED_GROUP = "bench-10k"


def ten_thousand_jobs(emulator) -> str:
    """The dataset group of 10,000 jobs, one a minute back from now, 10 % FAILED (made once per run)."""
    existing = emulator.dataset_groups().get(SHARED_GROUP)
    if existing:
        return existing
    group = emulator.add_dataset_group(SHARED_GROUP)
    emulator.seed_bulk(group, 10_000, failed_every=10)
    return group


def one_worker(emulator, slack, database, **extra) -> Server:
    """The bot under gunicorn as in the Procfile, with ONE worker: its caches are per process."""
    port = free_port()
    return Server(procfile_web_command(), env_for(emulator, slack, database, port, WEB_CONCURRENCY="1", **extra),
                  port)


def _burst(emulator, slack, database, keys: list[str]) -> tuple[dict[str, int], float, dict[str, list]]:
    """`/deletion-jobs failed` once per key, all at once, against a fresh one-worker server: the AWS calls,
    how long sending took, and the answers."""
    from devtools.running_bot import job_arns

    server = one_worker(emulator, slack, database)
    try:
        emulator.reset_calls()
        started = time.perf_counter()
        with ThreadPoolExecutor(len(keys)) as pool:
            statuses = list(pool.map(lambda k: send_command(server.events_url, slack, "failed", k)[0], keys))
        sent = time.perf_counter() - started
        wait_for_answers(slack, keys, timeout=300)
        calls = {op: emulator.call_count(op) for op in (LIST, GROUPS)}
    finally:
        server.stop()
    assert all(status == 200 for status in statuses), statuses
    answers = {key: [job_arns(message) for message in slack.responses(key)] for key in keys}
    return calls, sent, answers


def identical_commands(emulator, slack, database, count: int = 50) -> list[tuple[str, str, str]]:
    """`count` identical `/deletion-jobs failed` within 15 s, against one command alone (each on a fresh server)."""
    ten_thousand_jobs(emulator)
    one, _, one_answer = _burst(emulator, slack, database, ["identical-one"])
    many, sent, answers = _burst(emulator, slack, database, [f"identical-{i}" for i in range(count)])
    pages = [pages[0] for pages in answers.values() if pages]
    same = sum(1 for page in pages if page == one_answer["identical-one"][0])
    return [
        (f"{count} identical `/deletion-jobs failed` within 15 s: ListDataDeletionJobs calls (goal: those of one"
         " command)", f"{many[LIST]} (one command: {one[LIST]})",
         f"sent concurrently in {sent:.2f} s; gunicorn as in the Procfile with WEB_CONCURRENCY=1 (caches are per"
         f" process); {len(pages)} / {count} answered, {same} with the same page as the one command;"
         f" {_jobs(emulator)} jobs in the account, 10,000 of them in one group, 10 % FAILED; ListDatasetGroups"
         f" calls {many[GROUPS]} (one command: {one[GROUPS]})"),
    ]


def _jobs(emulator) -> str:
    return f"{len(emulator.jobs()):,}"


def first_page_latency(emulator, slack, database, repeats: int, latency: float = 0.15) -> list[tuple[str, str, str]]:
    """From sending `/deletion-jobs failed` to its first page at the Slack stub, every AWS call taking `latency`."""
    ten_thousand_jobs(emulator)
    server = one_worker(emulator, slack, database, LIST_CACHE_SECONDS="0")
    seconds, calls = [], []
    try:
        send_command(server.events_url, slack, "failed", "first-warm")
        slack.wait_for_responses(1, key="first-warm", timeout=60)
        emulator.latency = latency
        for i in range(repeats):
            emulator.reset_calls()
            started = time.perf_counter()
            status, _ = send_command(server.events_url, slack, "failed", f"first-{i}")
            slack.wait_for_responses(1, key=f"first-{i}", timeout=120)
            seconds.append(time.perf_counter() - started)
            calls.append((emulator.call_count(LIST), emulator.call_count()))
            assert status == 200, status
    finally:
        emulator.latency = 0
        server.stop()
    return [(f"First page of `/deletion-jobs failed`, every AWS call taking {latency * 1000:.0f} ms: command to"
             " answer at the Slack stub (median)", f"{median_ms(seconds):.0f} ms",
             f"{repeats} commands one after another, after a warm-up; LIST_CACHE_SECONDS=0 so every command reads"
             f" AWS; AWS calls per command: {_per_command(calls)}; {_jobs(emulator)} jobs in the account, 10,000 of"
             " them in one group, 10 % FAILED; gunicorn as in the Procfile, one worker")]


def _per_command(calls: list[tuple[int, int]]) -> str:
    return ", ".join(f"{listed} ListDataDeletionJobs of {total} in all" for listed, total in sorted(set(calls)))


def _digest_run(emulator, slack, database: str, subscriptions: list[tuple[str, str | None]]) -> dict:
    """`python bot.py digest` over these (channel, dataset group ARN or None) subscriptions, stored first in a
    fresh state store: the AWS calls, the digest messages posted, and the exit code."""
    from services.storage.store import StateStore
    from services.storage.subscriptions import SubscriptionStore

    state = StateStore.from_url(database)
    state.create_schema()
    store = SubscriptionStore(state.engine)
    for channel, group in subscriptions:
        store.subscribe(channel, dataset_group_arn=group, created_by="UBENCH")
    state.engine.dispose()
    posts_before = len(slack.calls("chat.postMessage"))
    emulator.reset_calls()
    result = subprocess.run([sys.executable, "bot.py", "digest"], cwd=ROOT, capture_output=True, text=True,
                            env=env_for(emulator, slack, database, free_port()), timeout=300)
    return {LIST: emulator.call_count(LIST), GROUPS: emulator.call_count(GROUPS), "code": result.returncode,
            "posts": len(slack.calls("chat.postMessage")) - posts_before, "stderr": result.stderr[-300:]}


def _scoped_account(emulator) -> list[str]:
    """5 dataset groups of 2,000 jobs each, one a minute back from now, and 2 FAILED jobs per group in the
    digest's window (few failures: each channel's digest is then one message, posted without pacing)."""
    now = datetime.now(UTC)
    groups = [emulator.add_dataset_group(f"bench-scope-{g}") for g in range(5)]
    for g, group in enumerate(groups):
        emulator.seed_bulk(group, 2_000, failed_every=0)
        for i in range(2):
            emulator.add_job(group, status="FAILED", created=now - timedelta(hours=2, minutes=g * 2 + i),
                             updated=now - timedelta(hours=1), failure_reason=f"bench failure {g}-{i}")
    return groups


def digest_scopes(slack, tmp: str) -> list[tuple[str, str, str]]:
    """A digest run of 50 subscriptions (10 account-wide, 8 in each of 5 dataset groups) over an account of its
    own with 10,000 jobs, against the distinct-scope floor: one account-wide subscription alone (its read
    covers every group)."""
    from devtools.personalize_emulator import PersonalizeEmulator

    with PersonalizeEmulator() as emulator:
        groups = _scoped_account(emulator)
        floor = _digest_run(emulator, slack, f"sqlite:///{tmp}/scopes-floor.sqlite3", [("CSCOPEFLOOR", None)])
        group_alone = _digest_run(emulator, slack, f"sqlite:///{tmp}/scopes-group.sqlite3",
                                  [("CSCOPEGROUP", groups[0])])
        subscriptions = [(f"CSCOPEA{i:02d}", None) for i in range(10)] + \
            [(f"CSCOPEG{i:02d}", groups[i % 5]) for i in range(40)]
        run = _digest_run(emulator, slack, f"sqlite:///{tmp}/scopes.sqlite3", subscriptions)
        jobs = _jobs(emulator)
    failed = [r for r in (floor, group_alone, run) if r["code"] != 0]
    if failed:
        return [("Digest scopes", "n/a", f"`bot.py digest` exited {failed[0]['code']}: {failed[0]['stderr']!r}")]
    one_each = 10 * floor[LIST] + 40 * group_alone[LIST]
    return [
        ("Digest run, 50 subscriptions (10 account-wide, 40 over 5 dataset groups): ListDataDeletionJobs calls"
         " (goal: the distinct-scope floor)", f"{run[LIST]} (floor: {floor[LIST]})",
         f"floor measured: one account-wide subscription alone, same data; a read per subscription would be"
         f" {one_each} (10 × {floor[LIST]} + 40 × {group_alone[LIST]}); {run['posts']} digest messages posted;"
         f" an account of {jobs} jobs in 5 groups, 10 failures in the window; `python bot.py digest`"),
        ("Digest run, 50 subscriptions: ListDatasetGroups calls (goal: at most 1 per run)", str(run[GROUPS]),
         f"one account-wide subscription alone: {floor[GROUPS]}"),
    ]

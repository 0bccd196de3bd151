"""`python -m bench`: the figures behind the bot's speed and cost claims, printed and written to BENCHMARKS.md.

Everything runs on this machine against the local stand-ins in `devtools/`: the Personalize emulator and the
Slack stub, over HTTP on loopback. Options: `--quick` for fewer repetitions, `--only STEP` (repeatable), `--out FILE`.
The steps live in bench/acks.py (acknowledgements), bench/costs.py (AWS calls) and here; bench/servers.py starts
the servers they measure.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.acks import ack_latency, slow_aws, slow_clients  # noqa: E402
from bench.costs import digest_scopes, first_page_latency, identical_commands  # noqa: E402
from bench.servers import SECRET, TOKEN, Server, env_for, procfile_web_command, send_command  # noqa: E402
from devtools._http import free_port  # noqa: E402
from devtools.personalize_emulator import PersonalizeEmulator  # noqa: E402
from devtools.slack_requests import block_action_body, post, sign  # noqa: E402
from devtools.slack_stub import SlackStub  # noqa: E402

# ---- the figures -----------------------------------------------------------------------------------


def paging_cost(emulator, slack, database) -> list[tuple[str, str, str]]:
    """Walk every FAILED job of a 10,000-job account with Next, through the HTTP app."""
    from devtools.running_bot import find_button, job_arns

    group = emulator.add_dataset_group("bench-paging")
    emulator.seed_bulk(group, 10_000, failed_every=10)
    expected = [job["dataDeletionJobArn"] for job in emulator.jobs(group, "FAILED")]
    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port, PAGE_SIZE="20"), port)
    try:
        emulator.reset_calls()
        shown, clicks, key = [], 0, "page-0"
        send_command(server.events_url, slack, "bench-paging failed", key)
        while True:
            message = slack.wait_for_responses(1, key=key, timeout=60)[0]
            shown.extend(job_arns(message))
            button = find_button(message, "Next page") or find_button(message, "Continue")
            if button is None:
                break
            clicks += 1
            key = f"page-{clicks}"
            body = block_action_body(action_id=button["action_id"], value=button["value"],
                                     response_url=slack.response_url(key))
            post(server.events_url, body, sign(SECRET, body))
        calls = emulator.call_count("ListDataDeletionJobs")
    finally:
        server.stop()
    assert shown == expected, "paging lost or repeated jobs"
    floor = math.ceil(10_000 / 100)
    pages = clicks + 1
    return [
        ("Paging cost: ListDataDeletionJobs calls to walk all 1,000 FAILED of 10,000 jobs, 20 per page",
         str(calls), f"{pages} pages; floor ceil(10000/100) = {floor}; bound floor + one per click = {floor + clicks}"),
    ]


def digest_cost(emulator, slack, database) -> list[tuple[str, str, str]]:
    group = emulator.add_dataset_group("bench-digest")
    now = datetime.now(UTC)
    # 10,000 jobs of history (created before the read horizon: window start minus DIGEST_MAX_JOB_HOURS) and a
    # handful of new ones, 10 of which failed inside the window.
    emulator.seed_bulk(group, 10_000, failed_every=0, now=now - timedelta(hours=73))
    for i in range(10):
        emulator.add_job(group, status="FAILED", created=now - timedelta(hours=2, minutes=i),
                         updated=now - timedelta(hours=1), failure_reason=f"bench failure {i}")
    emulator.reset_calls()
    # The failure window's own cost: stuck jobs looked for no further back (digest_stuck_cost measures that).
    env = env_for(emulator, slack, database, free_port(), DIGEST_CHANNELS="CBENCH",
                  DIGEST_DATASET_GROUP="bench-digest", DIGEST_STUCK_LOOKBACK_DAYS="3")
    slack.set_channel("CBENCH")
    result = subprocess.run([sys.executable, "bot.py", "digest", "--channel", "CBENCH"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        return [("Digest cost", "n/a", f"`bot.py digest` exited {result.returncode}: {result.stderr[-200:]!r}")]
    calls = emulator.call_count("ListDataDeletionJobs")
    posted = sum(str(m).count("bench failure") for m in slack.messages("CBENCH"))
    return [("Digest cost: ListDataDeletionJobs calls, 10,000 jobs, 10 failures in the window (goal 1)",
             str(calls), f"one subscription scope; {posted} failures posted")]


def export_cost(emulator, slack, database, *, quick: bool = False, latency: float = 0.15) -> list[tuple[str, str, str]]:
    """`/deletion-jobs export` of 2,000 jobs (400 with --quick) under gunicorn, every AWS call taking `latency` s."""
    jobs = 400 if quick else 2000
    group = emulator.add_dataset_group("bench-export")
    emulator.seed_bulk(group, jobs, failed_every=10)
    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port), port)
    try:
        uploads_before = len(slack.uploads())
        emulator.reset_calls()
        emulator.latency = latency
        start = time.perf_counter()
        status, _ = send_command(server.events_url, slack, "export bench-export", "export-0")
        upload = slack.wait_for_uploads(uploads_before + 1, timeout=900)[-1]
        seconds = time.perf_counter() - start
    finally:
        emulator.latency = 0
        server.stop()
    assert status == 200 and upload.data.count(b"\r\n") == jobs + 1, "the export did not hold every job"
    describe, listed = emulator.call_count("DescribeDataDeletionJob"), emulator.call_count("ListDataDeletionJobs")
    groups = emulator.call_count("ListDatasetGroups")
    floor = latency * (math.ceil(jobs / 100) + groups + jobs / 4)
    return [
        (f"Export of {jobs:,} jobs, every AWS call taking {latency * 1000:.0f} ms: command to file in the DM",
         f"{seconds:.1f} s", f"EXPORT_DESCRIBE_CONCURRENCY=4; floor (calls × latency, Describe 4 at a time)"
         f" {floor:.1f} s; {len(upload.data):,} bytes"),
        (f"Export of {jobs:,} jobs: AWS calls", str(describe + listed + groups),
         f"{describe:,} DescribeDataDeletionJob, {listed} ListDataDeletionJobs, {groups} ListDatasetGroups"),
    ]


def watch_poll_cost(emulator, slack, database) -> list[tuple[str, str, str]]:
    """One poll of 1,000 watches (100 people × 10 jobs) over 100 running jobs in 10 dataset groups, through the
    real gateway (boto3 → the emulator) and Slack client (→ the stub); then the poll after 20 of them completed."""
    from app_factory import build_services
    from config import Settings
    from services.models import DeletionJob

    now = datetime.now(UTC)
    groups = [emulator.add_dataset_group(f"bench-watch-{g}") for g in range(10)]
    for group in groups:
        emulator.seed_bulk(group, 150, failed_every=0, now=now - timedelta(hours=2))
    jobs = [DeletionJob(arn=emulator.add_job(groups[i % 10], status="PENDING", name=f"bench-watched-{i}",
                                             created=now - timedelta(minutes=i)), name=f"bench-watched-{i}",
                        dataset_group_arn=groups[i % 10], status="PENDING", created=now - timedelta(minutes=i),
                        updated=None) for i in range(100)]
    os.environ["AWS_ENDPOINT_URL_PERSONALIZE"] = emulator.url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    settings = Settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret=SECRET, database_url=database,
                        slack_api_url=slack.api_url, run_scheduler=False)
    services = build_services(settings)
    store = services.watch_poller._store
    for person in range(100):
        for k in range(10):
            store.start(f"UBENCH{person:03d}", jobs[(person * 10 + k) % 100], team_id="T1", limit=20)
    try:
        emulator.reset_calls()
        started = time.perf_counter()
        quiet = services.watch_poller.poll()
        quiet_seconds = time.perf_counter() - started
        for job in jobs[:20]:
            emulator.advance_job(job.arn, "IN_PROGRESS")
            emulator.advance_job(job.arn, "COMPLETED", num_deleted=100)
        emulator.reset_calls()
        slack.reset()
        started = time.perf_counter()
        told = services.watch_poller.poll()
        told_seconds = time.perf_counter() - started
        dms = len(slack.messages())
    finally:
        services.background.shutdown(wait=False)
    return [
        ("Watch poll: AWS calls for 1,000 watches over 100 running jobs in 10 dataset groups",
         str(quiet.aws_calls), f"{quiet.list_calls} ListDataDeletionJobs, {quiet.describe_calls} Describe;"
         f" one Describe per job would be 100, one per watch 1,000; {quiet_seconds:.2f} s"),
        ("Watch poll: AWS calls when 20 of those jobs have completed (WATCH_MAX_CALLS_PER_POLL=50)",
         str(told.aws_calls), f"{told.list_calls} List + {told.describe_calls} Describe (numDeleted);"
         f" {told.notified} direct messages ({dms} reached the stub) in {told_seconds:.2f} s"),
    ]


def digest_stuck_cost(emulator, slack, database) -> list[tuple[str, str, str]]:
    """`bot.py digest` on 10,000 jobs spread over the last 7 days, with the default stuck-job lookback and without."""
    group = emulator.add_dataset_group("bench-stuck")
    now = datetime.now(UTC)
    # One job every minute back from 8 hours ago: 10,000 minutes is about 6.9 days.
    emulator.seed_bulk(group, 10_000, failed_every=0, now=now - timedelta(hours=8))
    for i in range(3):
        emulator.add_job(group, status="IN_PROGRESS", name=f"bench-stuck-{i}", created=now - timedelta(days=2 + i))
    rows = []
    for label, lookback in (("default DIGEST_STUCK_LOOKBACK_DAYS=7", "7"), ("DIGEST_STUCK_LOOKBACK_DAYS=3", "3")):
        slack.reset()
        slack.set_channel("CBENCH")
        emulator.reset_calls()
        env = env_for(emulator, slack, f"{database}-{lookback}", free_port(), DIGEST_CHANNELS="CBENCH",
                      DIGEST_DATASET_GROUP="bench-stuck", DIGEST_STUCK_LOOKBACK_DAYS=lookback)
        result = subprocess.run([sys.executable, "bot.py", "digest", "--channel", "CBENCH"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            rows.append((f"Digest with stuck jobs ({label})", "n/a",
                         f"`bot.py digest` exited {result.returncode}: {result.stderr[-200:]!r}"))
            continue
        calls = emulator.call_count("ListDataDeletionJobs")
        stuck = sum(str(m).count("bench-stuck-") for m in slack.messages("CBENCH"))
        rows.append((f"Digest cost with stuck-job lookback: ListDataDeletionJobs calls, 10,000 jobs over 7 days"
                     f" ({label})", str(calls), f"{stuck} stuck jobs listed; one call per 100 jobs created in the"
                     " lookback (or the failure horizon, 72 h, when that reaches further)"))
    return rows


def steady_state(emulator, slack, database, total: int) -> list[tuple[str, str, str]]:
    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port), port)
    try:
        def burst(start: int, count: int) -> None:
            keys = [f"rss-{i}" for i in range(start, start + count)]
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda k: send_command(server.events_url, slack, "FAILED", k), keys))
            for key in keys:
                slack.wait_for_responses(1, key=key, timeout=120)

        burst(0, 10)
        after_10 = server.rss_mb()
        half = total // 2
        burst(10, half - 10)
        after_half = server.rss_mb()
        burst(half, total - half)
        after_all = server.rss_mb()
    finally:
        server.stop()
    # The pools fill first (WORKER_THREADS background threads per worker, their database and HTTP connections):
    # acks at the floor let 8 clients queue more work at once, so they fill further than when acks took 12 ms.
    return [
        (f"RSS of the bot (gunicorn master + workers) after {half} and after {total} commands, once the pools"
         " have filled (goal: within 10 MB)", f"{after_half:.1f} → {after_all:.1f} MB",
         f"growth {after_all - after_half:+.1f} MB; {after_10:.1f} MB after 10 commands, so {after_all - after_10:+.1f}"
         " MB in all, most of it warm-up: WORKER_THREADS=64 background threads per worker and their database and"
         " HTTP connections filling (bounded)"),
    ]


def rendering() -> list[tuple[str, str, str]]:
    import timeit

    from blocks.job_list import render_job_page
    from services.models import Cursor, DeletionJob, ListQuery, Page

    now = datetime.now(UTC)
    jobs = [DeletionJob(arn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/job-{i}",
                        name=f"gdpr-delete-{i}", dataset_group_arn="arn:aws:personalize:us-east-1:123456789012:"
                        "dataset-group/media-feed", status="FAILED", created=now, updated=now,
                        failure_reason="Access denied to s3://bucket/key <!channel> & more " * 5) for i in range(20)]
    page = Page(Cursor(ListQuery(None, "FAILED")), jobs, Cursor(ListQuery()), 20, 1)
    runs = 2000
    seconds = timeit.timeit(lambda: render_job_page(page, next_value="v" * 100, details_values=["d" * 200] * 20),
                            number=runs)
    return [("Rendering a 20-job page (Block Kit, pure function)", f"{seconds / runs * 1e6:.0f} µs",
             f"mean of {runs} renders")]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}){memory}, " \
           f"Python {platform.python_version()}"


def load(emulator, slack, database, total: int) -> list[tuple[str, str, str]]:
    """Issue 14's load run (bench/load.py) against the Procfile's web with two workers."""
    from bench.load import run_load

    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port, WEB_CONCURRENCY="2"), port)
    try:
        return run_load(server, emulator, slack, SECRET, total=total, seconds=60.0 if total >= 1000 else 10.0)
    finally:
        server.stop()


STEPS = ("ack_latency", "slow_aws", "slow_clients", "identical_commands", "first_page_latency", "paging_cost",
         "digest_cost", "digest_scopes", "watch_poll_cost", "digest_stuck_cost", "export_cost", "steady_state",
         "rendering", "load")


def _steps(args, emulator, slack, tmp: str) -> dict:
    """Every step, by name, in the order they run (STEPS)."""
    database = f"sqlite:///{tmp}/bench.sqlite3"
    return {
        "ack_latency": lambda: ack_latency(emulator, slack, database, 40 if args.quick else 300),
        "slow_aws": lambda: slow_aws(emulator, slack, database, 50 if args.quick else 200),
        "slow_clients": lambda: slow_clients(emulator, slack, database, 20 if args.quick else 100),
        "identical_commands": lambda: identical_commands(emulator, slack, f"sqlite:///{tmp}/identical.sqlite3"),
        "first_page_latency": lambda: first_page_latency(emulator, slack, f"sqlite:///{tmp}/first.sqlite3",
                                                         2 if args.quick else 5),
        "paging_cost": lambda: paging_cost(emulator, slack, database),
        "digest_cost": lambda: digest_cost(emulator, slack, f"sqlite:///{tmp}/digest.sqlite3"),
        "digest_scopes": lambda: digest_scopes(slack, tmp),
        "watch_poll_cost": lambda: watch_poll_cost(emulator, slack, f"sqlite:///{tmp}/watch.sqlite3"),
        "digest_stuck_cost": lambda: digest_stuck_cost(emulator, slack, f"sqlite:///{tmp}/stuck.sqlite3"),
        "export_cost": lambda: export_cost(emulator, slack, f"sqlite:///{tmp}/export.sqlite3", quick=args.quick),
        "steady_state": lambda: steady_state(emulator, slack, database, 100 if args.quick else 1000),
        "rendering": rendering,
        "load": lambda: load(emulator, slack, f"sqlite:///{tmp}/load.sqlite3", 100 if args.quick else 1000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--out", help="where to write the table (default: BENCHMARKS.md; a --quick run writes"
                        " nothing unless told, so smoke figures never replace the real ones)")
    parser.add_argument("--only", metavar="STEP", action="append", choices=STEPS,
                        help="run only this step (repeatable); writes nothing unless --out is given")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, PersonalizeEmulator() as emulator, \
            SlackStub(response_url_max_uses=None) as slack:
        emulator.seed_realistic(jobs=300)
        steps = _steps(args, emulator, slack, tmp)
        assert tuple(steps) == STEPS, "STEPS lists every step, in order"
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            for row in step():
                rows.append(row)
                print(f"{row[0]}: {row[1]}  ({row[2]})", flush=True)
    out = args.out or (None if args.quick or args.only else str(ROOT / "BENCHMARKS.md"))
    if out:
        Path(out).write_text(_table(rows, args))
        print(f"\nwrote {out}")
    return 0


def _table(rows: list[tuple[str, str, str]], args) -> str:
    command = "python -m bench" + (" --quick" if args.quick else "") + "".join(f" --only {s}" for s in args.only or ())
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "Everything ran on this machine against `devtools/` (Personalize emulator, Slack stub) over loopback HTTP.",
        "",
        "| figure | value | notes |",
        "| --- | --- | --- |",
        *[f"| {name} | {value} | {notes} |" for name, value, notes in rows],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())

"""The acknowledgement figures: how fast the bot answers Slack's HTTP request, against the floors, under both
servers the bot ships with (`python bot.py`'s and gunicorn as in the Procfile); with AWS slow; with slow clients."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bench.servers import (
    BOT_PY_COMMAND,
    Server,
    env_for,
    listen_overflows,
    median_ms,
    p95_ms,
    procfile_web_command,
    send_command,
    wait_for_answers,
)
from devtools._http import free_port

APPS = ("bare_200", "floor", "default", "bot")
APP_LABELS = {
    "bare_200": "bare 200 (a WSGI function answering without looking at the request)",
    "floor": "Bolt's own floor (process_before_response=True, listener acks and hands off)",
    "default": "default Bolt app (listener acks and hands off)",
    "bot": "the bot",
}
SERVER_KINDS = ("python bot.py", "gunicorn")
GUNICORN_FACTORIES = {"bare_200": "bench.bare_app:create_bare_200()", "floor": "bench.bare_app:create_floor_app()",
                      "default": "bench.bare_app:create_default_app()"}


def server_command(kind: str, app: str) -> str:
    """The shell command serving `app` ("bot" or one of bench/bare_app.py's) under server `kind`."""
    if kind == "gunicorn":
        command = procfile_web_command()
        return command if app == "bot" else command.replace("web:create_app()", GUNICORN_FACTORIES[app])
    return BOT_PY_COMMAND if app == "bot" else f"python -m bench.serve_app {app}"


def _start_all(emulator, slack, database) -> dict[tuple[str, str], Server]:
    servers: dict[tuple[str, str], Server] = {}
    try:
        for kind in SERVER_KINDS:
            for app in APPS:
                port = free_port()
                servers[kind, app] = Server(server_command(kind, app), env_for(emulator, slack, database, port), port)
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def _alternate(servers: dict, slack, rounds: int, prefix: str) -> tuple[dict, list[str]]:
    """`rounds` rounds of one `/deletion-jobs failed` to each server, the order rotated every round: the
    seconds per server, and the response_url keys of the bot's commands (the only ones answered)."""
    order = list(servers)
    seconds: dict = {name: [] for name in order}
    bot_keys = []
    for i in range(rounds):
        shift = i % len(order)
        for name in order[shift:] + order[:shift]:
            key = f"{prefix}-{servers[name].port}-{i}"
            status, took = send_command(servers[name].events_url, slack, "failed", key)
            assert status == 200, (name, status)
            seconds[name].append(took)
            if name[1] == "bot":
                bot_keys.append(key)
    return seconds, bot_keys


def ack_latency(emulator, slack, database, rounds: int) -> list[tuple[str, str, str]]:
    """Every app under both servers, same run: `rounds` signed `/deletion-jobs failed` to each, round-robin."""
    servers = _start_all(emulator, slack, database)
    try:
        # Warm-up: imports, Bolt's first auth.test, thread and connection pools, boto3's first request.
        _, warm_keys = _alternate(servers, slack, 20, "warm")
        seconds, bot_keys = _alternate(servers, slack, rounds, "ack")
        answered = wait_for_answers(slack, warm_keys + bot_keys, timeout=300)
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for kind in SERVER_KINDS:
        rows += _ack_rows(kind, {app: seconds[kind, app] for app in APPS}, rounds)
    expected = len(warm_keys) + len(bot_keys)
    rows.append(("Ack latency run: the bot's commands answered at their response_url (sanity)",
                 f"{answered} / {expected}", "every bot command is a listing that reads the emulator (300 jobs)"
                 " and posts a page to the Slack stub"))
    return rows


def _ack_rows(kind: str, seconds: dict[str, list[float]], rounds: int) -> list[tuple[str, str, str]]:
    median = {app: median_ms(values) for app, values in seconds.items()}
    where = "`python bot.py` (web_server.BufferingHTTPServer)" if kind == "python bot.py" else \
        "gunicorn as in the Procfile (AsgiBridge worker, 2 workers)"
    rows = [(f"Ack latency under {where}: {APP_LABELS[app]}, median", f"{median[app]:.2f} ms",
             f"p95 {p95_ms(seconds[app]):.2f} ms; {rounds} signed `/deletion-jobs failed`") for app in APPS]
    same_run = "ratio of medians; 8 servers (4 apps × 2 server kinds) in one run, round-robin, order rotated every" \
        " round, after 20 warm-up rounds"
    rows += [
        (f"Ack ratio under {kind}: bot / Bolt's own floor (goal ≤ 1.3)", f"{median['bot'] / median['floor']:.2f}",
         same_run),
        (f"Ack ratio under {kind}: default Bolt app / bot (goal ≥ 4)", f"{median['default'] / median['bot']:.2f}",
         same_run),
        (f"Ack ratio under {kind}: bot / bare 200", f"{median['bot'] / median['bare_200']:.2f}",
         same_run),
    ]
    return rows


def _simultaneous(server: Server, slack, keys: list[str]) -> list[float]:
    with ThreadPoolExecutor(len(keys)) as pool:
        acks = list(pool.map(lambda k: send_command(server.events_url, slack, "failed", k), keys))
    assert all(status == 200 for status, _ in acks), acks
    return [seconds for _, seconds in acks]


def _floor_burst(emulator, slack, database, concurrency: int) -> list[float]:
    """The same burst against Bolt's own floor under the same server: what the machine and the client allow."""
    port = free_port()
    server = Server(server_command("gunicorn", "floor"), env_for(emulator, slack, database, port), port)
    try:
        _simultaneous(server, slack, [f"slow-floor-warm-{i}" for i in range(4)])
        return _simultaneous(server, slack, [f"slow-floor-{i}" for i in range(concurrency)])
    finally:
        server.stop()


def slow_aws(emulator, slack, database, concurrency: int) -> list[tuple[str, str, str]]:
    """`concurrency` simultaneous commands, every AWS call taking 2 s, under gunicorn as in the Procfile."""
    floor = _floor_burst(emulator, slack, database, concurrency)
    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port), port)
    keys = [f"slow-{i}" for i in range(concurrency)]
    try:
        warm = [f"slow-warm-{i}" for i in range(4)]
        for key in warm:
            send_command(server.events_url, slack, "failed", key)
        wait_for_answers(slack, warm, timeout=60)
        emulator.latency = 2.0
        overflows = listen_overflows()
        start = time.perf_counter()
        seconds = _simultaneous(server, slack, keys)
        overflows = None if overflows is None else listen_overflows() - overflows
        answered = wait_for_answers(slack, keys, timeout=600)
        last_answer = time.perf_counter() - start
    finally:
        emulator.latency = 0
        server.stop()
    return [
        (f"Slowest ack of {concurrency} simultaneous commands, every AWS call taking 2 s (goal < 500 ms)",
         f"{max(seconds) * 1000:.1f} ms", f"median {median_ms(seconds):.1f} ms; gunicorn as in the Procfile;"
         f" Bolt's own floor, same burst and server: slowest {max(floor) * 1000:.1f} ms, median"
         f" {median_ms(floor):.1f} ms; TCP listen-queue overflows on the machine during the burst (each a ~1 s SYN"
         f" retransmit): {'n/a' if overflows is None else overflows}"),
        (f"Time until the last of the {concurrency} answers arrived", f"{last_answer:.2f} s",
         f"{answered} / {concurrency} answered; each page needs at least one 2 s ListDataDeletionJobs call"),
    ]


def slow_clients(emulator, slack, database, commands: int, count: int = 40) -> list[tuple[str, str, str]]:
    """Acks while `count` clients send their headers a line every half second (slow loris), under gunicorn."""
    from devtools.slow_clients import SlowClients

    port = free_port()
    server = Server(procfile_web_command(), env_for(emulator, slack, database, port), port)
    try:
        send_command(server.events_url, slack, "FAILED", "loris-warm")
        with SlowClients(("127.0.0.1", port), count=count, interval=0.5, lines=120) as slow:
            acks = [send_command(server.events_url, slack, "FAILED", f"loris-{i}") for i in range(commands)]
            during = not slow.finished.is_set()
        for i in range(commands):
            slack.wait_for_responses(1, key=f"loris-{i}", timeout=120)
    finally:
        server.stop()
    assert all(status == 200 for status, _ in acks) and during, "commands were not acknowledged meanwhile"
    seconds = [s for _, s in acks]
    return [(f"Slowest ack of {commands} commands while {count} slow-loris clients are connected (goal < 1 s)",
             f"{max(seconds) * 1000:.1f} ms", f"median {median_ms(seconds):.1f} ms; gunicorn as in the Procfile")]

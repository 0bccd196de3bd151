"""The Procfile's web process as a subprocess: gunicorn answers signed requests and /healthz, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from devtools.slack_requests import post, sign, slash_command_body
from devtools.slow_clients import SlowClients, wait_until_closed_by_server
from tests.helpers.bots import job_arns
from tests.helpers.credentials import BOT_TOKEN, SIGNING_SECRET
from tests.helpers.gunicorn import PATIENCE, Gunicorn, procfile_command
from tests.helpers.sockets import kernel_backlog, listen_backlog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def account(emulator):
    return emulator.seed_realistic(seed=5, jobs=120)


def test_procfile_web_turns_the_scheduler_off_and_clock_runs_it():
    env, argv = procfile_command("web")
    assert env == {"RUN_SCHEDULER": "false"}
    assert argv[0] == "gunicorn" and "web:create_app()" in argv
    assert argv[argv.index("-c") + 1] == "gunicorn.conf.py"
    _, clock = procfile_command("clock")
    assert clock == ["python", "bot.py", "scheduler"]


def test_gunicorn_config_binds_port_on_all_interfaces_on_asyncio_workers(monkeypatch):
    import runpy

    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["bind"] == ["0.0.0.0:5123"]
    assert config["workers"] == 3
    # Requests are read on an event loop, not on a thread per connection (see test_slow_clients_...).
    assert config["worker_class"] == "web_server.AsgiWorker" and "threads" not in config
    from gunicorn.workers.gasgi import ASGIWorker

    from web_server import AsgiWorker

    assert issubclass(AsgiWorker, ASGIWorker)
    assert config["preload_app"] is False
    assert "%(r)s" not in config["access_log_format"] and "%(q)s" not in config["access_log_format"]
    assert "{" not in config["access_log_format"], "no header or environ atoms in the access log"


def test_procfile_web_serves_healthz_signed_commands_and_stops_cleanly_on_sigterm(
    start_gunicorn, slack, emulator, account
):
    # Several workers on a fresh database: none may trip over another creating the tables.
    server = start_gunicorn(WEB_CONCURRENCY="4")
    server.wait_until_serving()

    status, body = server.get("/healthz")
    assert status == 200
    assert BOT_TOKEN.encode() not in body and SIGNING_SECRET.encode() not in body

    response_url = slack.response_url("gunicorn-1")
    command = slash_command_body("failed", response_url=response_url)
    status, text, _ = post(server.url + "/slack/events", command, sign(SIGNING_SECRET, command))
    assert status == 200 and text == ""
    page = slack.wait_for_responses(1, key="gunicorn-1", timeout=PATIENCE)[0]
    assert page["response_type"] == "ephemeral"
    assert page["blocks"][0]["text"]["text"] == "Failed deletion jobs · all dataset groups"
    failed = [job["dataDeletionJobArn"] for job in emulator.jobs(status="FAILED")]
    assert [arn for arn in failed if any(arn in line for line in job_arns(page))] == failed[:10]

    forged = slash_command_body("failed", response_url=slack.response_url("gunicorn-forged"))
    status, _, _ = post(server.url + "/slack/events", forged, sign("not-the-signing-secret", forged))
    assert status == 401
    stale = slash_command_body("failed", response_url=slack.response_url("gunicorn-stale"))
    status, _, _ = post(server.url + "/slack/events", stale, sign(SIGNING_SECRET, stale, int(time.time()) - 600))
    assert status == 401

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(PATIENCE) == 0
    output = server.output()
    assert "Traceback" not in output
    assert SIGNING_SECRET not in output and BOT_TOKEN not in output
    # Refused requests did no work: only the one good command reached a response_url.
    assert len(slack.response_posts()) == 1


def test_sigterm_lets_an_acknowledged_command_finish_before_the_worker_exits(start_gunicorn, slack, emulator, account):
    server = start_gunicorn()
    server.wait_until_serving()
    # AWS answers slowly: the ack goes out at once, the page is still being worked on when SIGTERM arrives.
    emulator.hang(1.5)
    command = slash_command_body("media-feed", response_url=slack.response_url("in-flight"))
    status, _, _ = post(server.url + "/slack/events", command, sign(SIGNING_SECRET, command))
    assert status == 200
    deadline = time.monotonic() + PATIENCE
    while emulator.call_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.call_count() >= 1, "the command never reached AWS"
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(PATIENCE) == 0
    assert "finishing the answers still owed to Slack" in server.output()
    # The answer was delivered by the exiting worker, not lost with it.
    answers = slack.responses("in-flight")
    assert len(answers) == 1
    assert answers[0]["blocks"][0]["text"]["text"] == "Deletion jobs · media-feed"


def test_missing_settings_stop_gunicorn_with_a_clear_message_not_a_restart_loop(start_gunicorn):
    server = start_gunicorn(drop=["SLACK_SIGNING_SECRET"])
    returncode = server.process.wait(PATIENCE)
    output = server.output()
    assert returncode != 0
    assert "SLACK_SIGNING_SECRET" in output
    assert output.count("settings are incomplete") <= 2, "one message per worker, not a respawn loop"



def test_slow_clients_do_not_stop_real_commands_being_acknowledged(start_gunicorn, slack, emulator, account):
    """40 clients sending their headers a line every half second: with gthread they held every thread."""
    server = start_gunicorn()
    server.wait_until_serving()
    acks = []
    with SlowClients(("127.0.0.1", server.port), count=40, interval=0.5, lines=30) as slow:
        for i in range(4):
            body = slash_command_body("failed", response_url=slack.response_url(f"meanwhile-{i}"))
            try:
                status = post(server.url + "/slack/events", body, sign(SIGNING_SECRET, body), timeout=PATIENCE)[0]
            except OSError as err:
                status = repr(err)
            acks.append((status, "while the slow clients were sending" if not slow.finished.is_set() else "later"))
    assert acks == [(200, "while the slow clients were sending")] * 4
    for i in range(4):
        assert slack.wait_for_responses(1, key=f"meanwhile-{i}", timeout=PATIENCE)


def worker_peak_rss(server: Gunicorn) -> dict[int, int]:
    """Peak resident memory (VmHWM, bytes) of each gunicorn worker, as Linux counts it."""
    import psutil

    peaks = {}
    for worker in psutil.Process(server.process.pid).children():
        status = Path(f"/proc/{worker.pid}/status").read_text()
        kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        peaks[worker.pid] = int(kilobytes) * 1024
    return peaks


def send_raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send a request as a client would, even one the server refuses half-way; whatever it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
        try:
            sock.sendall(head)
            for start in range(0, len(body), 64 * 1024):
                sock.sendall(body[start:start + 64 * 1024])
        except OSError:
            pass  # refused before the body was read: the server closed its side
        try:
            return sock.recv(4096)
        except OSError:
            return b""


def test_big_unsigned_bodies_are_refused_before_they_are_read(start_gunicorn):
    """Four unsigned 5 MB form bodies took a gthread worker from 172 MB to 1.4 GB; each is now a 413, unread."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    before = worker_peak_rss(server)
    for body in (b"a%26b%3D" * 655_360, b"a=1&" * 1_310_720) * 2:
        head = (f"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"X-Slack-Request-Timestamp: {int(time.time())}\r\nX-Slack-Signature: v0={'0' * 64}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        answer = send_raw(server.port, head, body)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:100]
    # Sent without its body, the refusal is always read: it comes from the Content-Length alone.
    assert send_raw(server.port, b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 104857600\r\n\r\n"
                    ).startswith(b"HTTP/1.1 413")
    after = worker_peak_rss(server)
    growth = {pid: after[pid] - before[pid] for pid in before}
    assert all(grown < 8 * 2**20 for grown in growth.values()), growth
    assert server.get("/healthz")[0] == 200
    assert server.output().count("413, a body of") == 5
    assert "Traceback" not in server.output()


def test_junk_gets_a_4xx_and_one_log_line_each_under_gunicorn(start_gunicorn, slack, emulator):
    """Unsigned junk was a 500 and a 20-line traceback per request, under both servers."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    now = str(int(time.time()))
    unsigned = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64,
                "Content-Type": "application/x-www-form-urlencoded"}
    malformed_click = "payload=" + quote(json.dumps({"type": "block_actions", "user": "U1", "actions": []}))
    answers = [
        post(server.url + "/slack/events", "command=%2Fdeletion-jobs", {**unsigned,
                                                                        "X-Slack-Request-Timestamp": "soon"})[0],
        post(server.url + "/slack/events", "payload=%7Bnot+json", unsigned)[0],
        post(server.url + "/slack/events", "payload=null", sign(SIGNING_SECRET, "payload=null"))[0],
        post(server.url + "/slack/events", malformed_click, sign(SIGNING_SECRET, malformed_click))[0],
        send_raw(server.port, b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 3\r\n"
                 + "".join(f"{k}: {v}\r\n" for k, v in unsigned.items()).encode() + b"\r\n\xff\xfe\xfd")[:12],
    ]
    assert answers == [401, 401, 400, 400, b"HTTP/1.1 401"]
    output = server.output()
    assert output.count("refused a request to /slack/events") == 5
    assert "Traceback" not in output and " ERROR " not in output
    assert emulator.call_count() == 0 and slack.response_posts() == []


def test_idle_and_half_sent_connections_are_closed(start_gunicorn):
    """gunicorn's asgi worker has no deadline for a first request: such sockets stayed open for ever."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
    half_sent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
    try:
        for sock in half_sent:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n")
        assert wait_until_closed_by_server(idle + half_sent, timeout=PATIENCE) == 40
    finally:
        for sock in idle + half_sent:
            sock.close()
    assert server.get("/healthz")[0] == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(PATIENCE) == 0
    assert "Forcing close" not in server.output() and "Traceback" not in server.output()


def test_workers_listen_with_gunicorns_backlog(start_gunicorn):
    """asyncio's create_server listens again with a backlog of 100 unless told; a burst of 200 commands
    overflowed it and some acks waited a second for the kernel's SYN retry."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    assert listen_backlog(server.port) == kernel_backlog(2048)  # gunicorn's `backlog` default


def head(path: str = "/healthz", *, fields: int = 0, field_size: int = 100) -> bytes:
    """A GET request head with `fields` extra headers of `field_size` bytes each."""
    lines = [f"GET {path} HTTP/1.1", "Host: bot", "Connection: close"]
    lines += [f"X-Extra-{i}: " + "a" * (field_size - len(f"X-Extra-{i}: ")) for i in range(fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_oversized_request_heads_are_refused_under_the_procfile_web_command(start_gunicorn):
    """gunicorn's defaults let each request carry ~800 KB of headers, parsed on the worker's event loop."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    # What Slack (~15 short headers) plus a proxy's own could send is served.
    assert send_raw(server.port, head(fields=30, field_size=1000)).startswith(b"HTTP/1.1 200")
    refused = {
        "41 fields": send_raw(server.port, head(fields=41)),
        "a 4,200-byte field": send_raw(server.port, head(fields=1, field_size=4200)),
        "a 3,000-byte request line": send_raw(server.port, head("/healthz?" + "q" * 3000)),
        "100 fields of 8,000 bytes": send_raw(server.port, head(fields=100, field_size=8000)),
    }
    assert {name: answer.split(b"\r\n")[0] for name, answer in refused.items()
            if not answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 414", b"HTTP/1.1 431"))} == {}
    assert server.get("/healthz")[0] == 200
    assert "Traceback" not in server.output()


def test_the_access_log_shows_paths_as_sent_and_no_forged_line_or_terminal_escape(start_gunicorn):
    """`%(U)s` was the percent-decoded path: %0A wrote a fake log line, %1B a terminal escape."""
    server = start_gunicorn(WEB_CONCURRENCY="1")
    server.wait_until_serving()
    forged = "2026-11-30 11:00:00,000 ERROR services.digest.service: FORGED"
    paths = [b"/x%0A2026-11-30%2011:00:00,000%20ERROR%20services.digest.service:%20FORGED",
             b"/y%0D%0A127.0.0.1%20%22POST%20/slack/events%22%20200",
             b"/z%1B%5B2J%1B%5B31mred%22quoted%C3%A9?token=secret"]
    for path in paths:
        assert send_raw(server.port, b"GET " + path + b" HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n"
                        ).startswith(b"HTTP/1.1 404")
    lines = poll_output_lines(server, "/z%1B")
    assert not [line for line in lines if line.startswith(forged[:10]) and "FORGED" in line]
    assert "\x1b" not in server.output() and "\r" not in server.output()
    logged = [line for line in lines if '"GET /' in line and '/healthz' not in line]
    assert [line.split('"')[1] for line in logged] == ["GET " + path.decode().split("?")[0] for path in paths]
    assert "secret" not in server.output()


def poll_output_lines(server: Gunicorn, needle: str) -> list[str]:
    """The server's output lines, once `needle` is in them (the access log is written after the answer)."""
    for _ in range(200):
        if needle in server.output():
            break
        time.sleep(0.05)
    return server.output().splitlines()

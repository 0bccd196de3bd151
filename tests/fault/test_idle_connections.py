"""Idle and slow connections at the bot's own HTTP server (`python bot.py`): closed in time, no thread each."""

from __future__ import annotations

import socket
import threading

from devtools.slow_clients import SlowClients, wait_until_closed_by_server
from tests.helpers.bots import job_arns
from web_server import READ_TIMEOUT_SECONDS, REQUEST_THREADS

# How long the test waits for the server to close a connection: a bound well past READ_TIMEOUT_SECONDS.
PATIENCE = READ_TIMEOUT_SECONDS + 50


def test_idle_and_slow_connections_hold_no_threads_and_are_closed(run_bot, emulator, slack):
    """1,000 idle sockets held 1,000 threads of `python bot.py` for over a minute."""
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    address = bot.server.server_address[:2]
    threads_before = threading.active_count()
    idle = [socket.create_connection(address) for _ in range(300)]
    try:
        with SlowClients(address, count=40, interval=0.5, lines=int(PATIENCE * 2)) as slow:
            # One thread drives the slow clients; the server adds none for all 340 connections.
            assert threading.active_count() - threads_before <= 1
            ack = bot.command("FAILED")
            assert ack.status == 200 and not slow.finished.is_set()
            assert job_arns(bot.answer(ack))
            assert wait_until_closed_by_server(idle, timeout=PATIENCE) == len(idle)
            slow.finished.wait(PATIENCE * 2)
        assert slow.closed_by_server == 40
    finally:
        for sock in idle:
            sock.close()
    # The command's own work may have started a few pool threads (HTTP, Bolt, background): never one per socket.
    assert threading.active_count() - threads_before <= REQUEST_THREADS + 4

"""web_server: requests read whole on an event loop, a few threads to run the app, idle clients closed."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time

import pytest

from devtools.slow_clients import wait_until_closed_by_server
from web_server import AsgiBridge, BufferingHTTPServer, FirstRequestDeadline

# Generous bounds for a busy 2-core machine: how long a test waits for something that must happen.
PATIENCE = 30


def echo_app(environ, start_response):
    """Answers with what it was given, so the tests can see the environ the server built."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    answer = "|".join([environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"],
                       environ.get("CONTENT_LENGTH", "-"), str(len(body)), environ.get("HTTP_X_SLACK_SIGNATURE", "-"),
                       threading.current_thread().name.split("_")[0]]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "keep-alive")])
    return [answer]


@pytest.fixture
def serve():
    servers = []

    def start(app=echo_app, **options) -> BufferingHTTPServer:
        server = BufferingHTTPServer(app, "127.0.0.1", 0, max_body=1024, **options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def exchange(server, data: bytes) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=PATIENCE) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_request_is_answered_and_the_connection_closed(serve):
    server = serve()
    answer = exchange(server, b"POST /slack/events?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              b"X-Slack-Signature: v0=1\r\n\r\nhello")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in head and b"Content-Length: %d" % len(body) in head
    assert b"keep-alive" not in head
    assert body == b"POST|/slack/events|a=1|5|5|v0=1|http"


def test_a_body_over_the_cap_is_not_read_and_the_app_sees_its_declared_length(serve):
    server = serve()
    answer = exchange(server, b"POST /x HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n")
    assert answer.endswith(b"POST|/x||5000000|0|-|http")


def test_expect_100_continue_is_honoured_within_the_cap(serve):
    server = serve()
    with socket.create_connection(server.server_address[:2], timeout=PATIENCE) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert sock.recv(1000).endswith(b"POST|/x||3|3|-|http")


def test_a_header_with_an_underscore_cannot_pose_as_a_slack_header(serve):
    server = serve()
    answer = exchange(server, b"POST /x HTTP/1.1\r\nContent-Length: 0\r\nX_Slack_Signature: forged\r\n\r\n")
    assert answer.endswith(b"|-|http")


@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
    (b"POST /x HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
])
def test_malformed_requests_get_a_4xx_without_reaching_the_app(serve, request_bytes, status):
    reached = []
    server = serve(lambda environ, start_response: reached.append(1) or echo_app(environ, start_response))
    assert exchange(server, request_bytes).startswith(b"HTTP/1.1 " + status)
    assert reached == []


def test_idle_and_slow_connections_are_closed_and_hold_no_thread(serve):
    """`python bot.py` kept 1,000 idle sockets open on 1,000 threads for over a minute."""
    server = serve(read_timeout=1.0)
    threads_before = threading.active_count()
    idle = [socket.create_connection(server.server_address[:2]) for _ in range(200)]
    slow = [socket.create_connection(server.server_address[:2]) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"POST /x HTTP/1.1\r\nX-A: 1\r\n")
        assert exchange(server, b"GET /meanwhile HTTP/1.1\r\n\r\n").endswith(b"GET|/meanwhile||-|0|-|http")
        assert threading.active_count() - threads_before <= 1  # the app's one thread so far, none per socket
        assert wait_until_closed_by_server(idle + slow, timeout=PATIENCE) == 220
        assert server.open_connections == 0
    finally:
        for sock in idle + slow:
            sock.close()


def test_connections_past_the_cap_are_closed_at_once(serve):
    server = serve(max_connections=5)
    idle = [socket.create_connection(server.server_address[:2]) for _ in range(5)]
    try:
        deadline = time.monotonic() + PATIENCE
        while server.open_connections < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        extra = socket.create_connection(server.server_address[:2])
        assert wait_until_closed_by_server([extra], timeout=PATIENCE) == 1
        assert server.open_connections == 5
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + PATIENCE
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exchange(server, b"GET /again HTTP/1.1\r\n\r\n").endswith(b"GET|/again||-|0|-|http")


def test_shutdown_lets_a_running_request_finish(serve):
    server = serve()
    answers = []
    client = threading.Thread(target=lambda: answers.append(exchange(server, b"GET /slow HTTP/1.1\r\n\r\n")))
    client.start()
    deadline = time.monotonic() + PATIENCE
    while not server._running and time.monotonic() < deadline:
        time.sleep(0.01)
    server.shutdown()
    client.join(PATIENCE)
    assert answers and answers[0].endswith(b"GET|/slow||-|0|-|http")


# ---- AsgiBridge, as gunicorn's asgi worker calls it -------------------------------------------------------


def run_bridge(bridge, scope_extra=None, messages=(), *, receive=None):
    scope = {"type": "http", "method": "POST", "path": "/slack/events", "raw_path": b"/slack/events",
             "query_string": b"a=1", "headers": [], "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000),
             "http_version": "1.1", **(scope_extra or {})}
    queue = list(messages)
    received, sent = [], []

    async def next_message():
        received.append(1)
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(bridge(scope, receive or next_message, send))
    return received, sent


def test_the_bridge_reads_the_body_then_runs_the_app_on_its_threads():
    bridge = AsgiBridge(echo_app, max_body=1024)
    _, sent = run_bridge(bridge, {"headers": [(b"content-length", b"6"), (b"x-slack-signature", b"v0=2")]}, [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"def", "more_body": False},
    ])
    assert sent[0]["status"] == 200
    assert sent[0]["headers"] == [(b"content-type", b"text/plain"), (b"content-length", b"36")]
    assert sent[1]["body"] == b"POST|/slack/events|a=1|6|6|v0=2|http"
    bridge.shutdown()


def test_the_bridge_does_not_read_a_body_declared_over_the_cap():
    bridge = AsgiBridge(echo_app, max_body=1024)
    received, sent = run_bridge(bridge, {"headers": [(b"content-length", b"5000000")]})
    assert received == []
    assert sent[1]["body"].startswith(b"POST|/slack/events|a=1|5000000|0|")


def test_the_bridge_reads_a_body_of_unknown_length_only_up_to_the_cap():
    bridge = AsgiBridge(echo_app, max_body=1024)
    chunks = [{"type": "http.request", "body": b"x" * 512, "more_body": True}] * 20
    received, sent = run_bridge(bridge, {}, chunks)
    assert len(received) == 3  # 1,536 bytes: past the cap, so the app refuses it (413) without more
    assert sent[1]["body"].startswith(b"POST|/slack/events|a=1|-|1536|")


def test_the_bridge_answers_408_to_a_body_that_does_not_arrive_and_nothing_to_a_client_gone():
    async def never():
        await asyncio.Event().wait()

    _, sent = run_bridge(AsgiBridge(echo_app, max_body=1024, read_timeout=0.1), receive=never)
    assert sent[0]["status"] == 408
    _, sent = run_bridge(AsgiBridge(echo_app, max_body=1024), {}, [{"type": "http.disconnect"}])
    assert sent == []


def test_the_bridge_speaks_lifespan_and_its_shutdown_runs_the_hook():
    bridge = AsgiBridge(echo_app, max_body=1024)
    hook = []
    bridge.on_shutdown = lambda: hook.append("done")
    _, sent = run_bridge(bridge, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    bridge.shutdown()
    assert hook == ["done"]


def test_the_first_request_deadline_closes_a_head_that_does_not_end_and_spares_one_that_does():
    class Transport:
        aborted = False

        def abort(self):
            self.aborted = True

    async def scenario(*chunks: bytes) -> tuple[bool, list]:
        seen = []

        class Inner(asyncio.Protocol):
            def data_received(self, data):
                seen.append(data)

        transport = Transport()
        protocol = FirstRequestDeadline(Inner(), 0.05)
        protocol.connection_made(transport)
        for chunk in chunks:
            protocol.data_received(chunk)
        await asyncio.sleep(0.2)  # a loop timer due later than the deadline's: the deadline has fired by then
        return transport.aborted, seen

    # The blank line split across two reads still ends the head; the protocol inside sees every byte.
    assert asyncio.run(scenario(b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\n")) == (
        False, [b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\n"])
    assert asyncio.run(scenario(b"GET / HTTP/1.1\r\n", b"Host: x\r\n"))[0] is True
    assert asyncio.run(scenario())[0] is True


def test_the_access_log_path_is_the_raw_path_with_nothing_unprintable_and_no_query():
    from web_server import loggable_path

    assert loggable_path("/slack/events") == "/slack/events"
    assert loggable_path("/x%0Ay%1B[2J?token=secret") == "/x%0Ay%1B[2J"
    assert loggable_path('/a"b\x1bc\nd é') == "/a%22b%1Bc%0Ad%20%C3%A9"


class ClosedAfterWriting:
    """A WSGI answer whose close() (PEP 3333) notes what the client had received by then."""

    def __init__(self, received):
        self.received = received
        self.seen_at_close: list[bytes] | None = None
        self.closes = 0

    def app(self, environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        answer = self

        class Body(list):
            def close(self):
                answer.seen_at_close = list(answer.received())
                answer.closes += 1

        return Body([b"acknowledged"])


def test_the_server_closes_the_answer_only_once_it_is_written(serve):
    """web.py starts a request's work in close(): the client must already hold the whole answer by then. Here
    close() waits for the client to have read it; a server that closed before writing would never get there."""
    delivered = threading.Event()
    closing = ClosedAfterWriting(lambda: [b"delivered"] if delivered.wait(PATIENCE) else [])
    server = serve(closing.app)
    with socket.create_connection(server.server_address[:2], timeout=PATIENCE) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        answer = b""
        while not answer.endswith(b"acknowledged"):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        delivered.set()
    wait_for(lambda: closing.closes == 1)
    assert closing.seen_at_close == [b"delivered"]


def test_the_bridge_closes_the_answer_after_sending_it():
    sent: list[dict] = []
    closing = ClosedAfterWriting(lambda: [message.get("body", b"") for message in sent])
    bridge = AsgiBridge(closing.app, max_body=1024)
    scope = {"type": "http", "method": "POST", "path": "/slack/events", "raw_path": b"/slack/events",
             "query_string": b"", "headers": [(b"content-length", b"2")], "http_version": "1.1"}
    messages = [{"type": "http.request", "body": b"hi", "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(bridge(scope, receive, send))
    bridge.shutdown()
    assert closing.closes == 1 and closing.seen_at_close[-1] == b"acknowledged"


def wait_for(condition, patience: float = PATIENCE) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.01)


def test_python_bot_py_listens_with_room_for_a_burst(serve):
    """asyncio listens again with a backlog of 100 unless told: 200 simultaneous commands overflowed it."""
    from tests.helpers.sockets import kernel_backlog, listen_backlog
    from web_server import LISTEN_BACKLOG

    server = serve()
    exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # the event loop is serving
    assert listen_backlog(server.server_address[1]) == kernel_backlog(LISTEN_BACKLOG)


def test_an_answer_abandoned_by_a_cancelled_request_is_still_closed():
    """gunicorn cancels a request whose client went away; the app, already running, finishes and is closed."""
    from concurrent.futures import ThreadPoolExecutor

    from web_server import run_app

    running, finish = threading.Event(), threading.Event()
    closing = ClosedAfterWriting(lambda: [])

    def app(environ, start_response):
        running.set()
        assert finish.wait(PATIENCE)
        return closing.app(environ, start_response)

    async def cancel_mid_run():
        task = asyncio.ensure_future(run_app(pool, app, {"wsgi.input": io.BytesIO(b"")}))
        await asyncio.get_running_loop().run_in_executor(None, running.wait, PATIENCE)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    pool = ThreadPoolExecutor(1)
    asyncio.run(cancel_mid_run())
    finish.set()
    pool.shutdown(wait=True)
    assert closing.closes == 1

"""Serving the WSGI app so that a slow or idle client never holds a thread.

A request is read whole on an asyncio event loop, where a client that sends a byte a second costs a socket and
a coroutine, not a thread. Only a request that has fully arrived is handed to one of a few threads, which run
the WSGI app (Bolt, which acknowledges in milliseconds). Two front ends share that design:

- `AsgiBridge`: an ASGI app for gunicorn's asyncio `asgi` worker (the Procfile's web process, gunicorn.conf.py),
  run by `AsgiWorker`, which adds the deadline for a connection's first request head that gunicorn's lacks.
- `BufferingHTTPServer`: the HTTP/1.1 server of `python bot.py` (one request per connection), which also times
  out connections whose request does not arrive in time and caps how many are open.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

from gunicorn.glogging import Logger
from gunicorn.workers.gasgi import ASGIWorker

logger = logging.getLogger("deletion_jobs.web")

# Threads that run the WSGI app on complete requests. Bolt holds one for about 2 ms per request (it acknowledges
# inline: app_factory.InlineAckApp), so 8 acknowledge hundreds a second; the slow work runs on the BackgroundRunner.
REQUEST_THREADS = 8
# A request (head and body) must arrive within this; Slack sends each one at once. Idle connections are
# closed after it too.
READ_TIMEOUT_SECONDS = 10.0
WRITE_TIMEOUT_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
# Connections the kernel queues before `python bot.py` accepts them (gunicorn's default, the kernel caps it at
# net.core.somaxconn): a burst of simultaneous commands must not overflow it.
LISTEN_BACKLOG = 2048
# Open connections per `python bot.py` process; past it new ones are closed at once. An idle connection costs
# a socket and a few KB here, so the cap is about file descriptors: it stays FD_RESERVE under the process's
# limit, leaving descriptors for the database, AWS and Slack.
MAX_CONNECTIONS = 2000
FD_RESERVE = 100
# After refusing a body without reading it, keep reading (and dropping) it this long, so the client gets the
# answer instead of a connection reset.
LINGER_SECONDS = 2.0
# The server decides these, not the app: one request per answer here, its length counted by us.
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})


@dataclass(frozen=True)
class WsgiAnswer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    # The app's close(), called once the answer is written (PEP 3333): web.py starts the request's work there.
    close: Callable[[], None] | None = None

    def closed(self) -> None:
        """Call the app's close() (once the answer is written, or could not be); never raises."""
        _close_quietly(self.close)


def _close_quietly(close: Callable[[], None] | None) -> None:
    if close is None:
        return
    try:
        close()
    except Exception:
        logger.exception("the app's close() failed after an answer")


def run_wsgi(app, environ: dict) -> WsgiAnswer:
    """Call a WSGI app on a complete request and collect its answer (our app's answers are small). The caller
    writes the answer, then calls its `closed()`."""
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"], started["headers"] = status, list(headers)
        return lambda data: started.setdefault("written", []).append(data)

    chunks = None
    try:
        chunks = app(environ, start_response)
        body = b"".join([*started.get("written", []), *chunks])
    except Exception:
        logger.exception("the app failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        _close_quietly(getattr(chunks, "close", None))
        return WsgiAnswer("500 Internal Server Error", [("Content-Type", "text/plain")], b"Internal Server Error")
    return WsgiAnswer(started["status"], started["headers"], body, getattr(chunks, "close", None))


async def run_app(pool: ThreadPoolExecutor, app, environ: dict) -> WsgiAnswer:
    """`run_wsgi` on one of `pool`'s threads. When the request is cancelled meanwhile (the client went away, the
    worker is stopping), an app already running still finishes there, and its answer is closed then: the work
    it holds for after the answer (web.py) is not orphaned."""
    future = pool.submit(run_wsgi, app, environ)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.add_done_callback(_close_abandoned)
        raise


def _close_abandoned(future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().closed()


def wsgi_environ(method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, declared_length,
                 server: tuple, client: tuple | None, protocol: str = "HTTP/1.1") -> dict:
    """PEP 3333 environ for a request whose body is `body` (empty when it was refused unread)."""
    parts = urlsplit(target)
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(parts.path or "/").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": str(client[0]) if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if declared_length is not None:
        environ["CONTENT_LENGTH"] = str(declared_length)
    for name, value in headers:
        # A header with "_" would alias one with "-" (X_Slack_Signature): drop it, as gunicorn and wsgiref do.
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = key if key == "CONTENT_TYPE" else f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def declared_length(headers: list[tuple[str, str]]) -> int | None:
    """The Content-Length, or None when there is none; ValueError when it is not one number."""
    values = {value.strip() for name, value in headers if name.lower() == "content-length"}
    if not values:
        return None
    if len(values) > 1 or not all(v.isascii() and v.isdigit() for v in values):
        raise ValueError("bad Content-Length")
    return int(values.pop())


def _status_code(status: str) -> int:
    return int(status.split(" ", 1)[0])


class AsgiBridge:
    """The WSGI app as an ASGI app for gunicorn's `asgi` worker: the body is read on the event loop (at most
    `max_body` + 1 bytes, within READ_TIMEOUT_SECONDS), then the app runs on one of `threads` threads.

    A body whose Content-Length is over `max_body` is not read: the app sees the declared length and an empty
    body, and refuses it (413) itself, so every refusal is answered and logged in one place.
    """

    def __init__(self, wsgi_app, *, max_body: int, threads: int = REQUEST_THREADS,
                 read_timeout: float = READ_TIMEOUT_SECONDS):
        self._app = wsgi_app
        self._max_body = max_body
        self._read_timeout = read_timeout
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="http")
        self.on_shutdown = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _http(self, scope, receive, send) -> None:
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        try:
            length = declared_length(headers)
        except ValueError:
            await self._answer(send, WsgiAnswer("400 Bad Request", [], b"Bad Request"))
            return
        body = b""
        if length is None or length <= self._max_body:
            try:
                body = await asyncio.wait_for(self._receive_body(receive), self._read_timeout)
            except TimeoutError:
                await self._answer(send, WsgiAnswer("408 Request Timeout", [], b"Request Timeout"))
                return
            if body is None:  # the client went away
                return
        target = scope.get("raw_path") or scope["path"].encode("latin-1")
        target = target.decode("latin-1") + (f"?{scope['query_string'].decode('latin-1')}"
                                             if scope.get("query_string") else "")
        environ = wsgi_environ(scope["method"], target, headers, body, declared_length=length,
                               server=scope.get("server") or ("localhost", 80), client=scope.get("client"),
                               protocol=f"HTTP/{scope.get('http_version', '1.1')}")
        answer = await run_app(self._pool, self._app, environ)
        try:
            await self._answer(send, answer)
        finally:
            answer.closed()

    async def _receive_body(self, receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_body or not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _answer(send, answer: WsgiAnswer) -> None:
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
                   if name.lower() not in _HOP_BY_HOP]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": _status_code(answer.status), "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    @staticmethod
    async def _lifespan(receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def shutdown(self) -> None:
        """Let requests already running finish, then run `on_shutdown` (gunicorn.conf.py's worker_exit)."""
        self._pool.shutdown(wait=True)
        if self.on_shutdown is not None:
            self.on_shutdown()


class FirstRequestDeadline(asyncio.Protocol):
    """Wraps a connection's protocol and closes the connection if its first request head (up to the blank line)
    has not arrived within `seconds`. Only asyncio's public Protocol calls pass through here."""

    def __init__(self, inner: asyncio.Protocol, seconds: float):
        self._inner = inner
        self._seconds = seconds
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._transport = None

    def connection_made(self, transport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def connection_lost(self, exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _expire(self) -> None:
        self._timer = None
        logger.debug("closed a connection: no request head within %s s", self._seconds)
        self._transport.abort()


class AsgiWorker(ASGIWorker):
    """gunicorn's asyncio `asgi` worker, whose connections must send their first request head within
    READ_TIMEOUT_SECONDS (gunicorn times out kept-alive connections only): an idle or slow client would
    otherwise hold its socket for ever, and a stopping worker for its whole graceful_timeout."""

    async def _serve(self):
        create_server = self.loop.create_server

        async def create_server_with_deadline(factory, *args, **kwargs):
            # asyncio listens again on the socket it is given, with a backlog of 100 unless told: a burst of 200
            # commands then overflowed it and the kernel's SYN retry made some acks wait a second. gunicorn's own.
            kwargs.setdefault("backlog", self.cfg.backlog)
            return await create_server(lambda: FirstRequestDeadline(factory(), READ_TIMEOUT_SECONDS), *args,
                                       **kwargs)

        # gunicorn's _serve makes its servers with loop.create_server(protocol factory, sock=...): wrap the factory.
        self.loop.create_server = create_server_with_deadline
        await super()._serve()


class _BadRequest(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


class BufferingHTTPServer:
    """`python bot.py`'s HTTP/1.1 server: an event loop reads each request whole, `threads` threads run the app.

    A connection whose request has not fully arrived within `read_timeout` seconds (idle, or sending slowly) is
    closed, and at most `max_connections` are open at once. The interface is socketserver's: `server_address`,
    `serve_forever()`, `shutdown()` (from another thread), `server_close()`.
    """

    def __init__(self, wsgi_app, host: str, port: int, *, max_body: int, threads: int = REQUEST_THREADS,
                 read_timeout: float = READ_TIMEOUT_SECONDS, max_connections: int = MAX_CONNECTIONS):
        self._app = wsgi_app
        self._max_body = max_body
        self._read_timeout = read_timeout
        self._max_connections = _within_descriptor_limit(max_connections)
        self._refused = 0
        # Slack bursts: let the kernel queue connections rather than refuse them.
        self._socket = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
        self.server_address = self._socket.getsockname()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="http")
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self._reading: set[asyncio.Task] = set()
        self._running: set[asyncio.Task] = set()

    @property
    def open_connections(self) -> int:
        return len(self._reading) + len(self._running)

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever and wait for it: requests being run finish, unfinished reads are dropped."""
        with self._lock:
            self._stopping = True
            loop, stop = self._loop, self._stop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(stop.set)
            self._stopped.wait()

    def server_close(self) -> None:
        self._socket.close()
        self._pool.shutdown(wait=True)

    async def _serve(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        # asyncio listens again on the socket with a backlog of 100 unless told (a burst of 200 overflowed it).
        server = await asyncio.start_server(self._connection, sock=self._socket, limit=MAX_HEAD_BYTES,
                                            backlog=LISTEN_BACKLOG)
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._reading):
                task.cancel()
            pending = self._reading | self._running
            if pending:
                await asyncio.wait(pending, timeout=WRITE_TIMEOUT_SECONDS)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self.open_connections >= self._max_connections:
            if not self._refused:
                logger.warning("%d connections are open: closing new ones at once until some end",
                               self.open_connections)
            self._refused += 1
            writer.transport.abort()
            return
        if self._refused:
            logger.warning("accepting connections again; %d were closed at once meanwhile", self._refused)
            self._refused = 0
        self._reading.add(task)
        try:
            await self._serve_request(reader, writer, task)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        except TimeoutError:
            logger.debug("closed a connection: no complete request within %s s", self._read_timeout)
        finally:
            self._reading.discard(task)
            self._running.discard(task)
            writer.close()

    async def _serve_request(self, reader, writer, task) -> None:
        try:
            async with asyncio.timeout(self._read_timeout):
                method, target, headers, length, body = await self._read_request(reader, writer)
        except _BadRequest as bad:
            await self._write(writer, WsgiAnswer(bad.status, [], bad.status.split(" ", 1)[1].encode()))
            return
        environ = wsgi_environ(method, target, headers, body, declared_length=length,
                               server=self.server_address[:2], client=writer.get_extra_info("peername"))
        self._reading.discard(task)
        self._running.add(task)
        answer = await run_app(self._pool, self._app, environ)
        logger.debug("http %s %s %s", method, environ["PATH_INFO"], answer.status)
        try:
            await self._write(writer, answer, head_only=method == "HEAD")
        finally:
            answer.closed()
        if length is not None and length != len(body):
            await self._linger(reader, writer)

    async def _read_request(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest("431 Request Header Fields Too Large") from None
        method, target, headers = _parse_head(head)
        if any(name.lower() == "transfer-encoding" for name, _ in headers):
            raise _BadRequest("411 Length Required")  # Slack sends a Content-Length; nothing else is served
        try:
            length = declared_length(headers)
        except ValueError:
            raise _BadRequest("400 Bad Request") from None
        if length is None or length > self._max_body:
            return method, target, headers, length, b""  # over the cap: the app refuses it unread (413)
        if any(n.lower() == "expect" and v.strip().lower() == "100-continue" for n, v in headers):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return method, target, headers, length, await reader.readexactly(length)

    @staticmethod
    async def _write(writer, answer: WsgiAnswer, *, head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {answer.status}"]
        lines += [f"{name}: {value}" for name, value in answer.headers if name.lower() not in _HOP_BY_HOP]
        lines += [f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + (b"" if head_only else answer.body))
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            await writer.drain()

    @staticmethod
    async def _linger(reader, writer) -> None:
        """Drop what the client still sends of a refused body for a moment, so it reads our answer, not a reset."""
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                while await reader.read(64 * 1024):
                    pass
        except TimeoutError:
            pass


def _within_descriptor_limit(connections: int) -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return connections
    return min(connections, max(16, soft - FD_RESERVE))


def _parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # RFC 9112: a server should ignore empty lines before the request line
    words = lines[0].split(" ") if lines else []
    if len(words) != 3 or not words[2].startswith("HTTP/1.") or not words[0].isalpha():
        raise _BadRequest("400 Bad Request")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name or "\t" in name:
            raise _BadRequest("400 Bad Request")
        headers.append((name, value.strip(" \t")))
    return words[0], words[1], headers


# What an access-log path may show as is: printable ASCII, but not the quote the format puts around it.
_NOT_LOGGABLE = re.compile(r'[^\x21-\x7e]|"')


def loggable_path(raw_uri: str) -> str:
    """The request's path as the client sent it (still percent-encoded, no query string), with anything not
    printable ASCII percent-encoded: a decoded `%0A` or `%1B` would forge an access-log line or a terminal escape."""
    path = raw_uri.split("?", 1)[0]
    return _NOT_LOGGABLE.sub(lambda found: quote(found.group(), safe=""), path)


class AccessLogger(Logger):
    """gunicorn's logger (gunicorn.conf.py's `logger_class`), whose `%(U)s` is `loggable_path`, not the decoded
    PATH_INFO gunicorn puts there."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = loggable_path(environ.get("RAW_URI") or "")
        return atoms

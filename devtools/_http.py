"""Shared base of the local stand-ins: an HTTP server on 127.0.0.1 in a daemon thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's pick), for a server started next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Load tests open 50+ connections at once; the default backlog of 5 made the kernel reset some.
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: LocalHTTPServer):
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        # Keep-alive clients (botocore's pool) would otherwise go on talking to a
        # "stopped" server through connections that are already open.
        with self._connections_lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        # Clients that time out and hang up are part of what the stand-ins are for;
        # their broken pipes are not worth a traceback on stderr.
        pass


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive handler with helpers to read the body and send a complete response."""

    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection must not pin a thread forever.
    timeout = 30
    # Headers and body go out as two writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every keep-alive request, which would swamp any benchmark.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class LocalHTTPServer:
    """Start/stop, `.url` and context-manager support; subclasses set `handler_class`."""

    handler_class: type[QuietHandler]

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self):
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self.handler_class, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        # Connections go first so that a request caught mid-latency is dropped, as by
        # a dead server, rather than answered; then its sleeping handler is woken.
        server.close_connections()
        self._stopping.set()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause(self, seconds: float) -> None:
        """Sleep for a handler; returns early when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

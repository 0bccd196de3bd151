"""Slow-loris clients: sockets that send a request's headers one line at a time, for tests and benchmarks.

    with SlowClients(("127.0.0.1", port), count=40, interval=0.5, lines=30) as slow:
        ...  # meanwhile, send real requests; slow.finished tells whether the slow clients are done

One thread drives every socket, so 40 or 1,000 clients cost the caller one thread. Loopback only.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time


class SlowClients:
    def __init__(self, address: tuple[str, int], *, count: int, interval: float, lines: int,
                 path: str = "/slack/events"):
        self._address = address
        self._count = count
        self._interval = interval
        self._lines = lines
        self._path = path
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self.connected = 0
        # Set once every client has sent its last line (or the server closed it): the slow clients are done.
        self.finished = threading.Event()
        self.closed_by_server = 0

    def __enter__(self) -> SlowClients:
        for _ in range(self._count):
            sock = socket.create_connection(self._address, timeout=10)
            sock.sendall(f"POST {self._path} HTTP/1.1\r\n".encode())
            self._sockets.append(sock)
            self.connected += 1
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in self._sockets:
            sock.close()

    def _trickle(self) -> None:
        open_sockets = list(self._sockets)
        for line in range(self._lines):
            if not open_sockets or self._stop.wait(self._interval):
                break
            for sock in list(open_sockets):
                try:
                    sock.sendall(f"X-Slow-{line}: {'a' * 20}\r\n".encode())
                except OSError:
                    open_sockets.remove(sock)
                    self.closed_by_server += 1
        self.finished.set()


def wait_until_closed_by_server(sockets: list[socket.socket], timeout: float) -> int:
    """How many of `sockets` the server closed (EOF or reset) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        while closed < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    data = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data == b"":  # an answer (408) may come first; the close is what counts
                    selector.unregister(key.fileobj)
                    closed += 1
    return closed

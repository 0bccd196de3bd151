"""A loopback TCP proxy a test can cut or freeze: it stands for a database that stops answering and comes back.

    with TcpProxy("127.0.0.1", 5432) as proxy:      # listens on 127.0.0.1:proxy.port
        ...                                          # clients connect through it
        proxy.cut()                                  # open connections dropped, new ones closed at once
        proxy.restore()                              # forwards again
        proxy.freeze()                               # a frozen server (SIGSTOP): connections stay open, new ones
                                                     # are accepted, nothing is answered; cut() then restore()
                                                     # to start afresh

A frozen proxy is what a stopped PostgreSQL looks like from the client: its kernel still accepts connections and
acknowledges every byte (so TCP keepalives and tcp_user_timeout see nothing wrong), but no answer ever comes.

Threads only; one pair of pump threads per connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        # A short accept timeout lets close() stop the loop: closing a socket does not wake a blocked accept().
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._frozen = False
        self._thawed = threading.Condition(self._lock)
        self._closed = threading.Event()
        self.accepted = 0
        self.refused_while_cut = 0
        self.held_while_frozen = 0
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self) -> None:
        """Drop every open connection (both ends see the close) and close new ones as soon as they arrive."""
        with self._lock:
            self._cut = True
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _drop(sock)

    def freeze(self) -> None:
        """Stop forwarding, in both directions, without closing anything; new connections are accepted and held."""
        with self._lock:
            self._frozen = True

    def restore(self) -> None:
        with self._lock:
            self._cut = False
            self._frozen = False
            self._thawed.notify_all()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._thawed.notify_all()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                cut, frozen = self._cut, self._frozen
                if cut:
                    self.refused_while_cut += 1
                elif frozen:
                    # Accepted (the kernel's backlog does that for a stopped server) and never answered.
                    self.held_while_frozen += 1
                    self._open.add(client)
            if cut:
                _drop(client)
                continue
            if frozen:
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _drop(client)
                continue
            with self._lock:
                if self._cut:  # cut while connecting upstream
                    _drop(client)
                    _drop(upstream)
                    continue
                self.accepted += 1
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                with self._lock:
                    # Frozen: the bytes are taken (acknowledged, as a stopped server's kernel does), not passed on.
                    self._thawed.wait_for(lambda: not self._frozen or self._closed.is_set())
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _drop(source)
            _drop(sink)


def _drop(sock: socket.socket) -> None:
    # shutdown() before close(): the peer sees the connection end even while another thread is in recv().
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

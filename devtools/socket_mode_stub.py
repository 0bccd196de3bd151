"""Local stand-in for Slack's Socket Mode WebSocket server (`wss://wss-primary.slack.com/link/…`), on loopback.

    with SlackStub() as slack:
        socket = slack.enable_socket_mode()          # apps.connections.open now answers ws://127.0.0.1:…/link/
        ...start the bot with SLACK_APP_TOKEN and SLACK_API_URL=slack.api_url...
        socket.wait_for_connections(1)
        envelope = socket.send_slash_command("FAILED", response_url=slack.response_url("k"))
        socket.wait_for_ack(envelope)

Like Slack: a `hello` on connect; envelopes `{"envelope_id", "type", "payload", "accepts_response_payload",
"retry_attempt", "retry_reason"}`; a `disconnect` message before Slack closes a connection it refreshes; pings
answered with pongs. Every acknowledgement the bot sends back (`{"envelope_id": …}`) is recorded.

The WebSocket protocol (RFC 6455) is implemented here in the few lines a test server needs (no extensions, no
fragmented messages from the client), so the stand-in needs no library: slack_sdk's built-in client needs none
either.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass

from devtools.slack_requests import API_APP_ID, new_trigger_id

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


@dataclass
class Ack:
    envelope_id: str
    payload: dict | None
    connection: int
    at: float


class _Client:
    """One WebSocket connection from the bot."""

    def __init__(self, sock: socket.socket, number: int):
        self.sock = sock
        self.number = number
        self.open = True
        self._send_lock = threading.Lock()

    def send(self, opcode: int, data: bytes) -> None:
        header = bytes([0x80 | opcode])
        size = len(data)
        if size < 126:
            header += bytes([size])
        elif size < 2**16:
            header += bytes([126]) + struct.pack("!H", size)
        else:
            header += bytes([127]) + struct.pack("!Q", size)
        with self._send_lock:
            self.sock.sendall(header + data)

    def send_json(self, message: dict) -> None:
        self.send(OP_TEXT, json.dumps(message).encode())

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        opcode, masked, size = first & 0x0F, second & 0x80, second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if masked else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(size)))
        return opcode, data

    def _read(self, n: int) -> bytes:
        chunks = b""
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError("closed by the client")
            chunks += chunk
        return chunks

    def close(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class SocketModeStub:
    """Accepts the bot's WebSocket connections, sends it envelopes, records its acknowledgements."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._cond = threading.Condition()
        self._clients: list[_Client] = []
        self.acks: list[Ack] = []
        self.client_closes = 0  # close frames the bot sent (a clean goodbye)
        self._running = True
        threading.Thread(target=self._accept_loop, name="socket-mode-stub", daemon=True).start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def url(self) -> str:
        """What apps.connections.open hands out: a fresh ticket each time, as Slack does."""
        return f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}&app_id={API_APP_ID}"

    # ---- observation ----------------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections opened so far (the bot's reconnects count)."""
        with self._cond:
            return len(self._clients)

    def open_connections(self) -> int:
        with self._cond:
            return sum(1 for c in self._clients if c.open)

    def wait_for_connections(self, n: int, timeout: float = 30) -> None:
        self._wait(lambda: len(self._clients) >= n and self._clients[-1].open, timeout, f"{n} connections")

    def wait_for_ack(self, envelope_id: str, timeout: float = 30) -> Ack:
        self._wait(lambda: any(a.envelope_id == envelope_id for a in self.acks), timeout, f"ack of {envelope_id}")
        with self._cond:
            return next(a for a in self.acks if a.envelope_id == envelope_id)

    def acks_of(self, envelope_id: str) -> list[Ack]:
        with self._cond:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def wait_until_closed(self, timeout: float = 30) -> None:
        self._wait(lambda: all(not c.open for c in self._clients), timeout, "every connection closed")

    def _wait(self, condition, timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise AssertionError(f"waited {timeout}s for {what}; connections {len(self._clients)},"
                                     f" acks {[a.envelope_id for a in self.acks]}")

    # ---- sending --------------------------------------------------------------------------------------

    def send_envelope(self, kind: str, payload: dict, *, envelope_id: str | None = None,
                      retry_attempt: int = 0, retry_reason: str = "") -> str:
        """Send one envelope on the newest open connection; returns its envelope_id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        message = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                   "accepts_response_payload": kind != "events_api"}
        if kind == "events_api":
            message.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        self._current().send_json(message)
        return envelope_id

    def send_slash_command(self, text: str, *, response_url: str, user_id: str = "U123",
                           channel_id: str = "C123", trigger_id: str | None = None) -> str:
        return self.send_envelope("slash_commands", {
            "token": "unused", "team_id": "T1", "team_domain": "acme", "channel_id": channel_id,
            "channel_name": "privacy-ops", "user_id": user_id, "user_name": "ada", "command": "/deletion-jobs",
            "text": text, "api_app_id": API_APP_ID, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": trigger_id or new_trigger_id(),
        })

    def send_click(self, action_id: str, value: str, *, response_url: str, user_id: str = "U123",
                   channel_id: str = "C123") -> str:
        return self.send_envelope("interactive", {
            "type": "block_actions", "user": {"id": user_id, "username": "ada", "team_id": "T1"},
            "api_app_id": API_APP_ID, "token": "unused", "trigger_id": new_trigger_id(),
            "container": {"type": "message", "message_ts": f"{time.time():.6f}", "channel_id": channel_id,
                          "is_ephemeral": True},
            "team": {"id": "T1", "domain": "acme"}, "channel": {"id": channel_id, "name": "privacy-ops"},
            "response_url": response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        })

    def send_event(self, event: dict, *, event_id: str, retry_attempt: int = 0) -> str:
        return self.send_envelope("events_api", {
            "token": "unused", "team_id": "T1", "api_app_id": API_APP_ID, "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
        }, retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")

    def refresh(self, *, warn: bool = True, grace: float = 2.0) -> None:
        """What Slack does every few hours: a `disconnect` message (`warn`), then, `grace` s later, the close."""
        client = self._current()
        if warn:
            client.send_json({"type": "disconnect", "reason": "refresh_requested",
                              "debug_info": {"host": "applink-stub"}})
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self._newest() is client:
                time.sleep(0.02)
        with contextlib.suppress(OSError):
            client.send(OP_CLOSE, struct.pack("!H", 1001))
        client.close()
        with self._cond:
            self._cond.notify_all()

    def _current(self) -> _Client:
        client = self._newest()
        if client is None:
            raise AssertionError("the bot has no open Socket Mode connection")
        return client

    def _newest(self) -> _Client | None:
        with self._cond:
            open_clients = [c for c in self._clients if c.open]
            return open_clients[-1] if open_clients else None

    # ---- serving --------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while self._running:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), name="socket-mode-conn", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._handshake(sock)
        except (OSError, ValueError):
            sock.close()
            return
        with self._cond:
            client = _Client(sock, len(self._clients) + 1)
            self._clients.append(client)
            self._cond.notify_all()
        client.send_json({"type": "hello", "num_connections": self.open_connections(),
                          "debug_info": {"host": "applink-stub", "approximate_connection_time": 18060},
                          "connection_info": {"app_id": API_APP_ID}})
        try:
            self._read_loop(client)
        except (OSError, ConnectionError):
            pass
        finally:
            client.close()
            with self._cond:
                self._cond.notify_all()

    @staticmethod
    def _handshake(sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(4096)
            if not chunk:
                raise ValueError("no handshake")
            request += chunk
        headers = {}
        for line in request.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + _GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())

    def _read_loop(self, client: _Client) -> None:
        while client.open:
            opcode, data = client.read_frame()
            if opcode == OP_PING:
                client.send(OP_PONG, data)
            elif opcode == OP_CLOSE:
                with self._cond:
                    self.client_closes += 1
                with contextlib.suppress(OSError):
                    client.send(OP_CLOSE, data[:2])
                return
            elif opcode == OP_TEXT:
                self._record(client, data)

    def _record(self, client: _Client, data: bytes) -> None:
        with contextlib.suppress(ValueError):
            message = json.loads(data)
            if isinstance(message, dict) and message.get("envelope_id"):
                with self._cond:
                    self.acks.append(Ack(message["envelope_id"], message.get("payload"), client.number,
                                         time.monotonic()))
                    self._cond.notify_all()

    def stop(self) -> None:
        self._running = False
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            client.close()

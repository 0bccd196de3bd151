"""Socket Mode: the bot's WebSocket to Slack (slack_sdk's built-in client, which needs no WebSocket library).

Slack sends each command, click and event as an envelope; the handler acknowledges it on the socket by
`envelope_id` once the listener has called ack() and returned, and the answer goes to the response_url as over
HTTP. Slack replaces a connection every few hours (a `disconnect` message, then the close): the client opens a
new one first and goes on. On SIGTERM the bot says goodbye with a WebSocket close frame, without reconnecting,
and then finishes the answers it has already acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import time

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_bolt.request import BoltRequest

from services.background import RELEASED_AFTER_RESPONSE, release_handoff

logger = logging.getLogger("deletion_jobs.socket_mode")

# RFC 6455 close code 1000: a normal closure.
_NORMAL_CLOSURE = b"\x03\xe8"
# How long to wait for Slack's answering close frame before closing the connection anyway.
CLOSE_WAIT_SECONDS = 3.0


class MeteredSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, timing each acknowledgement into deletion_jobs_ack_seconds.

    As over HTTP, the app acknowledges inline (app_factory.InlineAckApp) and the listener's work is held until
    the acknowledgement has been sent on the socket, so it never delays the ack.
    """

    def __init__(self, app, app_token: str, *, metrics=None):
        super().__init__(app, app_token)
        self._metrics = metrics

    def handle(self, client, req) -> None:
        started = time.perf_counter()
        request = BoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))
        request.context[RELEASED_AFTER_RESPONSE] = True
        try:
            send_response(client, req, self.app.dispatch(request), started)
            if self._metrics is not None:
                self._metrics.ack(time.perf_counter() - started)
        finally:
            release_handoff(request.context)


def close_cleanly(handler: SocketModeHandler) -> None:
    """Stop reconnecting, send a WebSocket close frame, then close the connection and the client's threads."""
    from slack_sdk.socket_mode.builtin.frame_header import FrameHeader
    from slack_sdk.socket_mode.builtin.internals import _build_data_frame_for_sending

    client = handler.client
    client.auto_reconnect_enabled = False
    session = client.current_session
    if session is not None and session.sock is not None:
        with contextlib.suppress(OSError), session.sock_send_lock:
            session.sock.send(_build_data_frame_for_sending(_NORMAL_CLOSURE, FrameHeader.OPCODE_CLOSE))
        # Slack answers with its own close frame, on which the client's reader closes the socket. Closing it here
        # at the same moment races that reader inside slack_sdk (`sock.close()` on a socket it has just set to None).
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        while session.sock is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    handler.close()
    logger.info("Socket Mode connection closed")

"""Socket Mode acknowledges as HTTP does: inline, and the listener's work starts once the ack is on the socket."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from slack_sdk.socket_mode.request import SocketModeRequest

from runtime.socket_mode import MeteredSocketModeHandler


def test_the_work_is_released_only_after_the_ack_is_sent(dispatch_bot, slack, monkeypatch):
    bot = dispatch_bot()
    handler = MeteredSocketModeHandler(bot.app, "xapp-1-unit", metrics=bot.services.metrics)
    order = []
    submit = bot.services.background.submit
    monkeypatch.setattr(bot.services.background, "submit",
                        lambda fn, *a, **k: order.append("work") or submit(fn, *a, **k))
    client = SimpleNamespace(send_socket_mode_response=lambda response: order.append(("ack", response.envelope_id)),
                             logger=logging.getLogger("unit.socket_mode"))
    payload = {"command": "/deletion-jobs", "text": "help", "team_id": "T1", "user_id": "U123",
               "channel_id": "C123", "response_url": slack.response_url("socket"), "trigger_id": "1.2.socket"}
    try:
        handler.handle(client, SocketModeRequest(type="slash_commands", envelope_id="env-1", payload=payload))
    finally:
        handler.client.close()
    assert order == [("ack", "env-1"), "work"]
    assert slack.wait_for_responses(1, key="socket")[0]["text"]

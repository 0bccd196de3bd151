"""RunningBot: the real Bolt app served over HTTP on loopback, driven by signed requests like Slack's.

Used by the end-to-end tests, the console demo and the benchmarks, so all three drive the bot the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from devtools.slack_requests import (
    FORM,
    JSON,
    app_home_opened_event,
    block_action_body,
    event_callback_body,
    post,
    retry_headers,
    sign,
    slash_command_body,
    view_action_body,
)


@dataclass
class Ack:
    status: int
    body: str
    seconds: float
    response_key: str


@dataclass
class RunningBot:
    settings: object
    services: object
    app: object
    server: object
    slack: object
    emulator: object
    signing_secret: str
    _keys: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://127.0.0.1:{port}"

    @property
    def events_url(self) -> str:
        return self.url + "/slack/events"

    def _key(self) -> str:
        key = f"r{len(self._keys)}-{threading.get_ident()}-{id(self)}"
        self._keys.append(key)
        return key

    def send(self, body: str, *, secret: str | None = None, timestamp: int | None = None, content_type: str = FORM,
             headers: dict[str, str] | None = None) -> tuple[int, str, float]:
        """POST a body signed as Slack signs it (a form by default; events are JSON), with any `headers` added."""
        signed = sign(secret or self.signing_secret, body, timestamp, content_type=content_type)
        return post(self.events_url, body, {**signed, **(headers or {})})

    def command(self, text: str, *, user_id: str = "U123", channel_id: str = "C123", **kwargs) -> Ack:
        key = self._key()
        body = slash_command_body(
            text, user_id=user_id, channel_id=channel_id, response_url=self.slack.response_url(key), **kwargs
        )
        status, answer, seconds = self.send(body)
        return Ack(status, answer, seconds, key)

    def click(self, action_id: str, value: str, *, user_id: str = "U123", channel_id: str = "C123") -> Ack:
        key = self._key()
        body = block_action_body(
            action_id=action_id, value=value, user_id=user_id, channel_id=channel_id,
            response_url=self.slack.response_url(key),
        )
        status, answer, seconds = self.send(body)
        return Ack(status, answer, seconds, key)

    def send_event(self, event: dict, *, event_id: str | None = None,
                   retry_num: int | None = None) -> tuple[int, str, float]:
        """Deliver an Events API callback as Slack does (JSON, signed); `retry_num` adds Slack's retry headers."""
        body = event_callback_body(event, event_id=event_id)
        return self.send(body, content_type=JSON, headers=retry_headers(retry_num) if retry_num is not None else None)

    def home(self, user_id: str = "U123", *, timeout: float = 30) -> dict:
        """Open the app's Home tab as `user_id`: the view the bot then publishes for them."""
        before = len(self.slack.views(user_id=user_id))
        status, body, _ = self.send_event(app_home_opened_event(user_id))
        assert status == 200, (status, body)
        return self.slack.wait_for_views(before + 1, user_id=user_id, timeout=timeout)[-1]

    def click_view(self, action_id: str, value: str, *, user_id: str = "U123",
                   view_type: str = "home") -> tuple[int, str, float]:
        """Press a button on a view (the Home tab): the bot answers through views.*, not a response_url."""
        return self.send(view_action_body(action_id=action_id, value=value, user_id=user_id, view_type=view_type))

    def answer(self, ack: Ack, timeout: float = 30) -> dict:
        """The message posted to that request's response_url."""
        assert ack.status == 200, (ack.status, ack.body)
        return self.slack.wait_for_responses(1, key=ack.response_key, timeout=timeout)[0]

    def ask(self, text: str, **kwargs) -> dict:
        return self.answer(self.command(text, **kwargs))

    def press(self, message: dict, label: str = "Next page", **kwargs) -> dict:
        element = find_button(message, label)
        assert element is not None, f"no {label!r} button in {message}"
        return self.answer(self.click(element["action_id"], element["value"], **kwargs))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.services.background.shutdown(wait=True)


def find_button(message: dict, label: str) -> dict | None:
    for block in message.get("blocks", []):
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]
        for element in elements:
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element
    return None


def job_arns(message: dict) -> list[str]:
    """The job ARNs a list page shows, in order (from each job's context line)."""
    arns = []
    for block in message.get("blocks", []):
        if block["type"] == "context":
            text = block["elements"][0]["text"]
            if ":data-deletion-job/" in text:
                arns.append(text)
    return arns


def footer(message: dict) -> str:
    """The page's footer line ("Page 2 · jobs 11–20")."""
    contexts = [b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"]
    return [text for text in contexts if ":data-deletion-job/" not in text][-1]


def walk(bot: RunningBot, text: str, *, max_pages: int = 500) -> tuple[list[str], list[dict]]:
    """Run a command and press Next/Continue to the end; every job ARN shown, and every message."""
    message = bot.ask(text)
    messages = [message]
    while len(messages) < max_pages:
        button = find_button(message, "Next page") or find_button(message, "Continue")
        if button is None:
            break
        message = bot.answer(bot.click(button["action_id"], button["value"]))
        messages.append(message)
    return [arn for m in messages for arn in job_arns(m)], messages


def start_bot(settings, *, slack, emulator) -> RunningBot:
    """Build the bot exactly as every entry point does (app_factory) and serve it on a free loopback port."""
    from app_factory import build_app, build_services
    from web import create_wsgi_app, make_http_server

    services = build_services(settings)
    app = build_app(settings, services)
    wsgi_app = create_wsgi_app(app, settings.slack_signing_secret.get_secret_value(), metrics=services.metrics)
    server = make_http_server(wsgi_app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True, name="bot-http").start()
    return RunningBot(settings, services, app, server, slack, emulator,
                      settings.slack_signing_secret.get_secret_value())

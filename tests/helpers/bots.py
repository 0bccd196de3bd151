"""The bot as the tests drive it: over HTTP (`start_bot`, from devtools, shared with the demo and the benchmarks) or
in process (`start_in_process_bot`), in the style of bolt-python's own scenario tests.

Both build the real bot with `app_factory` and sign every request as Slack does; both have the same methods
(`command`, `click`, `ask`, `press`, `answer`), so a test reads the same either way. In process, a request is a
`BoltRequest` handed to `app.dispatch` on the test's thread: no socket to the bot. The bot's answers still go
where Slack's would, to the Slack stub's response URLs (and Web API calls to its `/api/`), and AWS is the
Personalize emulator; both are local HTTP servers on loopback, which the tests inspect afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from slack_bolt.request import BoltRequest

from devtools.running_bot import Ack, RunningBot, find_button, footer, job_arns, start_bot, walk
from devtools.slack_requests import FORM, sign

__all__ = ["Ack", "InProcessBot", "RunningBot", "find_button", "footer", "job_arns", "start_bot",
           "start_in_process_bot", "walk"]


@dataclass
class InProcessBot(RunningBot):
    """A RunningBot without an HTTP server: `send` signs the body and dispatches it through the Bolt app.

    `app.dispatch` returns the ack (the app acknowledges inline, app_factory.InlineAckApp) and, as it returns,
    releases the work the listener handed over; the answer is then posted from the bot's background pool, so
    tests wait for it on the Slack stub (bounded).
    """

    def send(self, body: str, *, secret: str | None = None, timestamp: int | None = None, content_type: str = FORM,
             headers: dict[str, str] | None = None) -> tuple[int, str, float]:
        headers = {**sign(secret or self.signing_secret, body, timestamp, content_type=content_type), **(headers or {})}
        started = time.perf_counter()
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        return response.status, response.body, time.perf_counter() - started

    @property
    def url(self) -> str:
        raise AttributeError("an in-process bot has no URL: use send(), command() or click()")

    def stop(self) -> None:
        self.services.background.shutdown(wait=True)


def start_in_process_bot(settings, *, slack, emulator) -> InProcessBot:
    """Build the bot exactly as every entry point does (app_factory), and serve nothing."""
    from app_factory import build_app, build_services

    services = build_services(settings)
    app = build_app(settings, services)
    return InProcessBot(settings, services, app, None, slack, emulator,
                        settings.slack_signing_secret.get_secret_value())

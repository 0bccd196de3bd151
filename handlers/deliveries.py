"""Each Slack request processed once: a later copy of a command, click or event is acknowledged and its work dropped.

A global middleware, so it covers every listener, today's and those added later, over HTTP and Socket Mode
alike. It runs after Bolt's own signature check and decides nothing itself: it sets the request's Handoff gate,
so the check (a database write, services.slack.dedupe) runs on the background pool before the work, never on the
path that acknowledges Slack.
"""

from __future__ import annotations

from services.background import HANDOFF


def register(app, dedupe) -> None:
    @app.middleware
    def process_once(body, request, context, next):  # noqa: A002 - Bolt passes the chain as `next`
        retry_num = (request.headers.get("x-slack-retry-num") or [None])[0]
        context[HANDOFF].gate(lambda: dedupe.first_copy(body, retry_num=retry_num))
        next()

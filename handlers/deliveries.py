"""Each Slack request processed once: a later copy of a command, click or event is acknowledged and dropped.

A global middleware, so it covers every listener, today's and those added later, over HTTP and Socket Mode
alike. It runs after Bolt's own signature check; the decision is services.slack.dedupe's.
"""

from __future__ import annotations

from slack_bolt import BoltResponse


def register(app, dedupe) -> None:
    @app.middleware
    def process_once(body, request, next):  # noqa: A002 - Bolt passes the chain as `next`
        retry_num = (request.headers.get("x-slack-retry-num") or [None])[0]
        if not dedupe.first_copy(body, retry_num=retry_num):
            # An empty 200 (over Socket Mode, an ack of the envelope): Slack stops retrying, nothing runs again.
            return BoltResponse(status=200, body="")
        next()

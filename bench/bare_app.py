"""The baseline for ack latency: a Bolt app whose only listener calls ack(), served like the real bot."""

from __future__ import annotations


def create_app():
    from slack_bolt import App

    from app_factory import build_web_client
    from config import load_settings
    from web import create_asgi_app, create_wsgi_app

    settings = load_settings()
    # The same client as the bot's (SLACK_API_URL): Bolt calls auth.test on the first request.
    app = App(signing_secret=settings.slack_signing_secret.get_secret_value(),
              client=build_web_client(settings), token_verification_enabled=False)

    @app.command("/deletion-jobs")
    def only_ack(ack):
        ack()

    # Served exactly as the bot is (gunicorn.conf.py's asgi worker), so the two latencies compare.
    return create_asgi_app(create_wsgi_app(app, settings.slack_signing_secret.get_secret_value()))

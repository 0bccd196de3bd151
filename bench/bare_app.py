"""The baseline for ack latency: a Bolt app whose only listener calls ack(), served like the real bot."""

from __future__ import annotations


def create_app():
    from slack_bolt import App

    from config import load_settings
    from web import create_wsgi_app

    settings = load_settings()
    app = App(signing_secret=settings.slack_signing_secret.get_secret_value(),
              token=settings.slack_bot_token.get_secret_value(), token_verification_enabled=False)

    @app.command("/deletion-jobs")
    def only_ack(ack):
        ack()

    return create_wsgi_app(app)

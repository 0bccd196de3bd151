"""Slack listeners. Each kind registers itself on the app; `register(app, services)` wires them all."""

from __future__ import annotations

from handlers import actions, commands, events, home


def register(app, services) -> None:
    @app.middleware
    def inject_services(context, next):  # noqa: A002 - Bolt passes the chain as `next`
        context["services"] = services
        next()

    commands.register(app)
    # Before actions: a Details click on the Home tab is answered in a modal, not through a response_url.
    home.register(app)
    actions.register(app)
    events.register(app)

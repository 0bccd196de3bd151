"""Slack listeners. Each kind registers itself on the app; `register(app, services)` wires them all."""

from __future__ import annotations

from handlers import actions, commands, deliveries, events, home, watches


def register(app, services) -> None:
    if services.dedupe is not None:
        deliveries.register(app, services.dedupe)

    @app.middleware
    def inject_services(context, next):  # noqa: A002 - Bolt passes the chain as `next`
        context["services"] = services
        next()

    commands.register(app)
    # Before actions and watches: on the Home tab, Details opens a modal and Unwatch publishes Home again.
    home.register(app)
    actions.register(app)
    events.register(app)
    watches.register(app)

"""Slack listeners. Each kind registers itself on the app; `register(app, services)` wires them all."""

from __future__ import annotations

from handlers import actions, commands, deliveries, events, failures, home, watches
from services.background import HANDOFF, Handoff


def register(app, services) -> None:
    @app.middleware
    def inject_services(context, next):  # noqa: A002 - Bolt passes the chain as `next`
        context["services"] = services
        # The request's background work, held until the acknowledgement is written (services/background.py).
        context[HANDOFF] = Handoff(services.background)
        next()

    if services.dedupe is not None:
        deliveries.register(app, services.dedupe)
    app.error(failures.answer_listener_error)
    commands.register(app)
    # Before actions and watches: on the Home tab, Details opens a modal and Unwatch publishes Home again.
    home.register(app)
    actions.register(app)
    events.register(app)
    watches.register(app)

"""How a listener hands its slow half over: to the request's Handoff (services/background.py), which starts it
once the acknowledgement is on the wire."""

from __future__ import annotations

from services.background import HANDOFF


def hand_off(context, fn, /, *args, **kwargs) -> None:
    """The app's first middleware (handlers.register) gives every request its Handoff, beside the services."""
    context[HANDOFF].submit(fn, *args, **kwargs)

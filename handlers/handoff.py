"""How a listener hands its slow half over: to the request's Handoff (services/background.py), which starts it
once the acknowledgement is on the wire."""

from __future__ import annotations

from services.background import HANDOFF


def hand_off(context, fn, /, *args, **kwargs) -> None:
    handoff = context.get(HANDOFF)
    if handoff is None:  # a context that did not pass the app's middleware: nothing holds the work back
        context["services"].background.submit(fn, *args, **kwargs)
        return
    handoff.submit(fn, *args, **kwargs)

"""`/deletion-jobs digest …`: runs the digest command (services/digest/commands.py) and renders what it did with
`blocks/digest_answers.py`. Called by `handlers.commands` on the background pool, after the ack."""

from __future__ import annotations

from blocks.digest_answers import render_digest_now, render_subscribed, render_subscription_list, render_unsubscribed
from handlers.requests import Requester
from services.digest.commands import DigestCommands
from services.digest.results import DigestAnswer, Subscribed, SubscriptionList, Unsubscribed
from services.listing.command_parser import DigestCommand


def answer_digest(commands: DigestCommands, parsed: DigestCommand, requester: Requester) -> dict:
    """The answer message; the command's errors (BotError) are raised for the caller's failure answer."""
    return render_answer(commands.handle(parsed, channel_id=requester.channel_id, user_id=requester.user_id))


def render_answer(result: DigestAnswer) -> dict:
    if isinstance(result, Subscribed):
        return render_subscribed(result.subscription, created=result.created, schedule_text=result.schedule_text,
                                 next_run=result.next_run, note=result.note)
    if isinstance(result, Unsubscribed):
        return render_unsubscribed(result.channel_id, result.removed, still_configured=result.still_configured)
    if isinstance(result, SubscriptionList):
        return render_subscription_list(result.subscriptions, result.schedule_of)
    return render_digest_now(result.channel_id, reported=result.reported, messages=result.messages,
                             since=result.since, posted_empty=result.posted_empty)

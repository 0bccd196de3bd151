"""One digest now (`python bot.py digest`), stopped cleanly by SIGTERM or Ctrl-C.

`bot.py` builds the services and hands them here; nothing in this module reads the environment.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from services.storage.store import CHECK_DATABASE_URL, database_reason

logger = logging.getLogger("deletion_jobs.digest")

EXIT_OK = 0
EXIT_POST_FAILED = 1
EXIT_USAGE = 2


@contextmanager
def stop_digest_on_signals(digest) -> Iterator[None]:
    """While the block runs, SIGTERM (or Ctrl-C) asks the digest to stop at its next safe point instead of killing
    it: the post in flight is finished and recorded, the rest released. A second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        logger.warning("%s received: finishing the post in flight, releasing the rest, then stopping",
                       signal.Signals(signum).name)
        digest.request_stop()
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def run_digest_once(digest, *, channel: str | None = None, dry_run: bool = False,
                    out: TextIO | None = None, err: TextIO | None = None) -> int:
    """One digest for every subscription (or one channel's). 0 when every post went through, 1 otherwise
    (including a run stopped by SIGTERM: what it did not post is released for the next run)."""
    with stop_digest_on_signals(digest):
        return _run_digest_once(digest, channel=channel, dry_run=dry_run, out=out, err=err)


def _run_digest_once(digest, *, channel: str | None, dry_run: bool, out: TextIO | None, err: TextIO | None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if not dry_run and not digest.apply_configured_channels():
        return EXIT_POST_FAILED
    channels = None
    if channel is not None:
        try:
            known = digest.subscriptions.get(channel) is not None or channel in digest.configured_channels
        except SQLAlchemyError as problem:
            logger.error("could not read the digest subscriptions: the database does not answer (%s). To fix: %s.",
                         database_reason(problem), CHECK_DATABASE_URL)
            return EXIT_POST_FAILED
        if not known:
            print(f"{channel} has no digest subscription: add it to DIGEST_CHANNELS, or run"
                  " `/deletion-jobs digest subscribe` in that channel.", file=err)
            return EXIT_USAGE
        channels = [channel]
    run = digest.run(channels, dry_run=dry_run)
    if run.error:
        print(f"digest run FAILED ({run.error}): {run.fix}", file=err)
    if dry_run:
        print(json.dumps(dry_run_report(run), indent=2, ensure_ascii=False), file=out)
    else:
        for outcome in run.outcomes:
            if outcome.ok:
                print(f"{outcome.channel_id}: posted {outcome.reported} failed deletion job(s) in"
                      f" {outcome.messages_posted} message(s)", file=out)
            else:
                print(f"{outcome.channel_id}: FAILED ({outcome.error}): {outcome.fix}", file=err)
    return EXIT_OK if run.ok else EXIT_POST_FAILED


def dry_run_report(run) -> dict:
    return {
        "dry_run": True,
        "list_calls": run.list_calls,
        "channels": [
            {
                "channel": o.channel_id,
                "dataset_group": o.dataset_group_arn,
                "since": o.window.since.isoformat() if o.window else None,
                "until": o.window.until.isoformat() if o.window else None,
                "failures": o.found,
                "error": o.error,
                "messages": o.messages,
            }
            for o in run.outcomes
        ],
    }

"""One digest now (`python bot.py digest`), and the DIGEST_CHANNELS sync every digest process starts with.

`bot.py` builds the services and hands them here; nothing in this module reads the environment.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from services.digest.service import database_reason
from services.errors import AwsError
from services.storage.store import CHECK_DATABASE_URL

logger = logging.getLogger("deletion_jobs.digest")

EXIT_OK = 0
EXIT_POST_FAILED = 1
EXIT_USAGE = 2


def sync_configured_channels(digest) -> bool:
    """DIGEST_CHANNELS → stored subscriptions. False (logged) when AWS or the database did not answer."""
    try:
        digest.sync_configured_channels()
    except AwsError as err:
        logger.error("could not resolve DIGEST_DATASET_GROUP through AWS (%s); DIGEST_CHANNELS were not synced",
                     type(err).__name__)
        return False
    except SQLAlchemyError as err:
        logger.error("could not store DIGEST_CHANNELS: the database does not answer (%s). To fix: %s.",
                     database_reason(err), CHECK_DATABASE_URL)
        return False
    return True


def run_digest_once(digest, *, channel: str | None = None, dry_run: bool = False,
                    out: TextIO | None = None, err: TextIO | None = None) -> int:
    """One digest for every subscription (or one channel's). 0 when every post went through, 1 otherwise."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not dry_run and not sync_configured_channels(digest):
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

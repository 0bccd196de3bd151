"""Start-up failures the operator must fix, reported the same way by every entry point (`bot.py`, `web.py`).

Bad settings (`config.SettingsError`, and digest settings that pass validation but cannot be used) and a
database that does not answer end in one readable message, never a traceback, and a `StartupFailed` carrying
the exit code the command line returns (gunicorn's factory uses its own).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from config import SettingsError
from services.errors import DigestSettingInvalid, StateStoreUnavailable
from services.storage.store import CHECK_DATABASE_URL

logger = logging.getLogger("deletion_jobs.startup")

EXIT_SETTINGS = 2
EXIT_DATABASE = 3


class StartupFailed(Exception):
    """Start-up stopped on an error already reported; `exit_code` says which kind."""

    def __init__(self, exit_code: int):
        super().__init__(exit_code)
        self.exit_code = exit_code


@contextlib.contextmanager
def startup_errors_reported() -> Iterator[None]:
    """Within: a settings or database error is reported (stderr, or the log) and raised as StartupFailed."""
    try:
        yield
    except (SettingsError, DigestSettingInvalid) as err:
        # DIGEST_SCHEDULE or DIGEST_DATASET_GROUP that cannot be used are found when the digest is built.
        print(err, file=sys.stderr)
        raise StartupFailed(EXIT_SETTINGS) from None
    except StateStoreUnavailable as err:
        logger.error("deletion-jobs bot cannot start: %s. To fix: %s.", err, CHECK_DATABASE_URL)
        raise StartupFailed(EXIT_DATABASE) from None

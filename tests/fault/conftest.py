"""The fault suite reuses the end-to-end fixtures: emulator, Slack stub, the running bot, gunicorn as the Procfile
runs it, and the bot's own logging set-up at a chosen level (configure_logging, redaction included)."""

from tests.e2e.conftest import emulator, run_bot, slack  # noqa: F401 - pytest fixtures
from tests.e2e.test_audit_and_secrets import bot_logging  # noqa: F401 - a pytest fixture
from tests.e2e.test_gunicorn import start_gunicorn  # noqa: F401 - a pytest fixture

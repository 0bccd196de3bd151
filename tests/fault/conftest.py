"""The fault suite reuses the end-to-end fixtures: emulator, Slack stub, the running bot, and the bot's own
logging set-up at a chosen level (configure_logging, redaction included) as the secrets tests use it."""

from tests.e2e.conftest import emulator, run_bot, slack  # noqa: F401 - pytest fixtures
from tests.e2e.test_audit_and_secrets import bot_logging  # noqa: F401 - a pytest fixture

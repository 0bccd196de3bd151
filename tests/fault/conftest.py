"""The fault suite reuses the end-to-end fixtures: emulator, Slack stub, and the running bot."""

from tests.e2e.conftest import emulator, run_bot, slack  # noqa: F401 - pytest fixtures

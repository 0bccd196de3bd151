"""The test suite's Slack secrets: made up, used by every settings object and every signed request in the tests."""

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token-0123456789"

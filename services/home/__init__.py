"""The bot's Home tab: a shared, refreshed read of the account (snapshot), each person's view of it (view_model),
and publishing it to Slack (service)."""

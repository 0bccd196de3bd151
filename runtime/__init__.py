"""The bot's processes: serving Slack, the scheduler, one digest run."""

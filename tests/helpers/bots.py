"""The end-to-end tests drive the bot through `devtools.running_bot`, shared with the demo and the benchmarks."""

from devtools.running_bot import Ack, RunningBot, find_button, footer, job_arns, start_bot, walk

__all__ = ["Ack", "RunningBot", "find_button", "footer", "job_arns", "start_bot", "walk"]

"""Local stand-ins for Amazon Personalize and Slack, used by tests, the demo and benchmarks."""

"""Prometheus metrics: what the bot counts and times, and the text `GET /metrics` serves.

No label carries a user, channel, job, dataset group or message: labels are the command kind, the button's
action id (a fixed set), the Personalize operation, and an outcome from a fixed list.

Under gunicorn every worker is a process of its own: gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the workers start, prometheus_client then writes each worker's values to files there, and
`exposition()` adds them up, so a scrape that reaches any worker counts them all (prometheus_client's
multiprocess mode; its `child_exit` hook is in gunicorn.conf.py). Outside gunicorn the values live in this
object's own registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services import errors

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "deletion_jobs"

# Acks are milliseconds; Slack's limit is 3 s.
ACK_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
# One HTTP exchange with Personalize, retries included: up to the 20 s request deadline.
AWS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)

# AWS failures by kind: the outcome label of deletion_jobs_aws_calls_total.
_AWS_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (errors.AwsThrottled, "throttled"),
    (errors.AwsTimeout, "timeout"),
    (errors.AwsUnreachable, "unreachable"),
    (errors.AwsAccessDenied, "access_denied"),
    (errors.AwsCredentialsError, "credentials"),
    (errors.AwsInvalidInput, "invalid_input"),
    (errors.AwsResourceNotFound, "not_found"),
    (errors.AwsMalformedResponse, "malformed"),
    (errors.AwsServiceError, "service_error"),
    (errors.ListExpired, "invalid_token"),
)
AUDIT_OUTCOMES = ("ok", "refused", "user_error", "error")


def aws_outcome(err: BaseException | None) -> str:
    if err is None:
        return "ok"
    for kind, label in _AWS_OUTCOMES:
        if isinstance(err, kind):
            return label
    return "error"


def multiprocess_mode() -> bool:
    """True when prometheus_client writes values to PROMETHEUS_MULTIPROC_DIR (it decides at import time)."""
    return _values.ValueClass is not _values.MutexValue


class Metrics:
    """The bot's metrics on a registry of their own (one per process, or per test)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(f"{PREFIX}_commands_total", "/deletion-jobs commands handled, by kind and outcome",
                                ["command", "outcome"], registry=r)
        self.clicks = Counter(f"{PREFIX}_clicks_total", "Button clicks handled, by action and outcome",
                              ["action", "outcome"], registry=r)
        self.aws_calls = Counter(f"{PREFIX}_aws_calls_total", "Personalize calls, by operation and outcome",
                                 ["operation", "outcome"], registry=r)
        self.aws_seconds = Histogram(f"{PREFIX}_aws_call_seconds", "Personalize call time, retries included",
                                     ["operation"], buckets=AWS_BUCKETS, registry=r)
        self.ack_seconds = Histogram(f"{PREFIX}_ack_seconds", "Time to acknowledge a Slack request",
                                     buckets=ACK_BUCKETS, registry=r)
        self.digest_posts = Counter(f"{PREFIX}_digest_posts_total", "Digest messages posted or not, by outcome",
                                    ["outcome"], registry=r)
        self.watch_notifications = Counter(f"{PREFIX}_watch_notifications_total",
                                           "Watch notifications sent or not, by outcome", ["outcome"], registry=r)
        self.duplicates = Counter(f"{PREFIX}_duplicate_deliveries_total",
                                  "Repeated deliveries of a Slack request acknowledged and not processed again",
                                  ["kind"], registry=r)
        # "liveall": under gunicorn each worker's value is shown with its pid, and a dead worker's is dropped.
        self.scheduler_leader = Gauge(f"{PREFIX}_scheduler_leader",
                                      "1 while this process's scheduler holds the lease and runs the jobs",
                                      registry=r, multiprocess_mode="liveall")

    # -- recording ------------------------------------------------------------------------------------

    def command(self, command: str, outcome: str) -> None:
        self.commands.labels(command=command, outcome=outcome).inc()

    def click(self, action: str, outcome: str) -> None:
        self.clicks.labels(action=action, outcome=outcome).inc()

    def aws_call(self, operation: str, seconds: float, err: BaseException | None = None) -> None:
        self.aws_calls.labels(operation=operation, outcome=aws_outcome(err)).inc()
        self.aws_seconds.labels(operation=operation).observe(seconds)

    def ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    def digest_post(self, outcome: str, count: int = 1) -> None:
        if count:
            self.digest_posts.labels(outcome=outcome).inc(count)

    def watch_notification(self, outcome: str) -> None:
        self.watch_notifications.labels(outcome=outcome).inc()

    def duplicate_delivery(self, kind: str) -> None:
        self.duplicates.labels(kind=kind).inc()

    def leading(self, leads: bool) -> None:
        self.scheduler_leader.set(1 if leads else 0)

    # -- serving --------------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format: every gunicorn worker's values in multiprocess mode, else this registry's."""
        if multiprocess_mode():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0"):
    """METRICS_PORT for a process with no HTTP server of its own (the scheduler, Socket Mode): GET /metrics.

    Returns (server, thread); `server.shutdown()` stops it."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=metrics.registry)

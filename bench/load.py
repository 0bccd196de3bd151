"""The load run of issue 14 (`python -m bench --only load`): 1,000 commands and clicks over 60 s against the
Procfile's web with two workers, every AWS call taking 300 ms, 10 % of them throttled and 1 % failing with a 500.

Requests go out on a fixed schedule (open loop: a slow answer does not slow the sender down), each with its own
response_url. Afterwards every request must have exactly one answer: a page, or the clear throttling answer when
AWS throttled every attempt of a call. The bench's own ack latencies are shown beside the histogram the bot
exposes at /metrics.
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from devtools.running_bot import find_button, job_arns
from devtools.slack_requests import block_action_body, post, sign, slash_command_body

THROTTLED = "AWS is throttling requests right now"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_load(server, emulator, slack, secret: str, *, total: int = 1000, seconds: float = 60.0,
             click_share: float = 0.3) -> list[tuple[str, str, str]]:
    button = _next_button(server, slack, secret)
    emulator.latency = 0.3
    emulator.random_faults(throttle=0.10, server_error=0.01, seed=14)
    try:
        acks = _send_all(server.events_url, slack, secret, button, total, seconds, click_share)
        answers = _collect_answers(slack, [key for key, _, _ in acks])
    finally:
        emulator.random_faults()
        emulator.latency = 0
    histogram = _ack_histogram(server.port)
    return _rows(acks, answers, histogram, total, seconds)


def _next_button(server, slack, secret: str) -> dict:
    body = slash_command_body("", response_url=slack.response_url("load-first"))
    post(server.events_url, body, sign(secret, body))
    page = slack.wait_for_responses(1, key="load-first", timeout=60)[0]
    button = find_button(page, "Next page")
    assert button is not None, "the load run needs more than one page of jobs"
    return button


def _send_all(url: str, slack, secret: str, button: dict, total: int, seconds: float, click_share: float):
    """(key, HTTP status, seconds) per request, sent at an even rate over `seconds`."""
    interval = seconds / total
    start = time.perf_counter() + 0.5
    results: list = [None] * total
    clicks = {round(i / click_share) for i in range(int(total * click_share))}

    def send(i: int) -> None:
        time.sleep(max(0.0, start + i * interval - time.perf_counter()))
        key = f"load-{i}"
        if i in clicks:
            body = block_action_body(action_id=button["action_id"], value=button["value"],
                                     response_url=slack.response_url(key))
        else:
            body = slash_command_body("FAILED" if i % 2 else "", response_url=slack.response_url(key))
        status, _, took = post(url, body, sign(secret, body), timeout=30)
        results[i] = (key, status, took)

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(send, range(total)))
    return results


def _collect_answers(slack, keys: list[str], timeout: float = 180) -> dict[str, list]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(slack.responses(key) for key in keys):
            break
        time.sleep(0.5)
    time.sleep(2)  # any second answer would arrive by now
    return {key: slack.responses(key) for key in keys}


def _ack_histogram(port: int) -> dict[str, float]:
    """deletion_jobs_ack_seconds from /metrics: {le: cumulative count}, plus `count` and `sum`."""
    from prometheus_client.parser import text_string_to_metric_families

    with _opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "deletion_jobs_ack_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    found[sample.labels["le"]] = sample.value
                else:
                    found[sample.name.rsplit("_", 1)[-1]] = sample.value
    return found


def _quantile_bound(histogram: dict[str, float], q: float) -> str:
    """The upper bound of the bucket that holds quantile `q` (what a histogram can say)."""
    count = histogram.get("count", 0)
    bounds = sorted(((float(le), n) for le, n in histogram.items() if le not in ("count", "sum")))
    for le, n in bounds:
        if count and n >= q * count:
            return f"≤ {le * 1000:g} ms"
    return "n/a"


def _classify(messages: list) -> str:
    if len(messages) != 1:
        return f"{len(messages)} answers"
    text = str(messages[0])
    if THROTTLED in text:
        return "throttled"
    return "page" if job_arns(messages[0]) else "other"


def _rows(acks, answers, histogram, total: int, seconds: float) -> list[tuple[str, str, str]]:
    kinds: dict[str, int] = {}
    for key, _, _ in acks:
        kind = _classify(answers[key])
        kinds[kind] = kinds.get(kind, 0) + 1
    statuses = {status for _, status, _ in acks}
    took = sorted(t for _, _, t in acks)
    pct = {q: took[min(len(took) - 1, int(q * len(took)))] * 1000 for q in (0.5, 0.95, 0.99)}
    exactly_once = sum(n for kind, n in kinds.items() if kind in ("page", "throttled"))
    return [
        (f"Load: {total} commands and clicks over {seconds:g} s, AWS 300 ms, 10 % throttled, 1 % HTTP 500 "
         "(gunicorn, 2 workers): answered exactly once", f"{exactly_once} / {total}",
         f"answers: {dict(sorted(kinds.items()))}; HTTP statuses {sorted(statuses)}"),
        ("Load: ack latency measured by the bench (p50 / p95 / p99 / max)",
         f"{pct[0.5]:.1f} / {pct[0.95]:.1f} / {pct[0.99]:.1f} / {took[-1] * 1000:.1f} ms",
         "client side: request sent to HTTP response read, over loopback"),
        ("Load: ack latency from the bot's /metrics histogram (p50 / p95 / p99 bucket)",
         " / ".join(_quantile_bound(histogram, q) for q in (0.5, 0.95, 0.99)),
         f"deletion_jobs_ack_seconds: {histogram.get('count', 0):g} acks, mean "
         f"{histogram.get('sum', 0) / max(histogram.get('count', 1), 1) * 1000:.1f} ms (server side: complete "
         f"request to Bolt's answer); median ack {statistics.median(took) * 1000:.1f} ms by the bench"),
    ]


__all__ = ["run_load"]

"""GET /metrics (issue 14, section 3): commands, clicks, AWS calls, acks and digest posts counted in Prometheus text,
with no label that names a user, channel, job or dataset group."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from devtools.slack_requests import post, sign, slash_command_body
from tests.helpers.credentials import SIGNING_SECRET
from tests.helpers.gunicorn import PATIENCE

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple], float]]:
    """The raw text, and every sample as {(name, sorted labels): value}."""
    with _opener.open(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_commands_clicks_aws_calls_and_acks_are_counted(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=80)
    bot = run_bot(list_cache_seconds=0)  # every command reaches AWS: "FAILED" must meet the injected throttling
    page = bot.ask("", user_id="U0SECRETUSER", channel_id="C0SECRETCHAN")
    bot.press(page, user_id="U0SECRETUSER", channel_id="C0SECRETCHAN")
    bot.ask("no-such-group-xyz")
    bot.ask("help")
    emulator.inject_error("ListDataDeletionJobs", "ThrottlingException", times=4)  # every attempt of one call
    throttled = bot.ask("FAILED")
    assert "throttl" in throttled["text"].lower()
    text, samples = scrape(bot.url)

    assert value(samples, "deletion_jobs_commands_total", command="list", outcome="ok") == 1
    assert value(samples, "deletion_jobs_commands_total", command="list", outcome="user_error") == 2
    assert value(samples, "deletion_jobs_commands_total", command="help", outcome="ok") == 1
    assert value(samples, "deletion_jobs_clicks_total", action="deletion_jobs.next", outcome="ok") == 1
    assert value(samples, "deletion_jobs_aws_calls_total", operation="list_data_deletion_jobs",
                 outcome="throttled") == 1
    assert value(samples, "deletion_jobs_aws_calls_total", operation="list_data_deletion_jobs", outcome="ok") == \
        emulator.call_count("ListDataDeletionJobs") - 4
    assert value(samples, "deletion_jobs_aws_call_seconds_count", operation="list_data_deletion_jobs") == \
        emulator.call_count("ListDataDeletionJobs") - 3
    assert value(samples, "deletion_jobs_ack_seconds_count") == 5
    assert value(samples, "deletion_jobs_ack_seconds_bucket", le="3.0") == 5
    for private in ("U0SECRETUSER", "C0SECRETCHAN", "no-such-group", "arn:aws", "dataset-group", "U123"):
        assert private not in text


def test_a_replayed_command_counts_once_and_as_a_duplicate(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    body = slash_command_body("FAILED", response_url=slack.response_url("dup"))
    headers = sign(SIGNING_SECRET, body)
    assert post(bot.events_url, body, headers)[0] == post(bot.events_url, body, headers)[0] == 200
    slack.wait_for_responses(1, key="dup")
    bot.ask("help")
    _, samples = scrape(bot.url)
    assert value(samples, "deletion_jobs_commands_total", command="list", outcome="ok") == 1
    assert value(samples, "deletion_jobs_duplicate_deliveries_total", kind="command") == 1


def test_digest_posts_are_counted_by_outcome(emulator, run_bot, slack):
    slack.set_channel("C123")
    slack.set_channel("C456")
    bot = run_bot(slack_api_url=slack.api_url, digest_post_empty=True)
    bot.ask("digest subscribe")
    bot.ask("digest subscribe", channel_id="C456")
    slack.set_channel("C456", archived=True)  # the post there is refused
    bot.services.digest.run()
    _, samples = scrape(bot.url)
    assert len(slack.messages("C123")) == 1
    assert value(samples, "deletion_jobs_digest_posts_total", outcome="posted") == 1
    assert value(samples, "deletion_jobs_digest_posts_total", outcome="refused") == 1


def test_under_gunicorn_every_worker_counts_and_the_directory_goes_with_gunicorn(
        emulator, slack, start_gunicorn, tmp_path):
    """The Procfile's web with two workers: any scrape, whichever worker answers it, adds up both workers."""
    import signal

    emulator.seed_realistic(jobs=40)
    server = start_gunicorn(WEB_CONCURRENCY="2", TMPDIR=str(tmp_path))
    server.wait_until_serving()
    # Which worker accepts a connection is the kernel's choice: send commands, ten at once, until both workers have
    # answered some (bounded), so the test does not depend on how a busy machine schedules them.
    from concurrent.futures import ThreadPoolExecutor

    def command(i: int) -> int:
        body = slash_command_body("FAILED", response_url=slack.response_url(f"g{i}"))
        return post(server.url + "/slack/events", body, sign(SIGNING_SECRET, body))[0]

    sent, pids = 0, set()
    with ThreadPoolExecutor(10) as pool:
        while len(pids) < 2 and sent < 200:
            assert list(pool.map(command, range(sent, sent + 10))) == [200] * 10
            sent += 10
            for i in range(sent - 10, sent):
                slack.wait_for_responses(1, key=f"g{i}", timeout=PATIENCE)
            [metrics_dir] = tmp_path.glob("deletion-jobs-metrics-*")
            pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("histogram_*.db")}
    assert len(pids) == 2, "both workers write their values to the shared directory"
    for _ in range(10):  # each scrape lands on either worker
        _, samples = scrape(server.url)
        assert value(samples, "deletion_jobs_commands_total", command="list", outcome="ok") == sent
        assert value(samples, "deletion_jobs_ack_seconds_count") == sent
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(PATIENCE)
    assert not metrics_dir.exists()


def test_reading_the_gunicorn_config_sets_no_metrics_directory(monkeypatch):
    """Only gunicorn's master sets it (on_starting): a process that merely reads the config must not switch its
    own prometheus_client into multiprocess mode."""
    import os
    import runpy

    from tests.helpers.gunicorn import ROOT

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert callable(config["on_starting"]) and callable(config["child_exit"]) and callable(config["on_exit"])

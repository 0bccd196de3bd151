"""`python bot.py digest` (and `scheduler`) under faults, as subprocesses against the Personalize emulator, the Slack
stub and a real database: Slack failing, refusing, rate-limiting; PostgreSQL unreachable at start-up or failing in
the middle of a digest. Each test checks behaviour and counts (exit codes, calls, what is marked, what a later run
posts), never how long something took.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from services.storage.schema import digest_ledger
from tests.helpers.databases import create_schema, postgres_database
from tests.helpers.digest_fakes import posted_arns
from tests.helpers.digest_runs import (
    CHANNEL,
    Account,
    assert_failed_loudly,
    assert_next_run_posts_everything_once,
    bot_argv,
    digest_env,
    error_lines,
    ledger_rows,
    run_digest,
    shown,
)
from tests.helpers.tcp_proxy import TcpProxy

# A claim TTL for the run after a failure: short, so the test need not wait 15 minutes for the failed run's claims
# to expire. Not shorter: a run renews its claims once per message, and messages are paced 1 s apart.
SHORT_CLAIM_TTL_MINUTES = "0.05"
SHORT_CLAIM_TTL_SECONDS = 3.0


@pytest.fixture
def jobs(emulator) -> Account:
    """300+ deletion jobs; `jobs.expected` are the failures a digest must post."""
    return Account(emulator)


# ---- Slack ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_once_is_retried_and_posted_once(status, emulator, slack, jobs, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    slack.queue_response("chat.postMessage", status=status)

    result = run_digest(digest_env(emulator, slack, sqlite_url), tmp_path)

    assert result.returncode == 0, result.stderr
    assert [c.status for c in slack.calls("chat.postMessage")] == [status, 200]
    assert sorted(shown(slack)) == sorted(jobs.expected)


def test_slack_answering_503_throughout_fails_loudly_marks_nothing_and_the_next_run_posts_all(
        emulator, slack, jobs, sqlite_url, tmp_path):
    slack.set_channel(CHANNEL)
    # One post and its two retries (ServerErrorRetryHandler(max_retry_count=2)).
    slack.queue_response("chat.postMessage", status=503, times=3)
    env = digest_env(emulator, slack, sqlite_url)

    failed = run_digest(env, tmp_path)

    assert_failed_loudly(failed, CHANNEL, "HTTP 503")
    assert [c.status for c in slack.calls("chat.postMessage")] == [503, 503, 503]
    posted, pending = ledger_rows(sqlite_url)
    assert posted == set() and pending == jobs.expected, "released, not marked"
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


def test_invalid_auth_fails_loudly_naming_the_fix_and_the_next_run_posts_all(emulator, slack, jobs, sqlite_url,
                                                                            tmp_path):
    slack.set_channel(CHANNEL)
    slack.queue_response("chat.postMessage", body={"ok": False, "error": "invalid_auth"})
    env = digest_env(emulator, slack, sqlite_url)

    refused = run_digest(env, tmp_path)

    assert_failed_loudly(refused, CHANNEL, "invalid_auth", "SLACK_BOT_TOKEN is not valid")
    assert len(slack.calls("chat.postMessage")) == 1, "a permanent error is not retried"
    assert ledger_rows(sqlite_url)[0] == set()
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


def test_a_retry_after_longer_than_the_cap_is_not_waited_for(emulator, slack, jobs, sqlite_url, tmp_path):
    """Waiting an hour would outlive the 15-minute claim (another run could post the same failures meanwhile)."""
    slack.set_channel(CHANNEL)
    slack.queue_response("chat.postMessage", status=429, headers={"Retry-After": "3600"})
    env = digest_env(emulator, slack, sqlite_url)

    limited = run_digest(env, tmp_path)

    assert_failed_loudly(limited, CHANNEL, "ratelimited")
    assert "asked to wait 3600 s" in limited.stderr
    assert [c.status for c in slack.calls("chat.postMessage")] == [429], "not retried: no wait"
    assert ledger_rows(sqlite_url)[0] == set()
    assert_next_run_posts_everything_once(env, tmp_path, slack, jobs)


# ---- signals --------------------------------------------------------------------------------------------------


def claimed_unposted(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(digest_ledger).where(
                digest_ledger.c.posted_at.is_(None), digest_ledger.c.claim_token.is_not(None))).scalar()
    finally:
        engine.dispose()


def test_sigterm_while_a_post_is_in_flight_finishes_it_and_the_rerun_posts_each_failure_once(
        emulator, slack, sqlite_url, tmp_path):
    """`python bot.py digest` gets SIGTERM (a deploy, `docker stop`) while Slack answers a post 2 s late.

    The post in flight is finished and recorded, the rest released, the process exits 1 with a log line and no
    traceback; a rerun at once (no claim TTL to wait for) posts the rest: across both runs, each failure once.
    """
    jobs = Account(emulator, failures_in_window=150)  # seven messages
    slack.set_channel(CHANNEL)
    slack.queue_response("chat.postMessage")
    slack.queue_response("chat.postMessage", delay=2.0)  # the second post: in flight when SIGTERM comes
    env = digest_env(emulator, slack, sqlite_url)

    process = subprocess.Popen(bot_argv("digest"), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        slack.wait_for_calls("chat.postMessage", 2, timeout=60)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and error_lines(stderr) == [], stderr
    assert "SIGTERM received" in stderr and "stopped on request" in stderr, stderr
    first, second = (shown_in(call.params) for call in slack.calls("chat.postMessage"))  # no third post
    posted, pending = ledger_rows(sqlite_url)
    assert posted == first | second, "the post in flight was finished and recorded"
    assert pending == jobs.expected - posted and claimed_unposted(sqlite_url) == 0, "the rest released"

    rerun = run_digest(env, tmp_path)

    assert rerun.returncode == 0, rerun.stderr
    assert sorted(shown(slack)) == sorted(jobs.expected), "across both runs, each failure exactly once"


# ---- the database -------------------------------------------------------------------------------------------


def through(proxy: TcpProxy, database_url: str) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def test_the_database_failing_mid_digest_marks_nothing_unposted_and_the_next_run_posts_the_rest(
        emulator, slack, tmp_path):
    """PostgreSQL goes away while the second message of a digest is in flight to Slack.

    Slack takes that message, but the run cannot record it: the run must stop with a clear error, must not have
    marked anything it did not post, and the next run (database back, claims expired) must post every failure
    not recorded as posted. The in-flight message's failures may be posted twice (they reached Slack, and the
    mark was lost): a repeat is the accepted cost, losing a failure is the bug.
    """
    jobs = Account(emulator, failures_in_window=80)  # four messages: two before the fault, two after
    slack.set_channel(CHANNEL)
    with postgres_database() as direct_url, TcpProxy("127.0.0.1", make_url(direct_url).port) as proxy:
        create_schema(direct_url)
        env = digest_env(emulator, slack, through(proxy, direct_url))
        slack.queue_response("chat.postMessage")  # the first message: at once
        slack.queue_response("chat.postMessage", delay=3.0)  # the second: held while the database goes

        process = subprocess.Popen(bot_argv("digest"), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            slack.wait_for_calls("chat.postMessage", 2, timeout=60)
            proxy.cut()
        finally:
            _, stderr = process.communicate(timeout=120)
        failed = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)

        assert_failed_loudly(failed, CHANNEL, "database does not answer")
        first, second = (shown_in(call.params) for call in slack.calls("chat.postMessage"))  # no third post
        assert len(first | second) < len(jobs.expected), "some failures were never posted"
        posted, _ = ledger_rows(direct_url)
        assert posted == first, "only the message recorded before the failure is marked; nothing unposted is"

        proxy.restore()
        time.sleep(SHORT_CLAIM_TTL_SECONDS + 0.5)  # the failed run's claims expire
        later = run_digest({**env, "DIGEST_CLAIM_TTL_MINUTES": SHORT_CLAIM_TTL_MINUTES}, tmp_path)

        assert later.returncode == 0, later.stderr
        arns = shown(slack)
        assert set(arns) == jobs.expected, "every failure reached the channel"
        repeated = {arn for arn in arns if arns.count(arn) > 1}
        assert repeated <= second, "only the in-flight message's failures may repeat"
        assert ledger_rows(direct_url) == (jobs.expected, set())


@pytest.mark.postgres
def test_a_frozen_database_fails_a_statement_and_frees_the_connection_then_works_again():
    """A frozen server (the proxy stops forwarding; the kernel still acknowledges): the statement fails with the
    client-side limit instead of waiting for ever, and the engine works again once the server does."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from services.storage.store import StateStore

    with postgres_database() as direct_url, TcpProxy("127.0.0.1", make_url(direct_url).port) as proxy:
        store = StateStore.from_url(through(proxy, direct_url), timeout_seconds=1)
        try:
            with store.engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
                proxy.freeze()
                failed = []

                def frozen_select():
                    try:
                        connection.execute(text("SELECT 2"))
                    except OperationalError as err:
                        failed.append(err)

                # On a thread, so that without a client-side bound the test fails instead of hanging.
                waiting = threading.Thread(target=frozen_select, daemon=True)
                waiting.start()
                waiting.join(120)
                stuck = waiting.is_alive()
                if stuck:
                    proxy.cut()  # releases the blocked read (and the connection's lock) so the test can end
                    waiting.join(30)
                assert not stuck, "the statement waits for ever on a frozen server"
                [error] = failed
                assert "did not answer within 6 s" in str(error)
                assert connection.invalidated, "a connection in an unknown state is never reused"
            proxy.cut()
            proxy.restore()
            with store.engine.connect() as connection:
                assert connection.execute(text("SELECT 3")).scalar() == 3
        finally:
            store.engine.dispose()


@pytest.mark.postgres
def test_a_database_frozen_mid_digest_fails_the_run_cleanly_and_the_next_run_posts_the_rest(
        emulator, slack, tmp_path):
    """PostgreSQL freezes (SIGSTOP) while the second message of a digest is in flight to Slack.

    Its kernel still acknowledges everything, so only a client-side bound ends the wait: the run must exit non-zero
    with one ERROR line and no traceback, having marked nothing it did not record; the next run, once the database
    answers again and the claims expired, posts every failure not recorded as posted.
    """
    jobs = Account(emulator, failures_in_window=80)  # four messages: two before the fault, two after
    slack.set_channel(CHANNEL)
    with postgres_database() as direct_url, TcpProxy("127.0.0.1", make_url(direct_url).port) as proxy:
        create_schema(direct_url)
        env = digest_env(emulator, slack, through(proxy, direct_url), DATABASE_TIMEOUT_SECONDS="2")
        slack.queue_response("chat.postMessage")  # the first message: at once
        slack.queue_response("chat.postMessage", delay=3.0)  # the second: held while the database freezes

        process = subprocess.Popen(bot_argv("digest"), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            slack.wait_for_calls("chat.postMessage", 2, timeout=60)
            proxy.freeze()
            _, stderr = process.communicate(timeout=180)  # without a client-side bound: never
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        failed = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)

        assert_failed_loudly(failed, CHANNEL, "database does not answer")
        assert len(error_lines(stderr)) == 1, stderr
        first, second = (shown_in(call.params) for call in slack.calls("chat.postMessage"))  # no third post
        posted, _ = ledger_rows(direct_url)
        assert posted == first, "only the message recorded before the freeze is marked"

        proxy.cut()  # the frozen connections go; the server answers again
        proxy.restore()
        time.sleep(SHORT_CLAIM_TTL_SECONDS + 0.5)  # the failed run's claims expire
        later = run_digest({**env, "DIGEST_CLAIM_TTL_MINUTES": SHORT_CLAIM_TTL_MINUTES}, tmp_path)

        assert later.returncode == 0, later.stderr
        arns = shown(slack)
        assert set(arns) == jobs.expected, "every failure reached the channel"
        repeated = {arn for arn in arns if arns.count(arn) > 1}
        assert repeated <= second, "only the in-flight message's failures may repeat"
        assert ledger_rows(direct_url) == (jobs.expected, set())


def shown_in(message: dict) -> set[str]:
    return set(posted_arns([message]))


@pytest.mark.parametrize("command", ["digest", "scheduler"])
@pytest.mark.parametrize("fault", ["refused", "dropped", "frozen"])
def test_postgres_unreachable_at_start_up_is_a_clear_error_and_an_exit(command, fault, emulator, slack, tmp_path,
                                                                       free_port):
    """`refused`: nothing listens at DATABASE_URL. `dropped`: something accepts and hangs up at once, as a
    stopping server or a broken proxy does. `frozen`: connections are accepted and never answered (SIGSTOP).
    Each way: one clear error, no traceback, and the process exits (a supervisor restarts it later) instead of
    retrying in a loop or waiting for ever."""
    proxy = TcpProxy("127.0.0.1", free_port())
    with proxy:
        if fault == "refused":
            port = free_port()
        else:
            proxy.freeze() if fault == "frozen" else proxy.cut()
            port = proxy.port
        env = digest_env(emulator, slack, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")

        result = subprocess.run(bot_argv(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"127.0.0.1:{port}/test does not answer" in result.stderr
    assert "cannot start" in result.stderr
    assert len(error_lines(result.stderr)) == 1, "one attempt, one error: no crash loop"
    if fault == "dropped":
        assert 1 <= proxy.refused_while_cut <= 3, "a few connection attempts, not a spin"
    if fault == "frozen":
        assert 1 <= proxy.held_while_frozen <= 3, "a few connection attempts, not a spin"
    assert slack.calls() == [] and emulator.call_count() == 0

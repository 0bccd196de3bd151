"""`python bot.py demo` as an engineer runs it on a fresh clone: no settings, real jobs from the emulator."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from devtools.demo import ConsoleSession, make_console
from devtools.personalize_emulator import PersonalizeEmulator

ROOT = Path(__file__).resolve().parents[2]
# Generous: a safety net for a stuck process, never a measure of speed.
TIMEOUT = 120
JOB_LINE = re.compile(r"^(❌ Failed|✅ Completed|⏳ Pending|🔄 In progress) · (\S+) · (\S+)$", re.MULTILINE)
STAMP = re.compile(r"\d{8}-\d{6}")


def clean_env() -> dict:
    """The environment of a fresh machine: no Slack or AWS settings, nothing from the bot's config."""
    prefixes = ("SLACK_", "AWS_", "DIGEST_", "ALLOWED_", "DATABASE_URL", "RUN_SCHEDULER", "PAGE_SIZE", "LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def demo(tmp_path, *script: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, str(ROOT / "bot.py"), "demo"] + (["--script", *script] if script else [])
    return subprocess.run(args, cwd=tmp_path, env=clean_env(), input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=None if stdin is not None else subprocess.DEVNULL)


def pages(output: str) -> list[list[tuple[str, str, str]]]:
    """The job lines (status, name, group) of each answer, split at the console's echoed inputs."""
    return [JOB_LINE.findall(chunk) for chunk in output.split("demo> ")[1:]]


def seeded_failed_jobs() -> list[tuple[str, str]]:
    """What the demo's emulator holds: the same seed gives the same jobs; names differ only in their timestamp."""
    with PersonalizeEmulator() as emulator:
        groups = {arn: name for name, arn in emulator.seed_realistic().items()}
        failed = emulator.jobs(status="FAILED")
    return [(STAMP.sub("*", job["jobName"]), groups[job["datasetGroupArn"]]) for job in failed]


def assert_clean_exit(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "\x1b[" not in result.stdout, "ANSI codes in output that is not a terminal"


def assert_two_pages_of_failed_jobs(output: str) -> None:
    first, second = pages(output)
    assert "Page 1 · jobs 1–10" in output and "Page 2 · jobs 11–20" in output
    assert len(first) == len(second) == 10
    assert {status for status, _, _ in first + second} == {"❌ Failed"}
    assert not {name for _, name, _ in first} & {name for _, name, _ in second}
    shown = [(STAMP.sub("*", name), group) for _, name, group in first + second]
    assert shown == seeded_failed_jobs()[:20]


def test_script_shows_two_different_pages_of_failed_jobs(tmp_path):
    result = demo(tmp_path, "/deletion-jobs failed", "next")
    assert_clean_exit(result)
    assert_two_pages_of_failed_jobs(result.stdout)
    # AWS text arrives escaped for Slack; the terminal shows it as written.
    assert 'Invalid USER_ID "<!channel>"' in result.stdout
    assert "[1] Next page" in result.stdout


def test_readme_form_reads_inputs_from_piped_stdin(tmp_path):
    result = demo(tmp_path, stdin="/deletion-jobs failed\nnext\n")
    assert_clean_exit(result)
    assert_two_pages_of_failed_jobs(result.stdout)


def test_a_number_presses_details_and_back_returns_to_the_page(tmp_path):
    result = demo(tmp_path, "/deletion-jobs media-feed failed", "2", "1")
    assert_clean_exit(result)
    listing, details, back = result.stdout.split("demo> ")[1:]
    first_job = JOB_LINE.findall(listing)[0][1]
    assert f"[2] Details: {first_job}" in listing
    assert f"Deletion job · {first_job}" in details
    assert "Records deleted: " in details and "Data source: s3://" in details and "Role: arn:aws:iam::" in details
    assert "[1] Back to list" in details
    assert "Page 1 · jobs 1–10" in back
    assert JOB_LINE.findall(back) == JOB_LINE.findall(listing)


def test_the_bot_answers_what_it_does_not_understand(tmp_path):
    result = demo(tmp_path, "/deletion-jobs frobnicate!", "/deletion-jobs help")
    assert_clean_exit(result)
    unknown, usage = result.stdout.split("demo> ")[1:]
    assert "I did not understand frobnicate!" in unknown and "/deletion-jobs help" in unknown
    assert "Usage: /deletion-jobs [dataset-group] [status]" in usage


def test_console_mistakes_are_explained_and_fail_the_script(tmp_path):
    result = demo(tmp_path, "hello", "next", "7", "/weather")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    hello, nxt, seven, weather = result.stdout.split("demo> ")[1:]
    assert "not something Slack would send" in hello
    assert "no Next page" in nxt
    assert "no button [7]" in seven
    assert "/weather is not a valid command" in weather


def test_eof_on_piped_stdin_exits_0(tmp_path):
    result = demo(tmp_path, stdin="")
    assert_clean_exit(result)


def run_on_terminal(keys: bytes) -> tuple[int, str]:
    """Start the demo on a pseudo-terminal, wait for its prompt, type `keys`; (exit code, everything shown)."""
    env = clean_env()
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes the demo, with the pty as its controlling terminal
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, str(ROOT / "bot.py"), "demo"], env)
        finally:
            os._exit(127)
    shown = b""
    exited: list[int] = []

    def has_exited() -> bool:
        if not exited:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exited.append(os.waitstatus_to_exitcode(status))
        return bool(exited)

    def read_until(predicate) -> bool:
        nonlocal shown
        deadline = time.monotonic() + TIMEOUT
        while not predicate() and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the child closed the terminal: it is exiting
                    chunk = b""
                shown += chunk
        return predicate()

    try:
        assert read_until(lambda: b"demo> " in shown), shown.decode(errors="replace")
        os.write(fd, keys)
        if not read_until(has_exited):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the demo did not exit: " + shown.decode(errors="replace"))
    finally:
        os.close(fd)
    return exited[0], shown.decode(errors="replace")


def test_ctrl_d_at_the_prompt_exits_0(tmp_path):
    code, shown = run_on_terminal(b"\x04")
    assert code == 0, shown
    assert "Traceback" not in shown


def test_ctrl_c_at_the_prompt_exits_0(tmp_path):
    code, shown = run_on_terminal(b"\x03")
    assert code == 0, shown
    assert "Traceback" not in shown


def test_quit_after_a_command_on_a_terminal(tmp_path):
    code, shown = run_on_terminal(b"/deletion-jobs failed\nquit\n")
    assert code == 0, shown
    assert "Page 1 · jobs 1–10" in shown
    assert "Traceback" not in shown


class PostingDigest:
    """Stands in for the digest until it is wired: posts to the channel as a digest does, then answers."""

    def __init__(self, client):
        self.client = client

    def handle(self, command, requester):
        self.client.chat_postMessage(channel=requester.channel_id, text="Failed deletion jobs",
                                     blocks=[{"type": "header", "text": {"type": "plain_text", "text": "Digest"}},
                                             {"type": "section", "text": {"type": "mrkdwn",
                                              "text": ":x: *Failed* · *job-7* · media-feed"}}])
        return {"text": "Posted the digest in this channel."}


def test_digest_commands_show_what_reached_the_channel(run_bot, emulator):
    emulator.seed_realistic(jobs=20)
    bot = run_bot()
    import bot as bot_module

    bot.services.digest_commands = PostingDigest(bot_module.build_web_client(bot.settings))
    stream = io.StringIO()
    session = ConsoleSession(bot, make_console(stream))
    assert session.run_all(["/deletion-jobs digest now"], echo=True) == 0
    shown = stream.getvalue()
    assert "Posted the digest in this channel." in shown
    assert "posted in channel C123" in shown
    assert "Digest\n\n❌ Failed · job-7 · media-feed" in shown


def test_no_answer_is_reported_not_waited_on_forever(run_bot, emulator, slack):
    emulator.seed_realistic(jobs=20)
    bot = run_bot()
    # Every post to a response_url fails, so no answer ever lands.
    slack.queue_response_url_reply(500, times=100)
    stream = io.StringIO()
    session = ConsoleSession(bot, make_console(stream), timeout=1)
    assert session.run_all(["/deletion-jobs failed"], echo=True) == 1
    assert "No answer to /deletion-jobs failed within 1 s" in stream.getvalue()

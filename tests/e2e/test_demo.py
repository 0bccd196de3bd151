"""`python bot.py demo` as an engineer runs it on a fresh clone: no settings, real jobs from the emulator."""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.console_render import render_message
from devtools.demo import ConsoleSession, make_console
from devtools.personalize_emulator import PersonalizeEmulator
from tests.helpers.digest_fakes import posted_arns

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


def test_home_shows_the_home_tab_and_its_buttons_work(tmp_path):
    result = demo(tmp_path, "home", "2", "1")
    assert_clean_exit(result)
    home, details, refreshed = result.stdout.split("demo> ")[1:]
    assert "── deletion-jobs · Home tab ──" in home
    assert "Needs attention" in home and "Dataset groups · last 30 days" in home
    for group in ("media-feed", "retail-recs", "news-personalization", "video-ranking"):
        assert re.search(rf"^{group} · \d+ jobs?$", home, re.MULTILINE), group
    assert re.search(r"PENDING slots: \d of 5 in use", home)
    assert 'Invalid USER_ID "<!channel>"' in home
    assert "[1] Refresh" in home
    newest_failure = re.search(r"\[2\] Details: (\S+)$", home, re.MULTILINE).group(1)
    assert f"Deletion job · {newest_failure}" in details and "a modal over Home" in details
    assert "Records deleted: " in details
    assert "── deletion-jobs · Home tab ──" in refreshed and f"[2] Details: {newest_failure}" in refreshed


def test_a_watch_shows_on_home_and_unwatch_there_removes_it(tmp_path):
    result = demo(tmp_path, "/deletion-jobs pending", "2", "home", "12")
    assert_clean_exit(result)
    listing, watched, home, unwatched = result.stdout.split("demo> ")[1:]
    job = re.search(r"\[2\] Watch: (\S+)$", listing, re.MULTILINE).group(1)
    assert f"[12] Unwatch: {job}" in home
    assert "── deletion-jobs · Home tab ──" in unwatched and "You are not watching any deletion job" in unwatched


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


# Every wait on a terminal is bounded and ends the demo: a stuck demo fails its test within these, with the stacks of
# its threads in the message, instead of holding the run for minutes. Generous: the prompt or an answer shows within
# a second or two and the demo leaves within about one, on a busy machine too; safety nets, never a measure of speed.
SHOW_TIMEOUT = 45
EXIT_TIMEOUT = 20
PROMPT = b"demo> "


class DemoOnTerminal:
    """`python bot.py demo` on a pseudo-terminal, at its prompt: keys and signals sent to it, what it shows, its exit.

    A context manager: the demo never outlives the test. Its temporary files go to `tmp_path/tmp`, so a test
    can see that it cleaned up after itself.
    """

    def __init__(self, tmp_path: Path):
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        self.shown = b""
        self.exit_code: int | None = None

    def __enter__(self):
        env = clean_env() | {"TMPDIR": str(self.tmpdir), "PYTHONFAULTHANDLER": "1"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child becomes the demo, with the pty as its controlling terminal
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, [sys.executable, str(ROOT / "bot.py"), "demo"], env)
            finally:
                os._exit(127)
        try:
            self.wait_for_text(PROMPT)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._kill()
        os.close(self.fd)

    @property
    def text(self) -> str:
        return self.shown.decode(errors="replace")

    def wait_for_text(self, text: bytes, *, after: int = 0) -> None:
        """Until `text` shows (after the first `after` bytes); fails, ending the demo, if it does not in time."""
        if not self._read_until(lambda: text in self.shown[after:], SHOW_TIMEOUT):
            self._fail(f"{text!r} did not show within {SHOW_TIMEOUT} s")

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def send_signal_to_a_worker_thread(self, signum: int) -> None:
        """Deliver `signum` to one of the demo's other threads, as the kernel may: its handler then runs there."""
        tgkill = getattr(ctypes.CDLL(None, use_errno=True), "tgkill", None)
        if tgkill is None:
            pytest.skip("needs Linux with glibc 2.30 or later (tgkill)")
        workers = sorted(int(tid) for tid in os.listdir(f"/proc/{self.pid}/task") if int(tid) != self.pid)
        assert workers, "the demo runs no other thread"
        assert tgkill(self.pid, workers[-1], signum) == 0, os.strerror(ctypes.get_errno())

    def wait_for_exit(self) -> int:
        if not self._read_until(self._exited, EXIT_TIMEOUT):
            self._fail(f"the demo did not exit within {EXIT_TIMEOUT} s")
        return self.exit_code

    def assert_left_cleanly(self) -> None:
        """Exit code 0, no traceback, the terminal as it was, and no temporary file left behind."""
        assert self.exit_code == 0, self.text
        assert "Traceback" not in self.text, self.text
        modes = termios.tcgetattr(self.fd)[3]  # the master reports the terminal's own (the slave's) settings
        assert modes & termios.ECHO and modes & termios.ICANON, "the demo left the terminal in raw mode"
        assert not list(self.tmpdir.iterdir()), "the demo left its temporary files behind"

    def _exited(self) -> bool:
        if self.exit_code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.exit_code = os.waitstatus_to_exitcode(status)
        return self.exit_code is not None

    def _read_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self._read(0.1)
        return predicate()

    def _read(self, wait: float) -> None:
        if select.select([self.fd], [], [], wait)[0]:
            try:
                self.shown += os.read(self.fd, 65536)
            except OSError:  # the demo closed the terminal: it is exiting
                time.sleep(wait)

    def _fail(self, why: str):
        """Dump the demo's thread stacks (faulthandler, on SIGABRT) into the failure message and end it."""
        if not self._exited():
            os.kill(self.pid, signal.SIGABRT)
            self._read_until(self._exited, 5)
        self._kill()
        raise AssertionError(f"{why}; the demo showed:\n{self.text}")

    def _kill(self) -> None:
        if not self._exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.exit_code = -signal.SIGKILL


def test_ctrl_d_at_the_prompt_exits_0(tmp_path):
    with DemoOnTerminal(tmp_path) as demo:
        demo.type(b"\x04")
        demo.wait_for_exit()
        demo.assert_left_cleanly()


def test_ctrl_c_at_the_prompt_exits_0(tmp_path):
    with DemoOnTerminal(tmp_path) as demo:
        demo.type(b"\x03")
        demo.wait_for_exit()
        demo.assert_left_cleanly()


def test_ctrl_c_handled_by_another_thread_still_ends_the_prompt(tmp_path):
    # The kernel may run a process's signal handler on any of its threads; CPython then only sets a flag that the
    # main thread reads between bytecodes, while the main thread sits in readline's select() waiting for a key.
    # The same state as a Ctrl-C arriving just before that select(): the race that hung this test under load.
    with DemoOnTerminal(tmp_path) as demo:
        demo.send_signal_to_a_worker_thread(signal.SIGINT)
        demo.wait_for_exit()
        demo.assert_left_cleanly()


def test_sigterm_at_the_prompt_exits_0_and_cleans_up(tmp_path):
    with DemoOnTerminal(tmp_path) as demo:
        demo.send_signal(signal.SIGTERM)
        demo.wait_for_exit()
        demo.assert_left_cleanly()


def test_ctrl_c_while_a_command_is_running_exits_0(tmp_path):
    with DemoOnTerminal(tmp_path) as demo:
        demo.type(b"/deletion-jobs digest subscribe\n")
        demo.wait_for_text(b"Subscribed")
        shown = len(demo.shown)
        demo.type(b"/deletion-jobs digest now\n")
        # The answer shows first; then the console waits (at least a second) for the posts in the channel.
        demo.wait_for_text(b"Posted 1 failed deletion job", after=shown)
        demo.type(b"\x03")
        demo.wait_for_exit()
        demo.assert_left_cleanly()


def test_quit_after_a_command_on_a_terminal(tmp_path):
    with DemoOnTerminal(tmp_path) as demo:
        demo.type(b"/deletion-jobs failed\nquit\n")
        demo.wait_for_exit()
        demo.assert_left_cleanly()
        assert "Page 1 · jobs 1–10" in demo.text


def test_digest_commands_show_what_reached_the_channel(run_bot, emulator, slack):
    """The real digest posts in the channel; the console shows that post, as the Slack stub received it."""
    groups = emulator.seed_realistic(jobs=20)
    now = datetime.now(UTC)
    failure = emulator.add_job(groups["media-feed"], status="FAILED", name="erase-ada-7",
                               created=now - timedelta(hours=2), updated=now - timedelta(hours=1),
                               failure_reason="Access denied to s3://acme/gdpr/ada.csv")
    bot = run_bot()
    stream = io.StringIO()
    session = ConsoleSession(bot, make_console(stream))
    assert session.run_all(["/deletion-jobs digest subscribe", "/deletion-jobs digest now"], echo=True) == 0
    shown = stream.getvalue()
    posts = slack.messages("C123")
    assert failure in json.dumps(posts), "the digest posted the failure in the channel"
    assert f"Posted {len(posted_arns(posts))} failed deletion job" in shown
    assert "── deletion-jobs · posted in channel C123 ──" in shown
    for post in posts:
        rendered = io.StringIO()
        make_console(rendered).print(render_message(post))
        assert rendered.getvalue() in shown, "the console shows each post as it reached the channel"
    assert "❌ erase-ada-7 · failed " in shown and "Access denied to s3://acme/gdpr/ada.csv" in shown


def test_no_answer_is_reported_not_waited_on_forever(run_bot, emulator, slack):
    emulator.seed_realistic(jobs=20)
    bot = run_bot()
    # Every post to a response_url fails, so no answer ever lands.
    slack.queue_response_url_reply(500, times=100)
    stream = io.StringIO()
    session = ConsoleSession(bot, make_console(stream), timeout=1)
    assert session.run_all(["/deletion-jobs failed"], echo=True) == 1
    assert "No answer to /deletion-jobs failed within 1 s" in stream.getvalue()


def test_an_export_shows_each_answer_and_the_file_that_reached_the_dm(run_bot, emulator, slack):
    emulator.seed_realistic(jobs=20)
    bot = run_bot()
    stream = io.StringIO()
    session = ConsoleSession(bot, make_console(stream))
    assert session.run_all(["/deletion-jobs export failed"], echo=True) == 0
    shown = stream.getvalue()
    [upload] = slack.uploads()
    assert "Preparing your export" in shown and "replaces the message above" in shown
    assert f"in your DM (DU123): {upload.filename}" in shown
    assert f"SHA-256: {hashlib.sha256(upload.data).hexdigest()}" in shown

"""`python bot.py demo`: the real bot against a local Personalize emulator and Slack stand-in, driven from a prompt.

Like Hubot's shell adapter or Errbot's text backend: type what you would type in Slack (`/deletion-jobs failed`),
then `next` or a button's number. Every input becomes a signed HTTP request to the bot's `/slack/events`, exactly
as Slack would send it, and the answer the bot posts to the `response_url` is rendered in the terminal.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from config import Settings
from config.logging import configure_logging
from devtools.console_render import Choice, message_choices, render_message
from devtools.personalize_emulator import PersonalizeEmulator

# RunningBot builds and serves the bot exactly as bot.py does and signs requests as Slack does; the tests drive
# the bot through it too, so what the console shows is what the tests check.
from devtools.running_bot import find_button, start_bot
from devtools.slack_requests import app_home_opened_event
from devtools.slack_stub import SlackStub
from handlers.commands import COMMAND
from runtime.signals import stop_signals_interrupt_main_thread

PROMPT = "demo> "
QUIT_WORDS = {"quit", "exit", "/quit", "/exit"}
NEXT_LABELS = ("Next page", "Continue")
# Longer than the bot's own AWS deadline (20 s), so a slow answer is shown rather than given up on.
ANSWER_TIMEOUT = 30.0
# A digest posts to the channel, possibly after its response_url answer: wait until the posts stop coming.
CHANNEL_QUIET_SECONDS = 1.0
CHANNEL_MAX_WAIT = 15.0
# An export's "preparing" and progress answers start with this; its last answer does not.
EXPORT_WORKING = ":hourglass_flowing_sand:"
EXPORT_TIMEOUT = 300.0
# Who types at the demo's prompt: the user id of every command, click and Home tab.
DEMO_USER = "U123"

CONSOLE_HELP = """\
This console stands in for Slack. Type what you would type there:
  /deletion-jobs help                  the bot's own usage
  /deletion-jobs failed                failed jobs in every dataset group
  /deletion-jobs media-feed failed     failed jobs of one dataset group
  /deletion-jobs digest now            a digest, posted to this channel (once digests are set up)
  /deletion-jobs export failed         a CSV file of failed jobs for auditors, sent to your DM with the bot
  home                                 open the app's Home tab (its buttons work like any other)
Then, on the last answer that has buttons:
  next                                 press its Next page (or Continue) button
  3                                    press button [3]
And:
  help                                 this text
  quit, exit, Ctrl-D, Ctrl-C           leave
Every input is a signed request to the real bot over HTTP; AWS is a local Personalize emulator and
Slack a local stand-in, so nothing leaves this machine."""


class _DemoSettings(Settings):
    """Settings from code only: a developer's real SLACK_*, ALLOWED_* or .env values must not leak into the demo."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)


def demo_settings(*, slack_api_url: str, database_url: str, log_level: str = "WARNING") -> Settings:
    """Throwaway secrets made up per run: nothing real to protect, nothing to configure."""
    return _DemoSettings(
        slack_bot_token=f"xoxb-demo-{secrets.token_hex(12)}",
        slack_signing_secret=secrets.token_hex(16),
        slack_api_url=slack_api_url,
        database_url=database_url,
        run_scheduler=False,
        log_level=log_level,
        aws_region="us-east-1",
    )


def point_boto3_at(endpoint_url: str) -> None:
    """Aim this process's boto3 at the emulator, with dummy credentials.

    The gateway leaves endpoint and credentials to boto3's own lookup (as in production, where they come from
    the environment or an IAM role), so the demo sets boto3's variables rather than growing a demo-only path in
    the gateway. This is the one place outside config/ that touches the environment, and only its own process's.
    """
    os.environ.update({
        "AWS_ENDPOINT_URL_PERSONALIZE": endpoint_url,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        # A developer's ~/.aws profile (SSO, assumed roles) must neither be used nor be needed.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    # slack_sdk honours HTTP(S)_PROXY but not NO_PROXY: loopback calls would go to the proxy.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                 "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)


@dataclass
class DemoWorld:
    bot: object
    dataset_groups: dict[str, str]
    job_count: int


@contextlib.contextmanager
def running_demo(*, log_level: str = "WARNING", jobs: int = 300) -> Iterator[DemoWorld]:
    """Emulator (seeded), Slack stub and the real bot on a free loopback port; all stopped on exit."""
    with (
        tempfile.TemporaryDirectory(prefix="deletion-jobs-demo-") as workdir,
        PersonalizeEmulator() as emulator,
        SlackStub() as slack,
    ):
        groups = emulator.seed_realistic(jobs=jobs)
        point_boto3_at(emulator.url)
        settings = demo_settings(
            slack_api_url=slack.api_url, database_url=f"sqlite:///{workdir}/demo.sqlite3", log_level=log_level
        )
        bot = start_bot(settings, slack=slack, emulator=emulator)
        try:
            yield DemoWorld(bot, groups, jobs)
        finally:
            bot.stop()


@dataclass
class ConsoleSession:
    """Turns console lines into signed Slack requests and prints what the bot answers."""

    bot: object
    out: Console
    timeout: float = ANSWER_TIMEOUT
    # Numbers and `next` refer to the latest answer that had buttons, as the message still on screen in Slack.
    last_with_buttons: dict | None = None
    choices: list[Choice] = field(default_factory=list)
    # True when those buttons are on the Home tab: a click there is answered through views.*, not a response_url.
    buttons_on_home: bool = False
    user_id: str = DEMO_USER

    def handle(self, line: str) -> bool | None:
        """Run one input: True when it got an answer, False when not, None for `quit`."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        word = line.lower()
        if word in QUIT_WORDS:
            return None
        if word in {"help", "?"}:
            self.out.print(Text(CONSOLE_HELP))
            return True
        if word == "home":
            return self._open_home()
        if word == "next":
            return self._press_next()
        if line.isdigit():
            return self._press_number(int(line))
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            if command != COMMAND:
                # Slack only sends an app the commands its manifest declares; it answers any other itself.
                self._say(f"Slack would answer: {command} is not a valid command. This app's command is {COMMAND}.")
                return False
            return self._command(command, text.strip())
        self._say(f"{line!r} is not something Slack would send to the bot. Type a slash command such as "
                  "/deletion-jobs failed, `next`, a button's number, or `help`.")
        return False

    def run_all(self, lines: Iterable[str], *, echo: bool) -> int:
        """Non-interactive: every line in order; exit code 0 when each got its answer."""
        failed = False
        for line in lines:
            if echo and line.strip():
                self.out.print(Text(PROMPT + line.strip(), style="bold"))
            outcome = self.handle(line)
            if outcome is None:
                break
            failed |= not outcome
        return 1 if failed else 0

    def interact(self) -> int:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        while True:
            try:
                # input()'s own prompt, not rich's: readline must know the prompt to redraw the line (history).
                line = input(PROMPT)
            except EOFError:
                self.out.print()
                return 0
            if self.handle(line) is None:
                return 0

    # ---- inputs ---------------------------------------------------------------------------------

    def _command(self, command: str, text: str) -> bool:
        first = text.lower().split()[:1]
        if first == ["export"]:
            return self._export(command, text)
        return self._exchange(lambda: self.bot.command(text, command=command), f"{command} {text}".strip(),
                              settle=first == ["digest"])

    def _export(self, command: str, text: str) -> bool:
        """An export answers several times through its response_url, then puts a file in the DM: show each."""
        slack, uploaded = self.bot.slack, len(self.bot.slack.uploads())
        ack = self.bot.command(text, command=command)
        if not self._show_answer(ack, f"{command} {text}"):
            return False
        posts = slack.responses(ack.response_key)
        while posts and posts[-1]["text"].startswith(EXPORT_WORKING):
            try:
                more = slack.wait_for_responses(len(posts) + 1, key=ack.response_key, timeout=EXPORT_TIMEOUT)
            except AssertionError:
                self._say(f"The export has not finished within {EXPORT_TIMEOUT:g} s.")
                return False
            for message in more[len(posts):]:
                self._show(message, "deletion-jobs · replaces the message above")
            posts = more
        for upload in slack.uploads()[uploaded:]:
            comment = upload.initial_comment or " "
            size = len(upload.data or b"")
            title = f"deletion-jobs · in your DM ({upload.channel_id}): {upload.filename}, {size:,} bytes"
            self._show({"text": comment, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": comment}}]},
                       title)
        return True

    def _press_next(self) -> bool:
        message = self.last_with_buttons or {}
        for label in NEXT_LABELS:
            button = find_button(message, label)
            if button is not None:
                return self._click(label, button["action_id"], button["value"])
        self._say("The last answer has no Next page or Continue button.")
        return False

    def _press_number(self, number: int) -> bool:
        if not 1 <= number <= len(self.choices):
            have = f"1 to {len(self.choices)}" if self.choices else "none yet"
            self._say(f"There is no button [{number}] (buttons: {have}).")
            return False
        choice = self.choices[number - 1]
        if self.buttons_on_home:
            return self._click_on_home(choice)
        return self._click(choice.label, choice.action_id, choice.value)

    def _click(self, label: str, action_id: str, value: str) -> bool:
        return self._exchange(lambda: self.bot.click(action_id, value), f"pressed {label}")

    def _open_home(self) -> bool:
        """Opening the Home tab: Slack sends `app_home_opened`; the bot publishes the view (views.publish)."""
        slack, before = self.bot.slack, len(self.bot.slack.views(user_id=self.user_id))
        status, body, _ = self.bot.send_event(app_home_opened_event(self.user_id))
        if status != 200:
            self._say(f"The bot refused the Home tab's event: HTTP {status} {body[:200]}")
            return False
        views = self._wait_for(lambda: slack.views(user_id=self.user_id)[before:], "publish the Home tab")
        if views is None:
            return False
        self._show_view(views[-1], "deletion-jobs · Home tab")
        return True

    def _click_on_home(self, choice: Choice) -> bool:
        """A button on the Home tab: the answer is the Home tab published again, or a modal (views.open/update)."""
        slack = self.bot.slack
        published, updated = len(slack.views(user_id=self.user_id)), len(slack.views("views.update"))
        status, body, _ = self.bot.click_view(choice.action_id, choice.value, user_id=self.user_id)
        if status != 200:
            self._say(f"The bot refused pressed {choice.label}: HTTP {status} {body[:200]}")
            return False
        answer = self._wait_for(
            lambda: [("home", v) for v in slack.views(user_id=self.user_id)[published:]]
            + [("modal", v) for v in slack.views("views.update")[updated:]], f"answer pressed {choice.label}")
        if answer is None:
            return False
        kind, view = answer[-1]
        self._show_view(view, "deletion-jobs · Home tab" if kind == "home" else "deletion-jobs · a modal over Home")
        return True

    def _wait_for(self, found, what: str) -> list | None:
        give_up = time.monotonic() + self.timeout
        while not found():
            if time.monotonic() > give_up:
                self._say(f"The bot did not {what} within {self.timeout:g} s. Run with --verbose to see its log.")
                return None
            time.sleep(0.05)
        return found()

    def _show_view(self, view: dict, title: str) -> None:
        heading = (view.get("title") or {}).get("text")
        self._show({"text": heading or "", "blocks": view.get("blocks") or []},
                   title + (f": {heading}" if heading else ""), home=view.get("type") == "home")

    # ---- answers --------------------------------------------------------------------------------

    def _exchange(self, send, what: str, *, settle: bool = False) -> bool:
        """Send one signed request; show its response_url answer, then whatever the bot posted in the channel."""
        before = len(self.bot.slack.messages())
        answered = self._show_answer(send(), what)
        if settle:
            self._settle_channel_posts()
        self._show_channel_posts(before)
        return answered

    def _show_answer(self, ack, what: str) -> bool:
        # The ack body is empty by design (the answer comes through the response_url); only its status matters.
        if ack.status != 200:
            self._say(f"The bot refused {what}: HTTP {ack.status} {ack.body[:200]}")
            return False
        try:
            message = self.bot.answer(ack, timeout=self.timeout)
        except AssertionError:  # how the harness (a test helper) reports that nothing arrived in time
            self._say(f"No answer to {what} within {self.timeout:g} s: the bot acknowledged the request but "
                      "posted nothing to its response_url. Run with --verbose to see the bot's log.")
            return False
        where = "replaces the message above" if message.get("replace_original") else "only visible to you"
        self._show(message, f"deletion-jobs · {where}")
        return True

    def _settle_channel_posts(self) -> None:
        slack, waited = self.bot.slack, 0.0
        while waited < CHANNEL_MAX_WAIT:
            seen = len(slack.calls("chat.postMessage"))
            try:
                slack.wait_for_calls("chat.postMessage", seen + 1, timeout=CHANNEL_QUIET_SECONDS)
            except AssertionError:
                return
            waited += CHANNEL_QUIET_SECONDS

    def _show_channel_posts(self, before: int) -> None:
        for message in self.bot.slack.messages()[before:]:
            self._show(message, f"deletion-jobs · posted in channel {message.get('channel')}")

    def _show(self, message: dict, title: str, *, home: bool = False) -> None:
        self.out.print()
        self.out.print(Text(f"── {title} ──", style="dim"))
        self.out.print(render_message(message))
        choices = message_choices(message)
        if choices:
            self.last_with_buttons, self.choices, self.buttons_on_home = message, choices, home

    def _say(self, text: str) -> None:
        self.out.print(Text(text, style="yellow"))


def make_console(stream) -> Console:
    """Colour on a terminal; plain text, without a single ANSI code or a wrapped line, anywhere else."""
    tty = stream.isatty()
    return Console(
        file=stream,
        force_terminal=tty,
        color_system="auto" if tty else None,
        no_color=not tty,
        soft_wrap=not tty,
        highlight=False,
        emoji=False,
        markup=False,
    )


def banner(world: DemoWorld) -> Text:
    groups = ", ".join(world.dataset_groups)
    return Text(
        f"deletion-jobs demo: the real bot, a local Personalize emulator with {world.job_count} deletion jobs in "
        f"{len(world.dataset_groups)} dataset groups ({groups}) and a Slack stand-in.\n"
        "Try /deletion-jobs failed, then next; `help` explains this console. Ctrl-D quits.",
        style="dim",
    )


def run_demo(script: list[str] | None = None, *, verbose: bool = False, stdin=None, stdout=None) -> int:
    """The `demo` subcommand: `script` inputs, else stdin's lines when it is not a terminal, else a prompt."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    log_level = "INFO" if verbose else "WARNING"
    configure_logging(log_level)
    out = make_console(stdout)
    try:
        # Entered first: a Ctrl-C or SIGTERM during start-up leaves the same way as one at the prompt.
        with stop_signals_interrupt_main_thread(), running_demo(log_level=log_level) as world:
            out.print(banner(world))
            session = ConsoleSession(world.bot, out)
            if script is not None:
                return session.run_all(script, echo=True)
            if not stdin.isatty():
                return session.run_all(stdin, echo=True)
            return session.interact()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM, at the prompt or while waiting: leave as quietly as Ctrl-D.
        out.print()
        return 0

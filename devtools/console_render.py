"""Renders a Slack Block Kit message as rich Text for a terminal, with its buttons as numbered choices.

Pure functions: a message dict in, a `rich.text.Text` (or the list of its buttons) out. The terminal is not
Slack, so mrkdwn is turned back into what a reader should see: `&lt;!channel&gt;` shows as `<!channel>`, a
`<!date^…|fallback>` token as its fallback, `*bold*` as bold, and each status badge in its colour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.emoji import Emoji
from rich.text import Text

from blocks.jobs import STATUS_EMOJI

STATUS_STYLE = {
    "FAILED": "bold red",
    "COMPLETED": "bold green",
    "IN_PROGRESS": "bold yellow",
    "PENDING": "bold blue",
}
QUOTE_PREFIX = "  │ "
SUBJECT_LIMIT = 60

# A line opening with a status emoji and a bold part: the list's `:x: *Failed*`, the digest's `:x: *job-name*`.
_BADGE = re.compile(
    "^(?P<badge>(?P<emoji>" + "|".join(re.escape(e) for e in STATUS_EMOJI.values()) + r") \*(?P<label>[^*\n]+)\*)"
)
_STATUS_BY_EMOJI = {emoji: status for status, emoji in STATUS_EMOJI.items()}


def _emphasis(mark: str, name: str) -> str:
    # As in Slack: not inside a word (file_names, a*b) and no space just inside the marks (a cron's `0 9 * * *`).
    m = re.escape(mark)
    return rf"(?<!\w){m}(?P<{name}>[^{m}\s](?:[^{m}\n]*[^{m}\s])?){m}(?!\w)"


# Slack's inline mrkdwn: <tokens>, `code`, *bold*, _italic_, ~strike~.
_INLINE = re.compile(
    r"<(?P<angle>[^<>\n]+)>|`(?P<code>[^`\n]+)`|"
    + "|".join((_emphasis("*", "bold"), _emphasis("_", "italic"), _emphasis("~", "strike")))
)
_INLINE_STYLE = {"code": "cyan", "bold": "bold", "italic": "italic", "strike": "strike"}


@dataclass(frozen=True)
class Choice:
    """One button of a message, as the console numbers it."""

    number: int
    label: str
    action_id: str
    value: str


def unescape(text: str) -> str:
    """Undo Slack's three mrkdwn escapes (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle_token(inner: str) -> str:
    """What a reader sees for a `<…>` token: a date's fallback, a link's label and address, a mention."""
    target, _, label = inner.partition("|")
    if target.startswith("!date^"):
        return unescape(label) if label else target
    if target.startswith("!subteam^"):
        return unescape(label) or "@group"
    if target.startswith("!"):
        return "@" + target[1:]
    if target.startswith(("@", "#")):
        return target[0] + unescape(label) if label else target
    return f"{unescape(label)} ({unescape(target)})" if label else unescape(target)


def _inline(line: str, style: str = "") -> Text:
    out = Text(style=style)
    position = 0
    for match in _INLINE.finditer(line):
        out.append(Emoji.replace(unescape(line[position:match.start()])))
        kind = match.lastgroup
        if kind == "angle":
            inner = match.group("angle")
            is_link = "|" in inner and not inner.startswith(("!", "@", "#"))
            out.append(_angle_token(inner), style="underline" if is_link else "")
        else:
            out.append_text(_inline(match.group(kind), _INLINE_STYLE[kind]))
        position = match.end()
    out.append(Emoji.replace(unescape(line[position:])))
    return out


def mrkdwn_to_text(source: str, style: str = "") -> Text:
    """One mrkdwn string as terminal text: escapes undone, tokens resolved, quotes indented, badges coloured."""
    out = Text(style=style)
    for index, line in enumerate(source.split("\n")):
        if index:
            out.append("\n")
        if line.startswith("> ") or line == ">":
            out.append(QUOTE_PREFIX, style="dim")
            out.append_text(_inline(line[2:], "italic"))
            continue
        badge = _BADGE.match(line)
        if badge:
            status = _STATUS_BY_EMOJI[badge.group("emoji")]
            out.append(f"{Emoji.replace(badge.group('emoji'))} {unescape(badge.group('label'))}",
                       style=STATUS_STYLE.get(status, "bold"))
            line = line[badge.end():]
        out.append_text(_inline(line))
    return out


def _text_object(obj: dict, style: str = "") -> Text:
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(obj.get("text", ""), style)
    text = obj.get("text", "")
    return Text(Emoji.replace(text) if obj.get("emoji", True) else text, style=style)


def _field(obj: dict) -> Text:
    """A section field such as `*Status*\\n:x: *Failed*` reads best as `Status: ❌ Failed`."""
    source = obj.get("text", "")
    match = re.match(r"\*([^*\n]+)\*\n", source) if obj.get("type") == "mrkdwn" else None
    if not match:
        return Text("  ").append_text(_text_object(obj))
    rest = mrkdwn_to_text(source[match.end():])
    return Text("  ").append(unescape(match.group(1)) + ": ", style="bold").append_text(rest)


def _subject(blocks: list[dict], index: int) -> str:
    """What an accessory button is about: the job name from the ARN line below it, else the first bold part of its
    section's first line after any status badge (the Home tab's `:x: *job-name* · group`), else that whole line."""
    following = blocks[index + 1] if index + 1 < len(blocks) else {}
    if following.get("type") == "context" and following.get("elements"):
        first = unescape(following["elements"][0].get("text", ""))
        if "/" in first and not any(ch.isspace() for ch in first):
            return first.rsplit("/", 1)[1]
    line = (blocks[index].get("text") or {}).get("text", "").split("\n", 1)[0]
    bold = re.search(r"\*([^*\n]+)\*", _BADGE.sub("", line)) or re.search(r"\*([^*\n]+)\*", line)
    subject = unescape(bold.group(1)) if bold else mrkdwn_to_text(line).plain
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 1] + "…"


def _job_above(blocks: list[dict], index: int) -> str | None:
    """The job name when `index` holds only a job's Watch button, right under its ARN line; else None."""
    buttons = blocks[index].get("elements") or []
    if index == 0 or blocks[index - 1].get("type") != "context" or len(buttons) != 1 \
            or buttons[0].get("action_id") != "deletion_jobs.watch":
        return None
    first = unescape((blocks[index - 1].get("elements") or [{}])[0].get("text", ""))
    return first.rsplit("/", 1)[1] if ":data-deletion-job/" in first else None


def message_choices(message: dict) -> list[Choice]:
    """Every button of the message, numbered from 1: the actions blocks' buttons first (Next page is 1),
    then each section's accessory button, and each job's own buttons, labelled with what they are about
    ("Details: job-x", "Watch: job-x")."""
    blocks = message.get("blocks") or []
    primary, accessories = [], []
    for index, block in enumerate(blocks):
        if block.get("type") == "actions":
            buttons = [e for e in block.get("elements", []) if e.get("type") == "button"]
            job = _job_above(blocks, index)
            if job is None:
                primary += [(e, e["text"]["text"]) for e in buttons]
            else:
                accessories += [(e, f"{e['text']['text']}: {job}") for e in buttons]
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":
            accessories.append((accessory, f"{accessory['text']['text']}: {_subject(blocks, index)}"))
    return [
        Choice(number, label, element.get("action_id", ""), element.get("value", ""))
        for number, (element, label) in enumerate(primary + accessories, start=1)
    ]


def render_message(message: dict) -> Text:
    """The whole message as the terminal shows it, ending with its numbered buttons."""
    blocks = message.get("blocks") or []
    if not blocks:
        return mrkdwn_to_text(message.get("text", ""))
    parts: list[Text] = []
    previous = None
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(_text_object(block.get("text", {}), "bold underline"))
        elif kind == "section":
            lines = [_text_object(block["text"])] if block.get("text") else []
            lines += [_field(obj) for obj in block.get("fields", [])]
            # A blank line before each section keeps one job apart from the next.
            if parts:
                parts.append(Text(""))
            parts.append(Text("\n").join(lines))
        elif kind == "context":
            # A context line right under a section belongs to it (a job's ARN); any other stands apart.
            if parts and previous != "section":
                parts.append(Text(""))
            elements = [_text_object(e, "dim") for e in block.get("elements", []) if e.get("type") != "image"]
            parts.append(Text("  ", style="dim").join(elements))
        elif kind == "divider":
            parts.append(Text("─" * 40, style="dim"))
        previous = kind
    choices = message_choices(message)
    if choices:
        parts.append(Text(""))
        parts += [Text(f"[{c.number}] ", style="bold cyan").append(c.label) for c in choices]
    return Text("\n").join(parts)


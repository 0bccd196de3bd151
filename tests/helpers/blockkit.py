"""Slack's Block Kit limits, checked independently of the code under test (see shared/FACTS.md), and by
slack_sdk's own Block Kit models."""

from __future__ import annotations

import re

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# Slack tokens the bot writes itself: dates, channel and user mentions. Any other `<` is text that escaped escaping.
OUR_TOKENS = re.compile(r"<!date\^\d+\^[^<>|]*\|[^<>]*>|<#[CDG][A-Z0-9]+>|<@[UW][A-Z0-9]+>")


def _check_text(obj: dict, limit: int, where: str) -> None:
    assert obj["type"] in ("plain_text", "mrkdwn"), where
    assert 1 <= len(obj["text"]) <= limit, f"{where}: {len(obj['text'])} > {limit}"


def assert_within_limits(message: dict) -> None:
    assert message.get("text"), "every message needs a top-level text fallback"
    _check_blocks(message.get("blocks", []), 50)


def _check_blocks(blocks: list[dict], max_blocks: int) -> None:
    assert len(blocks) <= max_blocks, f"{len(blocks)} blocks"
    for index, block in enumerate(blocks):
        where = f"block {index} ({block['type']})"
        assert len(block.get("block_id", "")) <= 255, where
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text", where
            _check_text(block["text"], 150, where)
        elif block["type"] == "section":
            assert "text" in block or "fields" in block, where
            if "text" in block:
                _check_text(block["text"], 3000, where)
            fields = block.get("fields", [])
            assert len(fields) <= 10, where
            for field in fields:
                _check_text(field, 2000, where)
            if "accessory" in block:
                _check_button(block["accessory"], where)
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10, where
            for element in block["elements"]:
                _check_text(element, 3000, where)
        elif block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25, where
            for element in block["elements"]:
                _check_button(element, where)
        elif block["type"] != "divider":
            raise AssertionError(f"unexpected block type {block['type']}")


def _check_button(button: dict, where: str) -> None:
    assert button["type"] == "button", where
    _check_text(button["text"], 75, where)
    assert button["text"]["type"] == "plain_text", where
    assert len(button.get("value", "")) <= 2000, where
    assert 1 <= len(button["action_id"]) <= 255, where


def visible_texts(message: dict) -> list[str]:
    """Every mrkdwn string of a message: the places where an unescaped `<` would be a Slack token."""
    texts = [message["text"]]
    for block in message.get("blocks", []):
        if block["type"] == "section":
            if block.get("text", {}).get("type") == "mrkdwn":
                texts.append(block["text"]["text"])
            texts.extend(f["text"] for f in block.get("fields", []) if f["type"] == "mrkdwn")
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"] if e["type"] == "mrkdwn")
    return texts


def assert_valid_message(message: dict) -> None:
    """Within Slack's limits by our reading and by slack_sdk's validators; every visible text whole and escaped."""
    assert_within_limits(message)
    parsed = Block.parse_all(message["blocks"])
    assert None not in parsed, f"a block slack_sdk does not know: {message['blocks']}"
    for block in parsed:
        block.to_dict()  # runs slack_sdk's validators on the block and its elements; raises when one fails
    for text in visible_texts(message):
        assert_whole_mrkdwn(text)


def assert_whole_mrkdwn(text: str) -> None:
    """No entity cut in half (`&am`), no Slack token cut open (`<!date^1^…`), no `<` but our own tokens."""
    assert not re.search(r"&(?!amp;|lt;|gt;)", text), f"a bare or cut entity in {text[-300:]!r}"
    assert not re.search(r"<[^>]*(?:<|\Z)", text), f"a token cut open in {text[-300:]!r}"
    assert "<" not in OUR_TOKENS.sub("", text), f"a token the bot did not write in {text!r}"


def assert_valid_view(view: dict) -> None:
    """A Home tab or modal (`views.publish`, `views.open`): at most 100 blocks, each within Slack's limits by our
    reading and by slack_sdk's validators (the view's too: title, close, type), every visible text whole."""
    assert view["type"] in ("home", "modal"), view["type"]
    assert view["blocks"], "a view needs at least one block"
    _check_blocks(view["blocks"], 100)
    View(**view).to_dict()  # raises when slack_sdk's view or block validators fail
    for text in visible_texts({"text": "", "blocks": view["blocks"]})[1:]:
        assert_whole_mrkdwn(text)

"""`.env.example` lists every setting, each with a one-line comment, and the defaults it shows are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

from config import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"
_SETTING = re.compile(r"^#\s?([A-Z][A-Z0-9_]*)=(.*)$")
# Variables that are not bot settings but that operators set next to them.
READ_BY_OTHERS = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",  # boto3
    "AWS_ENDPOINT_URL_PERSONALIZE",  # boto3's service-specific endpoint
    "WEB_CONCURRENCY",  # gunicorn.conf.py
}
REQUIRED = {"SLACK_BOT_TOKEN": "xoxb-example", "SLACK_SIGNING_SECRET": "example-secret"}


def example_lines() -> list[tuple[str, str, str]]:
    """(name, value, the comment line above it) for every setting line."""
    lines = EXAMPLE.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _SETTING.match(line)
        if match:
            found.append((match.group(1), match.group(2), lines[index - 1] if index else ""))
    return found


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if alias is not None else field.upper()


def test_every_setting_is_listed_once_with_a_comment():
    names = [name for name, _, _ in example_lines()]
    assert len(names) == len(set(names))
    settings = {env_name(field) for field in Settings.model_fields}
    assert settings - set(names) == set(), "settings missing from .env.example"
    assert set(names) - settings - READ_BY_OTHERS == set(), "names in .env.example that nothing reads"
    for name, _, comment in example_lines():
        assert comment.startswith("# ") and not _SETTING.match(comment), f"{name} has no comment line above it"


def test_no_setting_is_active_so_a_copied_example_never_sets_an_empty_secret():
    # An uncommented `SLACK_SIGNING_SECRET=` would be read as an empty secret, not as a missing one.
    active = [line for line in EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=", line)]
    assert active == []


def test_values_shown_are_the_defaults(tmp_path):
    shown = {name: value for name, value, _ in example_lines() if name not in READ_BY_OTHERS | REQUIRED.keys()}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in {**shown, **REQUIRED}.items()))
    from_example = Settings(_env_file=env_file)
    defaults = Settings(_env_file=None, **{k.lower(): v for k, v in REQUIRED.items()})
    for field in Settings.model_fields:
        if env_name(field) in REQUIRED:
            continue
        value, default = getattr(from_example, field), getattr(defaults, field)
        if default is None:
            assert not value, field
        else:
            assert value == default, field

"""Settings: what the operator gets told when something is missing or wrong."""

import pytest
from pydantic import ValidationError

from config import SettingsError, load_settings


@pytest.mark.parametrize("empty", ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"])
def test_empty_secrets_are_refused(monkeypatch, empty):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-t")
    monkeypatch.setenv(empty, "")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert f"{empty} is empty" in str(caught.value)


def test_heroku_postgres_url_and_lists(make_settings):
    settings = make_settings(database_url="postgres://u:p@h/db", allowed_user_ids=" U1, U2 ,,")
    assert settings.database_url == "postgresql+psycopg://u:p@h/db"
    assert settings.allowed_user_ids == ("U1", "U2")


def test_page_size_is_capped_at_twenty(make_settings):
    with pytest.raises(ValidationError, match="page_size"):
        make_settings(page_size=21)


def test_a_bad_digest_schedule_is_a_settings_error(monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-t")
    monkeypatch.setenv("DIGEST_SCHEDULE", "every morning")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert "DIGEST_SCHEDULE" in str(caught.value) and "crontab" in str(caught.value)


def test_the_export_command_line_needs_no_slack_secrets_but_reads_them_when_set(monkeypatch):
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError):
        load_settings(_env_file=None)
    monkeypatch.setenv("EXPORT_MAX_JOBS", "50")
    settings = load_settings(slack=False, _env_file=None)
    assert settings.export_max_jobs == 50 and settings.export_describe_concurrency == 4
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    assert load_settings(slack=False, _env_file=None).slack_bot_token.get_secret_value() == "xoxb-real"
    monkeypatch.setenv("EXPORT_DESCRIBE_CONCURRENCY", "0")
    with pytest.raises(SettingsError, match="EXPORT_DESCRIBE_CONCURRENCY"):
        load_settings(slack=False, _env_file=None)

"""Start-up failures: the command line and gunicorn's factory report them the same way (runtime/startup.py).

A digest setting that cannot be used ends like any bad setting (exit 2, its message on stderr); a database that
does not answer ends in one log line (exit 3); gunicorn's factory exits 4 for either. Never a traceback.
"""

from __future__ import annotations

import logging

import pytest

import app_factory
import bot
import config.logging
import web
from runtime import serve
from services.errors import DigestGroupInvalid, DigestScheduleInvalid, StateStoreUnavailable

GROUP_MESSAGE = "DIGEST_DATASET_GROUP 'ghost' is not a dataset group in this account and region"


@pytest.fixture
def starting(monkeypatch, make_settings):
    """bot.py and web.py with test settings, the bot's logging left alone, and `build_services` raising `error`."""

    def start_with(error: Exception) -> None:
        def build_services(settings, **_kwargs):
            raise error

        settings = make_settings()
        monkeypatch.setattr(bot, "load_settings", lambda: settings)
        monkeypatch.setattr("config.load_settings", lambda: settings)
        monkeypatch.setattr(bot, "configure_logging", lambda level: None)
        monkeypatch.setattr(config.logging, "configure_logging", lambda level: None)
        monkeypatch.setattr(app_factory, "build_services", build_services)
        monkeypatch.setattr(serve, "build_services", build_services)

    return start_with


@pytest.mark.parametrize("error", [DigestGroupInvalid(GROUP_MESSAGE), DigestScheduleInvalid("DIGEST_SCHEDULE bad")])
@pytest.mark.parametrize("command", [["digest"], ["scheduler"], []])
def test_an_unusable_digest_setting_ends_the_command_line_like_a_bad_setting(starting, capsys, error, command):
    starting(error)
    assert bot.main(command) == 2
    captured = capsys.readouterr()
    assert str(error) in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_a_database_that_does_not_answer_ends_the_command_line_with_exit_3(starting, capsys, caplog):
    starting(StateStoreUnavailable("the database at sqlite:///x does not answer: disk I/O error"))
    with caplog.at_level(logging.ERROR):
        assert bot.main(["digest"]) == 3
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["deletion-jobs bot cannot start: the database at sqlite:///x does not answer: disk I/O error."
                     " To fix: check DATABASE_URL and that the database is running."]
    assert all(record.exc_info is None for record in caplog.records)


@pytest.mark.parametrize("error", [DigestGroupInvalid(GROUP_MESSAGE), StateStoreUnavailable("no database")])
def test_gunicorns_factory_stops_on_the_same_errors_with_its_own_exit_code(starting, capsys, caplog, error):
    starting(error)
    with pytest.raises(SystemExit) as exited:
        web.create_app()
    assert exited.value.code == web.APP_LOAD_ERROR
    said = capsys.readouterr().err + caplog.text
    assert str(error) in said and "Traceback" not in said

"""The bot (runtime.serve.run_bot) picks Socket Mode when SLACK_APP_TOKEN is set and HTTP otherwise."""

from runtime import serve as bot


def test_socket_mode_when_an_app_token_is_set(make_settings, monkeypatch):
    chosen = []
    monkeypatch.setattr(bot, "serve_socket_mode", lambda app, settings: chosen.append("socket"))
    monkeypatch.setattr(bot, "serve_http", lambda app, settings: chosen.append("http"))
    assert bot.run_bot(make_settings(slack_app_token="xapp-1-test")) == 0
    assert bot.run_bot(make_settings()) == 0
    assert chosen == ["socket", "http"]

"""The bot (runtime.serve.run_bot) picks Socket Mode when SLACK_APP_TOKEN is set and HTTP otherwise."""

from runtime import serve as bot


def test_socket_mode_when_an_app_token_is_set(make_settings, monkeypatch):
    chosen = []
    monkeypatch.setattr(bot, "serve_socket_mode", lambda app, settings, *_: chosen.append("socket"))
    monkeypatch.setattr(bot, "serve_http", lambda app, settings, *_: chosen.append("http"))
    assert bot.run_bot(make_settings(slack_app_token="xapp-1-test")) == 0
    assert bot.run_bot(make_settings()) == 0
    assert chosen == ["socket", "http"]


def test_the_digest_schedule_is_built_once_for_the_answers_and_the_scheduler(make_settings, monkeypatch):
    from app_factory import build_services
    from services.scheduling.scheduler import DigestSchedule

    built = []
    real = DigestSchedule.from_settings.__func__

    def counting(cls, settings):
        built.append(settings.digest_schedule)
        return real(cls, settings)

    monkeypatch.setattr(DigestSchedule, "from_settings", classmethod(counting))
    services = build_services(make_settings(digest_schedule="30 8 * * mon-fri"))
    scheduler = bot.start_scheduler(services)
    try:
        assert built == ["30 8 * * mon-fri"]
        assert scheduler.scheduler.get_job("digest:default") is not None
    finally:
        scheduler.shutdown(wait=False)


def test_stopping_the_scheduler_asks_a_running_digest_to_stop_first(make_settings, monkeypatch):
    """SIGTERM to `python bot.py scheduler` (or `python bot.py`): the digest in progress is asked to stop at its next
    safe point before the scheduler waits for it, so a long digest does not outlive the platform's grace period."""
    events = []

    class Scheduler:
        def shutdown(self, wait):
            events.append(("shutdown", wait, services.digest.stopping))

    from app_factory import build_services

    services = build_services(make_settings())
    monkeypatch.setattr(bot, "build_services", lambda settings: services)
    monkeypatch.setattr(bot, "start_scheduler", lambda services, **_: Scheduler())
    monkeypatch.setattr(bot, "wait_for_stop_signal", lambda **_: events.append("signal"))
    try:
        assert bot.run_scheduler_process(make_settings()) == 0
    finally:
        services.background.shutdown(wait=True)
    assert events == ["signal", ("shutdown", True, True)]

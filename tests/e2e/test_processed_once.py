"""Every Slack request processed once, whichever copy arrives first (issue 14, section 2).

A copy of a command or click (same `trigger_id`) or of an event (same `event_id`) is acknowledged and not processed
again, across threads, processes and machines sharing the state store. A copy is never dropped for carrying a retry
header, and two clicks of the same button are two interactions.
"""

from __future__ import annotations

import json
import time

from devtools.slack_requests import post, sign, slash_command_body
from tests.helpers.bots import find_button, job_arns
from tests.helpers.credentials import SIGNING_SECRET
from tests.helpers.waiting import race


def retry_headers(headers: dict, attempt: int) -> dict:
    return {**headers, "X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}


def test_a_command_delivered_three_times_is_answered_once_with_one_aws_read(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    emulator.reset_calls()
    body = slash_command_body("FAILED", response_url=slack.response_url("thrice"))
    headers = sign(bot.signing_secret, body)
    statuses = [post(bot.events_url, body, h)[0] for h in (headers, retry_headers(headers, 1),
                                                              retry_headers(headers, 2))]
    assert statuses == [200, 200, 200]
    slack.wait_for_responses(1, key="thrice")
    bot.ask("help")  # handled after all three copies: any second answer would have been posted by now
    assert len(slack.responses("thrice")) == 1
    assert emulator.call_count("ListDataDeletionJobs") == 1


def test_a_copy_with_a_retry_header_that_arrives_first_is_processed(emulator, run_bot, slack):
    """The first delivery may never have reached the bot: the retry is then the only copy, and must be answered."""
    emulator.seed_realistic(jobs=40)
    bot = run_bot()
    body = slash_command_body("FAILED", response_url=slack.response_url("retry-first"))
    headers = sign(bot.signing_secret, body)
    assert post(bot.events_url, body, retry_headers(headers, 1))[0] == 200
    assert job_arns(slack.wait_for_responses(1, key="retry-first")[0])
    assert post(bot.events_url, body, headers)[0] == 200  # the original, late: already processed
    bot.ask("help")
    assert len(slack.responses("retry-first")) == 1


def test_two_clicks_of_one_button_are_two_interactions(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=80)
    bot = run_bot()
    page = bot.ask("")
    button = find_button(page, "Next page")
    first = bot.answer(bot.click(button["action_id"], button["value"]))
    second = bot.answer(bot.click(button["action_id"], button["value"]))
    assert job_arns(first) == job_arns(second) and job_arns(first)


def test_digest_now_delivered_twice_gives_one_answer(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    slack.set_channel("C123")
    bot = run_bot(slack_api_url=slack.api_url)
    bot.ask("digest subscribe")
    body = slash_command_body("digest now", response_url=slack.response_url("now-twice"))
    headers = sign(bot.signing_secret, body)
    assert post(bot.events_url, body, headers)[0] == 200
    assert post(bot.events_url, body, headers)[0] == 200
    slack.wait_for_responses(1, key="now-twice")
    bot.ask("help")
    assert len(slack.responses("now-twice")) == 1


def test_copies_racing_into_two_processes_sharing_the_database_are_answered_once(emulator, run_bot, slack):
    emulator.seed_realistic(jobs=40)
    # Two bots on one state store (make_settings gives both the same SQLite file): two workers, or two machines.
    bots = [run_bot(), run_bot()]
    for round_ in range(5):
        key = f"race-{round_}"
        body = slash_command_body("FAILED", response_url=slack.response_url(key))
        headers = sign(bots[0].signing_secret, body)
        copies = [(bots[i % 2], retry_headers(headers, i) if i else headers) for i in range(4)]
        statuses = race([lambda bot=bot, h=h, b=body: post(bot.events_url, b, h)[0] for bot, h in copies])
        assert statuses == [200] * 4
        slack.wait_for_responses(1, key=key)
    bots[0].ask("help")
    bots[1].ask("help")
    assert [len(slack.responses(f"race-{i}")) for i in range(5)] == [1] * 5


def test_an_event_delivered_again_with_the_same_event_id_runs_its_listener_once(make_settings, slack, emulator):
    """Events API retries carry the same event_id (the Home tab's app_home_opened is one): one run of the listener."""
    from slack_bolt.request import BoltRequest

    from app_factory import build_app, build_services

    services = build_services(make_settings(slack_api_url=slack.api_url))
    app = build_app(make_settings(slack_api_url=slack.api_url), services)

    def seen() -> list:
        # The bot's own app_home_opened listener publishes the person's Home tab once per run (issue 13).
        return [call.params["user_id"] for call in slack.calls("views.publish")]

    def deliver(event_id: str, retry: int | None) -> int:
        body = json.dumps({"type": "event_callback", "team_id": "T1", "api_app_id": "A0DELJOBS",
                           "event_id": event_id, "event_time": 1, "event": {"type": "app_home_opened",
                                                                            "user": "U123", "tab": "home"}})
        headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
        if retry is not None:
            headers = retry_headers(headers, retry)
        return app.dispatch(BoltRequest(body=body, headers=headers)).status

    assert [deliver("Ev1", None), deliver("Ev1", 1), deliver("Ev1", 2), deliver("Ev2", 1)] == [200] * 4
    _wait_for(lambda: len(seen()) >= 2)
    # Bolt ran the listeners on its own pool; give a wrongly repeated one the same time to show up
    _wait_for(lambda: len(seen()) > 2, timeout=1)
    services.background.shutdown(wait=True)
    assert seen() == ["U123", "U123"]  # Ev1 once, Ev2 once (its only copy was a retry)




def _wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)

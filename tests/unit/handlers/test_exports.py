"""The export's answer through one response_url: "preparing", at most two progress updates, and the final answer,
within Slack's 5 posts, with posts always left for the final answer to be retried."""

from __future__ import annotations

from slack_bolt.context.respond import Respond

from handlers.exports import PROGRESS_MIN_JOBS, ExportAnswer
from services.models import ExportProgress
from services.slack.delivery import POSTS_PER_RESPONSE_URL, ResponseDelivery

PREPARING = {"text": "preparing", "blocks": []}
FINAL = {"text": "final", "blocks": []}


def run(answer: ExportAnswer, total: int) -> None:
    answer.post(PREPARING)
    for described in range(1, total + 1):
        answer.progress(ExportProgress(described, total))
    answer.post(FINAL)


def texts(slack) -> list[str]:
    return [p.body["text"] for p in slack.response_posts("k")]


def test_a_long_export_posts_preparing_two_updates_and_the_answer_each_replacing_the_last(slack):
    answer = ExportAnswer(ResponseDelivery(backoff_seconds=0), Respond(response_url=slack.response_url("k")))
    run(answer, 4000)
    posts = slack.response_posts("k")
    assert [p.body["text"] for p in posts][0] == "preparing" and posts[-1].body["text"] == "final"
    assert [p.body["text"] for p in posts[1:3]] == [
        ":hourglass_flowing_sand: Preparing your export: read details of 1,334 of 4,000 jobs.",
        ":hourglass_flowing_sand: Preparing your export: read details of 2,667 of 4,000 jobs.",
    ]
    assert len(posts) == 4
    assert [p.body.get("replace_original") for p in posts] == [None, True, True, True]


def test_a_short_export_posts_no_progress(slack):
    answer = ExportAnswer(ResponseDelivery(backoff_seconds=0), Respond(response_url=slack.response_url("k")))
    run(answer, PROGRESS_MIN_JOBS - 1)
    assert texts(slack) == ["preparing", "final"]


def test_progress_keeps_two_posts_for_the_final_answer_when_slack_is_failing(slack):
    # "preparing" needs three attempts: then no progress update may be tried, and the final answer still has two.
    slack.queue_response_url_reply(500, "oops", times=2)
    answer = ExportAnswer(ResponseDelivery(backoff_seconds=0), Respond(response_url=slack.response_url("k")))
    answer.post(PREPARING)
    for described in range(1, 1001):
        answer.progress(ExportProgress(described, 1000))
    slack.queue_response_url_reply(500, "oops", times=1)
    answer.post(FINAL)
    assert [(p.status, p.body["text"]) for p in slack.response_posts("k")] == [
        (500, "preparing"), (500, "preparing"), (200, "preparing"), (500, "final"), (200, "final")]


def test_a_failed_progress_update_is_not_retried(slack):
    answer = ExportAnswer(ResponseDelivery(backoff_seconds=0), Respond(response_url=slack.response_url("k")))
    answer.post(PREPARING)
    slack.queue_response_url_reply(500, "oops", times=1)
    for described in range(1, 1001):
        answer.progress(ExportProgress(described, 1000))
    answer.post(FINAL)
    assert [(p.status, p.body["text"][-20:]) for p in slack.response_posts("k")] == [
        (200, "preparing"), (500, "f 334 of 1,000 jobs."), (200, "f 667 of 1,000 jobs."), (200, "final")]
    assert len(slack.response_posts("k")) <= POSTS_PER_RESPONSE_URL

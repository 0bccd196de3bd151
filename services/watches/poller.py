"""WatchPoller: one poll — read every watched job's status within a call budget, then tell each watcher once.

Personalize sends no event when a deletion job finishes, so the scheduler calls `poll()` every
WATCH_POLL_SECONDS. A poll:

1. ends, silently (a WARNING and an audit line), watches whose owner or dataset group the allowlists no longer let
   through;
2. checks the watched jobs, the least recently checked first, in at most WATCH_MAX_CALLS_PER_POLL calls. A job
   costs what one watcher costs however many watch it. A dataset group with two or more watched jobs is read
   with one ListDataDeletionJobs page (100 newest jobs) instead of a DescribeDataDeletionJob each; a job not in
   that page is remembered as beyond it and described from then on. A job that has finished is described once
   (records deleted, data location);
3. gives an EXPIRED outcome to watches older than WATCH_MAX_DAYS;
4. sends each watch with an outcome its one direct message (`chat.postMessage` to the user's id), under the
   claim protocol of `services/storage/watches.py`. A claim that a dead or timed-out poller left with a post in
   flight is first looked for in the DM (`conversations.open` + `conversations.history`, the message carries
   the watch's key in its metadata): found, it is recorded and not posted again.

Never raises: AWS, Slack and database failures are logged, and the next poll takes up what this one left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from services.errors import AwsError, AwsResourceNotFound
from services.models import FINISHED_STATUSES, OUTCOME_EXPIRED, DeletionJob, DeletionJobDetails, Watch
from services.storage.store import utcnow
from services.storage.watches import WatchClaim, WatchStore

logger = logging.getLogger(__name__)

# A poll may make up to WATCH_MAX_CALLS_PER_POLL calls; the gateway's per-request deadline is sized for a click.
POLL_DEADLINE_SECONDS = 300.0
LIST_PAGE_SIZE = 100
NOTICE_EVENT = "deletion_job_watch_notice"
# How far before the first post attempt, and how many pages of the DM, a post in doubt is looked for.
HISTORY_MARGIN = timedelta(minutes=10)
HISTORY_PAGES = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Slack refusals about this watcher's DM: nothing a retry changes, so the watch ends (logged).
REFUSALS = {"user_not_found", "channel_not_found", "account_inactive", "user_disabled", "cannot_dm_bot",
            "is_archived", "messages_tab_disabled", "not_in_channel", "restricted_action"}
# Refusals of the bot's token or scopes: every DM would fail alike. Nothing ends; the operator must act.
TOKEN_REFUSALS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "missing_scope",
                  "not_allowed_token_type"}

POSTED, REFUSED, TOKEN_REFUSED, NOT_POSTED, IN_DOUBT = "posted", "refused", "token", "not_posted", "in_doubt"


@dataclass
class PollReport:
    """What one poll did."""

    watches: int = 0
    jobs: int = 0
    checked: int = 0
    list_calls: int = 0
    describe_calls: int = 0
    notified: int = 0
    found_posted: int = 0
    expired: int = 0
    ended_refused: int = 0
    ended_access: int = 0
    unsent: int = 0
    aws_error: str | None = None

    @property
    def aws_calls(self) -> int:
        return self.list_calls + self.describe_calls


@dataclass
class _Findings:
    """What the AWS half of a poll learnt, job ARN by job ARN."""

    seen: dict[str, DeletionJob] = field(default_factory=dict)
    finished: dict[str, DeletionJobDetails] = field(default_factory=dict)
    vanished: set[str] = field(default_factory=set)
    beyond: set[str] = field(default_factory=set)

    def knows(self, arn: str) -> bool:
        return arn in self.seen or arn in self.finished or arn in self.vanished


class WatchPoller:
    def __init__(self, gateway, store: WatchStore, slack_client, access, render: Callable[[Watch], dict], *,
                 audit=None, max_calls: int = 50, max_age: timedelta = timedelta(days=7), pacer=None,
                 clock=utcnow, poll_seconds: int = 60):
        self._gateway = gateway
        self._store = store
        self._slack = slack_client
        self._access = access
        self._render = render
        self._audit = audit
        self._max_calls = max_calls
        self._max_age = max_age
        self._pacer = pacer
        self._clock = clock
        # WATCH_POLL_SECONDS, for the scheduler that calls poll().
        self.poll_seconds = poll_seconds

    def poll(self) -> PollReport:
        report = PollReport()
        try:
            watches = self._store.all()
            report.watches = len(watches)
            open_watches = [w for w in watches if w.outcome is None and self._still_allowed(w, report)]
            self._check(open_watches, report)
            self._expire(report)
            self._deliver(report)
        except SQLAlchemyError as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0] if str(err) else type(err).__name__
            logger.error("watch poll stopped: the database does not answer (%s); the next poll goes on from what was"
                         " recorded", reason)
        # Every WATCH_POLL_SECONDS: a line at INFO only when there was something to watch.
        logger.log(
            logging.INFO if report.watches else logging.DEBUG,
            "watch poll: %d watch(es) of %d job(s); checked %d job(s) in %d AWS call(s) (%d ListDataDeletionJobs, %d"
            " DescribeDataDeletionJob); %d message(s) sent, %d found already sent, %d expired, %d ended (Slack"
            " refused), %d ended (no longer allowed), %d left for the next poll",
            report.watches, report.jobs, report.checked, report.aws_calls, report.list_calls, report.describe_calls,
            report.notified, report.found_posted, report.expired, report.ended_refused, report.ended_access,
            report.unsent,
        )
        return report

    # ---- access -----------------------------------------------------------------------------------------

    def _still_allowed(self, watch: Watch, report: PollReport) -> bool:
        """True when the allowlists still let this watch through; otherwise it ends here, silently."""
        if self._access.user_allowed(watch.user_id) and self._access.group_allowed(watch.dataset_group_arn):
            return True
        if self._store.end(watch.id):
            report.ended_access += 1
            self._log_access_end(watch)
        return False

    def _log_access_end(self, watch: Watch) -> None:
        who = "its owner is" if not self._access.user_allowed(watch.user_id) else "its dataset group is"
        logger.warning("watch %s of %s by %s ended without a message: %s no longer allowed (ALLOWED_USER_IDS,"
                       " ALLOWED_DATASET_GROUPS)", watch.id, watch.job_arn, watch.user_id, who)
        if self._audit is not None:
            with self._audit.record("watch_ended", team=None, user=watch.user_id, channel=None) as audit:
                audit.note(outcome="refused", job=watch.job_arn, dataset_group=watch.dataset_group_arn,
                           reason=f"{who.split()[1]} no longer allowed")

    # ---- AWS: what became of the watched jobs -------------------------------------------------------------

    def _check(self, open_watches: list[Watch], report: PollReport) -> None:
        jobs: dict[str, Watch] = {}
        last_checked: dict[str, datetime] = {}
        for watch in open_watches:
            jobs.setdefault(watch.job_arn, watch)
            moment = watch.last_checked_at or _EPOCH
            last_checked[watch.job_arn] = min(last_checked.get(watch.job_arn, moment), moment)
        report.jobs = len(jobs)
        if not jobs:
            return
        order = sorted(jobs, key=lambda arn: (last_checked[arn], arn))
        findings = _Findings()
        with self._gateway.scope(POLL_DEADLINE_SECONDS):
            try:
                self._read(order, jobs, findings, report)
            except AwsError as err:
                report.aws_error = type(err).__name__
                logger.warning("watch poll: Personalize failed (%s) after %d call(s); the other jobs are checked by"
                               " the next poll", type(err).__name__, report.aws_calls)
        report.checked = len(findings.seen) + len(findings.finished) + len(findings.vanished)
        self._store.record(seen=list(findings.seen.values()), finished=list(findings.finished.values()),
                           vanished=sorted(findings.vanished), beyond=sorted(findings.beyond))

    def _read(self, order: list[str], jobs: dict[str, Watch], findings: _Findings, report: PollReport) -> None:
        beyond = self._store.beyond_first_page()
        listable: dict[str, list[str]] = {}
        for arn in order:
            if arn not in beyond:
                listable.setdefault(jobs[arn].dataset_group_arn, []).append(arn)
        listed: set[str] = set()
        for arn in order:
            if findings.knows(arn):
                continue
            if report.aws_calls >= self._max_calls:
                return
            group = jobs[arn].dataset_group_arn
            if group not in listed and len(listable.get(group, ())) >= 2 and arn in listable[group]:
                listed.add(group)
                self._list_group(group, listable[group], findings, report)
                if findings.knows(arn):
                    continue
                if report.aws_calls >= self._max_calls:
                    return
            self._describe(arn, findings, report)

    def _list_group(self, group: str, arns: list[str], findings: _Findings, report: PollReport) -> None:
        """One ListDataDeletionJobs page of the group; finished jobs found there are described at once."""
        report.list_calls += 1
        try:
            page = self._gateway.list_jobs_page(dataset_group_arn=group, max_results=LIST_PAGE_SIZE)
        except AwsResourceNotFound:
            return  # the group is gone: each job's Describe says so
        found = {job.arn: job for job in page.jobs}
        for arn in arns:
            job = found.get(arn)
            if job is None:
                # Not among the 100 newest: new jobs only push it further, so it is described from now on. (Not in
                # a complete listing: its Describe decides whether AWS still knows it.)
                if page.next_token:
                    findings.beyond.add(arn)
            elif job.status in FINISHED_STATUSES:
                if report.aws_calls < self._max_calls:
                    self._describe(arn, findings, report)
            else:
                findings.seen[arn] = job

    def _describe(self, arn: str, findings: _Findings, report: PollReport) -> None:
        report.describe_calls += 1
        try:
            details = self._gateway.describe_job(arn)
        except AwsResourceNotFound:
            logger.warning("watch poll: AWS no longer knows the deletion job %s; its watchers are told", arn)
            findings.vanished.add(arn)
            return
        if details.job.status in FINISHED_STATUSES:
            findings.finished[arn] = details
        else:
            findings.seen[arn] = details.job

    def _expire(self, report: PollReport) -> None:
        cutoff = self._clock() - self._max_age
        old = [w.id for w in self._store.all() if w.outcome is None and w.started_at < cutoff]
        if old:
            report.expired = self._store.set_outcome(old, OUTCOME_EXPIRED)

    # ---- Slack: one message per watch -------------------------------------------------------------------

    def _deliver(self, report: PollReport) -> None:
        owed = _interleaved([watch for watch in self._store.all() if watch.outcome is not None])
        for index, watch in enumerate(owed):
            claim = self._store.claim(watch.id)
            if claim is None:
                continue  # another poller is sending it
            if not self._still_allowed(claim.watch, report):
                continue
            if self._deliver_one(claim, report) == TOKEN_REFUSED:
                report.unsent += len(owed) - index - 1
                return

    def _deliver_one(self, claim: WatchClaim, report: PollReport) -> str:
        if claim.in_doubt:
            found = self._find_posted(claim)
            if found is None:
                self._store.release(claim, in_doubt=True)
                report.unsent += 1
                return NOT_POSTED
            if found:
                logger.info("watch %s: the message a stopped poller sent is in %s's DM; not sending it again",
                            claim.watch.id, claim.watch.user_id)
                self._store.finish(claim)
                report.found_posted += 1
                return POSTED
        if self._pacer is not None:
            self._pacer.wait(claim.watch.user_id)
        if not self._store.begin_post(claim):
            logger.warning("watch %s: another poller took this message over; not sending it", claim.watch.id)
            return NOT_POSTED
        result = self._post(claim)
        if result == POSTED:
            self._store.finish(claim)
            report.notified += 1
        elif result == REFUSED:
            self._store.end(claim.watch.id)
            report.ended_refused += 1
        else:
            self._store.release(claim, in_doubt=result == IN_DOUBT)
            report.unsent += 1
        return result

    def _post(self, claim: WatchClaim) -> str:
        watch = claim.watch
        message = self._render(watch)
        metadata = {"event_type": NOTICE_EVENT,
                    "event_payload": {"notice": claim.notice_key, "job_arn": watch.job_arn, "outcome": watch.outcome}}
        try:
            self._slack.chat_postMessage(channel=watch.user_id, text=message["text"], blocks=message["blocks"],
                                         metadata=metadata, unfurl_links=False, unfurl_media=False)
        except SlackApiError as err:
            return self._refused(watch, err)
        except Exception as err:  # noqa: BLE001 - connection failures and timeouts: Slack may have the post
            logger.warning("watch %s: no answer from Slack for the message to %s (%s: %s); the next poll looks for it"
                           " in the DM before sending it again", watch.id, watch.user_id, type(err).__name__, err)
            return IN_DOUBT
        logger.info("watch %s: told %s that %s is %s", watch.id, watch.user_id, watch.job_arn, watch.outcome)
        return POSTED

    def _refused(self, watch: Watch, err: SlackApiError) -> str:
        response = err.response
        data = response.data if isinstance(response.data, dict) else {}
        code = data.get("error") or f"http_{response.status_code}"
        if code in REFUSALS:
            logger.error("watch %s: Slack refused the direct message to %s (%s); the watch of %s ends without it",
                         watch.id, watch.user_id, code, watch.job_arn)
            return REFUSED
        if code in TOKEN_REFUSALS:
            logger.error("watch messages: Slack refused the bot's token (%s); no watch ends, and none is told until"
                         " SLACK_BOT_TOKEN and the app's scopes are fixed", code)
            return TOKEN_REFUSED
        if response.status_code >= 500:
            logger.warning("watch %s: Slack answered HTTP %s; the next poll looks for the message in the DM before"
                           " sending it again", watch.id, response.status_code)
            return IN_DOUBT
        logger.warning("watch %s: Slack did not take the message to %s (%s); the next poll sends it", watch.id,
                       watch.user_id, code)
        return NOT_POSTED

    # ---- a post in doubt ----------------------------------------------------------------------------------

    def _find_posted(self, claim: WatchClaim) -> bool | None:
        """Whether the watcher's DM holds this watch's message: True, False, or None when Slack cannot tell us."""
        assert claim.post_started_at is not None
        oldest = f"{(claim.post_started_at - HISTORY_MARGIN).timestamp():.6f}"
        try:
            channel = self._slack.conversations_open(users=claim.watch.user_id)["channel"]["id"]
            cursor = None
            for _ in range(HISTORY_PAGES):
                answer = self._slack.conversations_history(channel=channel, oldest=oldest, limit=200,
                                                           include_all_metadata=True, cursor=cursor)
                if any(_carries(message, claim.notice_key) for message in answer.get("messages") or []):
                    return True
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if not answer.get("has_more") or not cursor:
                    return False
        except SlackApiError as err:
            code = err.response.data.get("error") if isinstance(err.response.data, dict) else None
            fix = " (reinstall the app with the im:write and im:history scopes)" if code == "missing_scope" else ""
            logger.error("watch %s: cannot read %s's DM to see whether its message arrived (%s)%s; it is not sent"
                         " until that can be checked", claim.watch.id, claim.watch.user_id,
                         code or f"HTTP {err.response.status_code}", fix)
            return None
        except Exception as err:  # noqa: BLE001 - connection failures: tried again by the next poll
            logger.warning("watch %s: cannot reach Slack to read the DM (%s); tried again by the next poll",
                           claim.watch.id, type(err).__name__)
            return None
        logger.error("watch %s: more than %d pages of DM history to search; not sending it until it can be checked",
                     claim.watch.id, HISTORY_PAGES)
        return None


def _carries(message: dict, notice_key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == NOTICE_EVENT and payload.get("notice") == notice_key


def _interleaved(owed: list[Watch]) -> list[Watch]:
    """Everyone's first message, then everyone's second…: the pacer's second per DM then costs no one a wait."""
    seen: dict[str, int] = {}
    ranked = []
    for watch in owed:
        seen[watch.user_id] = seen.get(watch.user_id, 0) + 1
        ranked.append((seen[watch.user_id], watch.id, watch))
    return [watch for _, _, watch in sorted(ranked, key=lambda r: (r[0], r[1]))]

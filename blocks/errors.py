"""Every error a person can meet, mapped to text in this one place."""

from __future__ import annotations

from blocks.digest_answers import DIGEST_USAGE, channel_mention
from blocks.job_list import ACTION_RESTART, button
from blocks.mrkdwn import escape_truncated, plain_date, section_message
from services import errors
from services.models import STATUSES, dataset_group_name

VALID_STATUSES = ", ".join(f"`{status}`" for status in STATUSES)

USAGE = (
    "*Usage:* `/deletion-jobs [dataset-group] [status]`: both optional, in either order.\n"
    "• *dataset-group*: a dataset group name or its full ARN\n"
    f"• *status*: one of {VALID_STATUSES} (any case; `in-progress` works too)\n"
    "*Examples:*\n"
    "• `/deletion-jobs`: every deletion job in the account, newest first\n"
    "• `/deletion-jobs failed`: failed jobs in every dataset group\n"
    "• `/deletion-jobs media-feed failed`: failed jobs of the `media-feed` dataset group\n"
    "• `/deletion-jobs arn:aws:personalize:us-east-1:123456789012:dataset-group/media-feed completed`\n"
    "• `/deletion-jobs digest subscribe [dataset-group] [at HH:MM] [time-zone]`: a daily digest of failures"
    " in this channel; also `digest unsubscribe`, `digest list`, `digest now`\n"
    "• `/deletion-jobs export [dataset-group] [status] [since YYYY-MM-DD] [until YYYY-MM-DD]`: a CSV file of"
    " deletion jobs for auditors, sent to your direct messages (dates in UTC, until exclusive; default: the last"
    " 30 days)\n"
    "• `/deletion-jobs watch &lt;job name or ARN&gt;`: a direct message when that deletion job completes or fails;"
    " `watching` lists your watches, `unwatch &lt;job&gt;` ends one\n"
    "`help`, `digest`, `export`, `watch`, `unwatch` and `watching` are keywords: reach a dataset group with such a"
    " name by its ARN."
)

EXPIRED_TEXT = "This list has expired — run the command again."
# What a person typed, a name AWS gave, an error's fields: each cut to its own share of the message, so the
# sentence around it (and the way out it names) still shows. The section itself is cut at Slack's 3000 too.
TOKEN_LIMIT = 200
ARN_LIMIT = 300
SHORT_LIMIT = 100
_MAX_SUGGESTIONS = 5


def _code(text: object, limit: int = TOKEN_LIMIT) -> str:
    """`text` as inline code, escaped and cut to `limit`."""
    return f"`{escape_truncated(text, limit)}`"


def _suggestions(names) -> str:
    return ", ".join(_code(name) for name in list(names)[:_MAX_SUGGESTIONS])


def render_help() -> dict:
    return section_message(USAGE)


def render_command_error(err: errors.CommandError) -> dict:
    token = f" {_code(err.token)}" if err.token else ""
    text = (f":warning: I did not understand{token}: {escape_truncated(err.problem, TOKEN_LIMIT)}.\n"
            f"Valid statuses: {VALID_STATUSES}.")
    return section_message(text + "\nType `/deletion-jobs help` for examples.")


def render_expired(restart_value: str | None) -> dict:
    extra = []
    if restart_value:
        extra = [{"type": "actions", "elements": [button("Run it again", ACTION_RESTART, restart_value)]}]
    return section_message(f":hourglass: {EXPIRED_TEXT}", extra_blocks=extra)


def render_error(err: Exception, *, restart_value: str | None = None, buttons: list[dict] | None = None) -> dict:
    """The user's answer for any failure; nothing from botocore or a traceback ever reaches Slack.

    `buttons` (e.g. Try again, Back to list) go under the text, so a failed click never leaves a dead end.
    """
    answer = _render_error(err, restart_value=restart_value)
    if buttons:
        answer["blocks"].append({"type": "actions", "elements": buttons})
    return answer


def _render_error(err: Exception, *, restart_value: str | None) -> dict:
    if isinstance(err, errors.ListExpired):
        return render_expired(restart_value)
    digest_text = _digest_text(err)
    if digest_text is not None:
        return section_message(digest_text)
    watch_text = _watch_text(err)
    if watch_text is not None:
        return section_message(watch_text)
    export_text = _export_text(err)
    if export_text is not None:
        return section_message(export_text)
    if isinstance(err, errors.CommandError):
        return render_command_error(err)
    if isinstance(err, errors.DatasetGroupArnNotFound):
        return section_message(f":mag: The dataset group {_code(err.name, ARN_LIMIT)} does not exist in region"
                       f" {_code(err.region, SHORT_LIMIT)} (account {_code(err.account, SHORT_LIMIT)}).")
    if isinstance(err, errors.DatasetGroupNotFound):
        text = f":mag: I can't find a dataset group named {_code(err.name)}"
        if err.suggestions:
            text += f". Did you mean {_suggestions(err.suggestions)}?"
        else:
            text += " in this account and region."
        text += f"\nIf you meant a status, use one of {VALID_STATUSES}."
        return section_message(text)
    if isinstance(err, errors.JobNotFound):
        return section_message(f":mag: AWS no longer knows the deletion job {_code(err.arn, ARN_LIMIT)}.")
    if isinstance(err, errors.MalformedArn):
        return section_message(
            f":warning: {_code(err.arn, ARN_LIMIT)} is not a dataset group ARN. It should look like"
            " `arn:aws:personalize:&lt;region&gt;:&lt;account&gt;:dataset-group/&lt;name&gt;`."
        )
    if isinstance(err, errors.ForeignDatasetGroupArn):
        return section_message(
            f":no_entry: That ARN is in {err.part} `{escape_truncated(err.given, 100)}`; this bot reads {err.part}"
            f" `{escape_truncated(err.expected, 100)}`, so it cannot see"
            f" `{escape_truncated(dataset_group_name(err.arn), 100)}`. Give the name or ARN of a dataset group there."
        )
    if isinstance(err, errors.AccessRefused):
        return section_message(f":no_entry: Sorry, you are not allowed to {escape_truncated(err.what, TOKEN_LIMIT)}."
                       " Ask the bot's admin for access.")
    return section_message(_aws_text(err))


def _aws_text(err: Exception) -> str:
    ref = f" (AWS request id {_code(err.request_id, SHORT_LIMIT)})" if getattr(err, "request_id", None) else ""
    if isinstance(err, errors.AwsResourceNotFound):
        return ":mag: AWS says that dataset group does not exist in this account and region." + ref
    if isinstance(err, errors.AwsInvalidInput):
        return ":warning: AWS rejected the request as invalid; check the dataset group ARN." + ref
    if isinstance(err, errors.AwsAccessDenied):
        return (
            ":lock: The bot's AWS role is not allowed to read deletion jobs. An admin must grant it"
            " `personalize:ListDataDeletionJobs`, `personalize:DescribeDataDeletionJob`,"
            " `personalize:ListDatasetGroups` and `personalize:DescribeDatasetGroup` (see the README's IAM policy)."
            + ref
        )
    if isinstance(err, errors.AwsThrottled):
        return ":snail: AWS is throttling requests right now. Please try again in a minute." + ref
    if isinstance(err, errors.AwsCredentialsError):
        return ":key: The bot's AWS credentials are missing or expired. An admin must renew them."
    if isinstance(err, errors.AwsTimeout):
        return ":hourglass: AWS did not answer in time. Please try again in a moment."
    if isinstance(err, errors.AwsUnreachable):
        return ":electric_plug: The bot cannot reach AWS right now. Please try again in a moment."
    if isinstance(err, errors.AwsError):
        return ":warning: AWS could not answer this request. Please try again later." + ref
    return ":warning: Something went wrong on my side; the operators have the details in the log."


# ---- digest (issue 3) ------------------------------------------------------------------------------------

_NOT_IN_CHANNEL_FIX = "Invite me with `/invite @deletion-jobs`, then try again."


def _digest_text(err: Exception) -> str | None:
    """Text for the digest's errors; None for any other error."""
    if isinstance(err, errors.DigestUsageError):
        token = f" {_code(err.token)}" if err.token else ""
        return f":warning: I did not understand{token}: {escape_truncated(err.problem, TOKEN_LIMIT)}.\n{DIGEST_USAGE}"
    if isinstance(err, errors.InvalidDigestTime):
        return (f":clock9: {_code(err.token, SHORT_LIMIT)} is not a time I understand. Use 24-hour `HH:MM`,"
                " e.g. `at 09:30` or `at 17:45 Europe/Berlin`.")
    if isinstance(err, errors.UnknownTimeZone):
        text = f":globe_with_meridians: I don't know the time zone {_code(err.token, SHORT_LIMIT)}."
        if err.suggestions:
            text += f" Did you mean {_suggestions(err.suggestions)}?"
        return text + " Use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`."
    if isinstance(err, errors.BotNotInChannel):
        where = channel_mention(err.channel_id)
        if err.code == "is_archived":
            return f":no_entry: {where} is archived, so I cannot post a digest there."
        return f":no_entry: I am not a member of {where}, so I cannot post a digest there. {_NOT_IN_CHANNEL_FIX}"
    if isinstance(err, errors.DigestInDirectMessage):
        return (":no_entry: A digest goes to a channel, not to a direct message. Run `/deletion-jobs digest"
                " subscribe` in the channel that should get it.")
    if isinstance(err, errors.NotSubscribed):
        return (f"{channel_mention(err.channel_id)} has no digest subscription yet."
                " Subscribe it with `/deletion-jobs digest subscribe`.")
    if isinstance(err, errors.DigestDatabaseUnavailable):
        return _database_text(err)
    if isinstance(err, errors.DigestFailed):
        where = channel_mention(err.channel_id)
        if err.code in ("not_in_channel", "channel_not_found"):
            return f":no_entry: I could not post the digest: I am not a member of {where}. {_NOT_IN_CHANNEL_FIX}"
        if err.code == "is_archived":
            return f":no_entry: I could not post the digest: {where} is archived."
        if err.code.startswith("Aws"):
            return (":warning: I could not read the deletion jobs from AWS, so no digest was posted."
                    " Please try again later; the operators have the details in the log.")
        return (f":warning: Slack did not take the digest ({_code(err.code, SHORT_LIMIT)}). Nothing was marked"
                " as reported: the next digest includes these failures.")
    return None


_DATABASE_WHAT = {
    "list": "show the digest subscriptions",
    "now": "post this channel's digest",
    "subscribe": "change this channel's digest subscription",
    "unsubscribe": "change this channel's digest subscription",
}


def _database_text(err) -> str:
    what = _DATABASE_WHAT.get(err.action, "do that")
    text = f":electric_plug: The bot's database is unavailable right now, so I could not {what}."
    if err.posted:
        text += (f" I posted {err.posted} failed deletion job{'s' if err.posted != 1 else ''} before it stopped"
                 " answering; the next digest brings the rest.")
    return text + " Please try again in a few minutes; the operators have the details in the log."


def _watch_text(err: Exception) -> str | None:
    # Imported here: blocks.watch builds on this module's neighbours, and only watch errors need it.
    from blocks.watch import watch_error_text

    return watch_error_text(err)


# ---- export (issue 12) -----------------------------------------------------------------------------------

_NARROW = ("Narrow it with a dataset group, a status or dates, e.g."
           " `/deletion-jobs export media-feed failed since 2026-11-01 until 2026-11-15`.")
_RESCOPE = {"missing_scope", "not_allowed_token_type", "no_permission", "invalid_auth", "token_revoked"}


def _export_text(err: Exception) -> str | None:
    """Text for the export's errors; None for any other error."""
    if isinstance(err, errors.ExportTooLarge):
        return (f":warning: That export would hold {err.count:,} deletion jobs; an export holds at most"
                f" {err.limit:,} (`EXPORT_MAX_JOBS`). {_NARROW}")
    if isinstance(err, errors.ExportAlreadyRunning):
        since = f" (started {plain_date(err.started_at)})" if err.started_at else ""
        return (f":hourglass: Your previous export is still being prepared{since}. Wait for its file in our"
                " direct messages, then ask again.")
    if isinstance(err, errors.ExportIncomplete):
        return (f"{_aws_text(err.cause)}\nI had read the details of {err.described:,} of {err.total:,} jobs, so"
                " no file was made: an export with gaps would not be evidence. Please try again later. " + _NARROW)
    if isinstance(err, errors.ExportUploadFailed):
        where = "open our direct messages" if err.step == "dm" else "upload the file to our direct messages"
        text = f":warning: The export is made, but I could not {where}: Slack said {_code(err.code, SHORT_LIMIT)}."
        if err.code in _RESCOPE:
            return text + (" An admin must reinstall the app with the `files:write` and `im:write` scopes"
                           " (see the README).")
        return text + " Please try again in a moment."
    return None

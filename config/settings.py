"""The bot's settings, read from the environment and `.env` by pydantic-settings."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: object) -> object:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Everything the bot can be told. Secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Slack
    # An empty signing secret would make Bolt verify signatures against an empty key: anyone could forge requests.
    slack_bot_token: SecretStr = Field(min_length=1)
    slack_signing_secret: SecretStr = Field(min_length=1)
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None

    # AWS: boto3 reads AWS_ENDPOINT_URL_PERSONALIZE and credentials itself.
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region"),
    )
    # No retry starts that could end past the deadline, and one attempt can take 13 s (3 s connect + 10 s
    # read): below 15 s a request could make no second call at all.
    aws_deadline_seconds: float = Field(default=20.0, ge=15, le=120)

    # Listing
    page_size: int = Field(default=10, ge=1, le=20)
    max_api_calls_per_page: int = Field(default=5, ge=1, le=50)
    cursor_ttl_hours: float = Field(default=24.0, gt=0)
    # ListDataDeletionJobs pages shared between requests (per process) for this long; 0: every request calls AWS.
    list_cache_seconds: int = Field(default=15, ge=0, le=300)

    # Export (`/deletion-jobs export`, `python bot.py export`)
    # DescribeDataDeletionJob calls in flight at once, per process, whoever asked: Personalize throttles reads.
    export_describe_concurrency: int = Field(default=4, ge=1, le=32)
    # Larger exports are refused before any Describe call (one call per job).
    export_max_jobs: int = Field(default=10_000, ge=1, le=100_000)

    # State
    database_url: str = "sqlite:///deletion_jobs_bot.sqlite3"
    # Longest one database operation may take: PostgreSQL's statement_timeout (the bot itself gives up 5 s later,
    # when the server does not answer at all), SQLite's wait for the write lock.
    database_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    # Serving
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: str = "INFO"
    # Idle threads cost nothing; a burst of commands on one gunicorn worker should not wait for a free one.
    worker_threads: int = Field(default=64, ge=1, le=512)
    # GET /metrics for a process that serves no HTTP of its own (`bot.py scheduler`, Socket Mode); None: not served.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Digest
    run_scheduler: bool = True
    digest_channels: CommaList = ()
    digest_schedule: str = "0 9 * * *"
    digest_timezone: str = "UTC"
    digest_lookback_hours: float = Field(default=24.0, gt=0)
    digest_max_job_hours: float = Field(default=48.0, ge=0)
    digest_post_empty: bool = False
    digest_claim_ttl_minutes: float = Field(default=15.0, gt=0)
    digest_dataset_group: str | None = None
    # Stuck jobs and full PENDING queues in the digest (issue 11).
    digest_stuck_hours: float = Field(default=24.0, gt=0)
    digest_stuck_lookback_days: float = Field(default=7.0, ge=0)
    personalize_max_pending_jobs: int = Field(default=5, ge=1)

    # Watches (issue 11)
    watch_poll_seconds: int = Field(default=60, ge=5)
    watch_max_calls_per_poll: int = Field(default=50, ge=1, le=1000)
    watch_max_days: float = Field(default=7.0, gt=0)

    # How long a scheduler's lease lasts unrenewed: a dead leader is replaced within this (plus one renewal tick).
    scheduler_lease_seconds: float = Field(default=30.0, ge=5, le=600)

    # Home tab (issue 13): one shared read of the account, at most every HOME_REFRESH_SECONDS.
    home_refresh_seconds: int = Field(default=300, ge=30, le=86400)
    home_window_days: int = Field(default=30, ge=1, le=365)
    home_max_api_calls: int = Field(default=50, ge=1, le=1000)

    # Access control: empty means open.
    allowed_user_ids: CommaList = ()
    allowed_channel_ids: CommaList = ()
    allowed_dataset_groups: CommaList = ()

    _split = field_validator(
        "digest_channels",
        "allowed_user_ids",
        "allowed_channel_ids",
        "allowed_dataset_groups",
        mode="before",
    )(_split_commas)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("digest_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from err
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _valid_crontab(cls, value: str) -> str:
        from datetime import UTC

        from config.crontab import CrontabError, crontab_trigger

        try:
            # An explicit zone: without one APScheduler asks the machine's TZ, which may not be an IANA name.
            crontab_trigger(value, UTC)
        except CrontabError as err:
            raise ValueError(f"{value!r} is not a crontab (minute hour day month weekday, e.g. 0 9 * * *): {err}") \
                from err
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        # Heroku hands out postgres:// URLs; SQLAlchemy 2 wants an explicit driver.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        return value

    @property
    def cursor_secret(self) -> bytes:
        """Key that signs paging cursors, derived from the signing secret."""
        return b"deletion-jobs-cursor:" + self.slack_signing_secret.get_secret_value().encode()


class SettingsError(Exception):
    """Settings are missing or invalid; `str()` is a message for the operator."""


_HOW_TO_SET = {
    "slack_bot_token": "the bot token (xoxb-…) from your Slack app's OAuth & Permissions page",
    "slack_signing_secret": "the signing secret from your Slack app's Basic Information page",
}


class SettingsWithoutSlack(Settings):
    """For commands that never talk to Slack (`python bot.py export`): the Slack secrets may be unset."""

    slack_bot_token: SecretStr = SecretStr("unused: this command does not talk to Slack")
    slack_signing_secret: SecretStr = SecretStr("unused: this command does not talk to Slack")


def load_settings(*, slack: bool = True, **overrides: object) -> Settings:
    """Build settings from the environment (and `.env`); raise SettingsError with a readable message.

    `slack=False` for commands that need no Slack secrets (they are read when set, but not required).
    """
    try:
        return (Settings if slack else SettingsWithoutSlack)(**overrides)
    except ValidationError as err:
        lines = []
        for problem in err.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "settings"
            env_name = field.upper()
            if problem["type"] in ("missing", "too_short"):
                hint = _HOW_TO_SET.get(field, "")
                state = "is not set" if problem["type"] == "missing" else "is empty"
                lines.append(f"  {env_name} {state}" + (f": set it to {hint}" if hint else ""))
            else:
                lines.append(f"  {env_name}: {problem['msg'].removeprefix('Value error, ')}")
        message = (
            "deletion-jobs bot cannot start, its settings are incomplete or invalid:\n"
            + "\n".join(lines)
            + "\nSet them in the environment or in a .env file (see .env.example)."
        )
        raise SettingsError(message) from None

"""Every table of the state store, declared here and nowhere else, on one `metadata`.

`StateStore.create_schema()` creates what this module declares, so the schema never depends on which other
modules happened to be imported first. A feature that needs a table adds it here; its store module (cursors in
`store.py`, `subscriptions.py`, `ledger.py`, `watches.py`, `home_store.py`) imports the table from here and owns
the queries.

Every `DateTime(timezone=True)` column is written in UTC (SQLite keeps no zone: see `store.stored_utc`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# ---- listing: paging cursors too long for a button's value -------------------------------------------------

cursors = Table(
    "cursors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# ---- digest: which channels get one, and each (channel, failure) claimed or posted ---------------------------

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("channel_id", String(32), primary_key=True),
    Column("dataset_group_arn", String(256), nullable=True),
    # "HH:MM" and an IANA zone; both NULL means the bot's DIGEST_SCHEDULE in DIGEST_TIMEZONE.
    Column("at_time", String(5), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("origin", String(16), nullable=False),
    Column("created_by", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # End of the window of the last digest that reached the channel (or found nothing to post).
    Column("last_digest_at", DateTime(timezone=True), nullable=True),
)

digest_ledger = Table(
    "digest_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(32), nullable=False),
    Column("job_arn", String(256), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("message_ts", String(32), nullable=True),
    UniqueConstraint("channel_id", "job_arn", name="uq_digest_ledger_channel_job"),
    Index("ix_digest_ledger_channel_posted", "channel_id", "posted_at"),
)

# ---- watches: who watches which deletion job, what was last seen of it, the claim on its one message ---------
# (the protocol: services/storage/watches.py)

watches = Table(
    "watches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=True),
    Column("job_arn", String(256), nullable=False),
    Column("job_name", String(64), nullable=False),
    Column("dataset_group_arn", String(256), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("job_created_at", DateTime(timezone=True), nullable=True),
    Column("last_status", String(32), nullable=False),
    Column("last_checked_at", DateTime(timezone=True), nullable=True),
    # The job was not in its dataset group's first ListDataDeletionJobs page: only a Describe finds it.
    Column("beyond_first_page", Boolean, nullable=False, default=False),
    # Random, per watch: the DM carries it in its metadata, so a post in doubt can be found again.
    Column("notice_key", String(32), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("num_deleted", BigInteger, nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("data_location", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("post_started_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "job_arn", name="uq_watches_user_job"),
    Index("ix_watches_job", "job_arn"),
)

# ---- the Home tab: one shared read of the account, and the lease to read it again ---------------------------

home_snapshots = Table(
    "home_snapshots",
    metadata,
    # One row per kind of read (region and window), so processes configured differently never fight.
    Column("scope", String(64), primary_key=True),
    Column("payload", Text, nullable=True),
    Column("read_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(80), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # The last read that failed, and the name of its error (a services.errors class), for the back-off and Home.
    Column("failed_at", DateTime(timezone=True), nullable=True),
    Column("failure", String(64), nullable=True),
)

# ---- coordination: Slack deliveries seen (each request processed once), the scheduler lease --------------------

slack_deliveries = Table(
    "slack_deliveries",
    metadata,
    # "trigger:<trigger_id>" or "event:<event_id>"; Slack's ids are well under 100 characters.
    Column("key", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

scheduler_lease = Table(
    "scheduler_lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# ---- export: one export at a time per person (services/storage/export_leases.py) -----------------------------

export_leases = Table(
    "export_leases",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("token", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

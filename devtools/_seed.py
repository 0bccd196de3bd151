"""Generates a plausible history of data deletion jobs for PersonalizeEmulator.seed_realistic."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

PREFIXES = ("gdpr-erasure", "ccpa-delete", "dsar", "account-closure")

# {loc} is the job's own input file, so a reason and the job's dataSource agree.
FAILURE_REASONS = (
    (8, "Access denied to {loc}: check the role's s3:GetObject permission"),
    (6, "Input file contains {n} rows with a missing USER_ID column"),
    (4, "The number of PENDING data deletion jobs for this dataset group exceeds the limit of 5"),
    (3, "The input file {loc} does not exist"),
    (2, "The input file must be a CSV file with a single USER_ID column; found 3 columns"),
    (1, "An internal error occurred. Please try again."),
)
# Text a user could have put in the input file; the bot must show it escaped.
ESCAPE_REASON = 'Invalid USER_ID "<!channel>" in row 3 of {loc} (exported by "Privacy & Compliance")'
LINK_REASON = 'Invalid USER_ID "<https://acme-sso.example/reset|Reset your password>" in row 7 of {loc}'


def realistic_jobs(rng: random.Random, groups: list[str], count: int, now: datetime, account: str) -> list[dict]:
    """Job specs (add_job keyword arguments plus "group"), oldest first."""
    weights = [len(groups) - i for i in range(len(groups))]
    active = min(count, max(2, count // 40))
    specs = []
    for k in range(count):
        group = rng.choices(groups, weights)[0]
        if k < active:
            status = "IN_PROGRESS" if k % 2 else "PENDING"
            created = now - timedelta(minutes=rng.uniform(5, 20 * 60))
        else:
            status = "FAILED" if rng.random() < 0.15 else "COMPLETED"
            created = now - timedelta(days=rng.uniform(1, 60))
        specs.append({"group": group, "status": status, "created": created})

    _guarantee(specs, active)
    pending_per_group: dict[str, int] = {}
    for k, spec in enumerate(specs):
        # Personalize allows at most 5 PENDING jobs per dataset group.
        if spec["status"] == "PENDING":
            pending_per_group[spec["group"]] = pending_per_group.get(spec["group"], 0) + 1
            if pending_per_group[spec["group"]] > 5:
                spec["status"] = "IN_PROGRESS"
        _fill(rng, spec, k, now, account)

    failed = sorted((s for s in specs if s["status"] == "FAILED"), key=lambda s: s["created"], reverse=True)
    for spec, template in zip(failed, (ESCAPE_REASON, LINK_REASON), strict=False):
        spec["failure_reason"] = template.format(loc=spec["data_location"])
    return sorted(specs, key=lambda s: s["created"])


def _guarantee(specs: list[dict], active: int) -> None:
    """Every status appears at least once, whatever the dice said."""
    history = specs[active:]
    for status in ("COMPLETED", "FAILED"):
        if history and not any(s["status"] == status for s in history):
            history[0 if status == "FAILED" else -1]["status"] = status


def _fill(rng: random.Random, spec: dict, k: int, now: datetime, account: str) -> None:
    created: datetime = spec["created"]
    name = f"{rng.choice(PREFIXES)}-{created:%Y%m%d-%H%M%S}-{k:03d}"
    loc = f"s3://acme-gdpr-requests/{created:%Y-%m}/{name}.csv"
    status = spec["status"]
    if status == "PENDING":
        updated = created
    elif status == "IN_PROGRESS":
        updated = created + timedelta(minutes=rng.uniform(1, 30))
    elif status == "FAILED":
        updated = created + timedelta(minutes=rng.uniform(2, 180))
    else:
        # A job can take up to about a day.
        updated = created + timedelta(hours=rng.uniform(1, 22))
    spec.update(
        name=name,
        updated=min(updated, now),
        data_location=loc,
        role_arn=f"arn:aws:iam::{account}:role/PersonalizeDataDeletion",
        num_deleted=(0 if rng.random() < 0.05 else rng.randint(1, 2500)) if status == "COMPLETED" else None,
    )
    if status == "FAILED":
        template = rng.choices([t for _, t in FAILURE_REASONS], [w for w, _ in FAILURE_REASONS])[0]
        spec["failure_reason"] = template.format(loc=loc, n=rng.randint(1, 40))

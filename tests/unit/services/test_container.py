"""The services container is typed: each field names what it holds, and the digest is always wired."""

from __future__ import annotations

import dataclasses
import typing

from services.container import Services
from services.digest.commands import DigestCommands
from services.digest.service import DigestService
from services.scheduling.scheduler import DigestSchedule


def test_every_field_of_the_container_has_a_real_type():
    hints = typing.get_type_hints(Services)
    assert hints["digest_commands"] is DigestCommands and hints["digest"] is DigestService
    assert hints["digest_schedule"] is DigestSchedule
    assert [name for name, hint in hints.items() if hint is typing.Any] == []


def test_the_digest_is_required_not_optional():
    required = {f.name for f in dataclasses.fields(Services)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    assert {"digest_commands", "digest", "digest_schedule"} <= required

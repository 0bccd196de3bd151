"""Rendering for a digest run, injected: `app_factory` hands in `blocks.digest`'s renderers (services never import
`blocks/`), and tests may hand in their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.models import Attention, DeletionJob, DigestWindow

# (jobs, *, window, dataset_group_arn[, attention]) → [(message, the jobs it shows)], each within Slack's limits;
# with `attention` (stuck jobs, full PENDING queues), a message (of no jobs) even when `jobs` is empty.
RenderDigest = Callable[..., list[tuple[dict, list[DeletionJob]]]]
# (*, window, dataset_group_arn) → the one message that says nothing failed.
RenderNoFailures = Callable[..., dict]


@dataclass(frozen=True)
class DigestRenderer:
    """The digest's messages: `digest` splits the failures into messages and says which jobs each one shows, so
    that exactly the jobs of a posted message are marked; `no_failures` is the DIGEST_POST_EMPTY message."""

    render_digest: RenderDigest
    render_no_failures: RenderNoFailures

    def digest(self, jobs: Sequence[DeletionJob], *, window: DigestWindow, dataset_group_arn: str | None,
               attention: Attention | None = None) -> list[tuple[dict, list[DeletionJob]]]:
        if attention:
            return self.render_digest(jobs, window=window, dataset_group_arn=dataset_group_arn, attention=attention)
        return self.render_digest(jobs, window=window, dataset_group_arn=dataset_group_arn)

    def no_failures(self, *, window: DigestWindow, dataset_group_arn: str | None) -> dict:
        return self.render_no_failures(window=window, dataset_group_arn=dataset_group_arn)

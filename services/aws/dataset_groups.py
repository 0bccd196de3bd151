"""DatasetGroupResolver: dataset group names and ARNs → ARNs, with close-name suggestions.

An ARN is taken only when it is in the bot's partition and region (the client's) and in its account (the one the
ARNs of ListDatasetGroups name): the bot could not read a group anywhere else. And only when the group exists:
listed by ListDatasetGroups (cached), or else known to DescribeDatasetGroup.
"""

from __future__ import annotations

import difflib
import threading
import time

from services.aws.page_cache import Flight, LeaderOutOfTime
from services.errors import DatasetGroupArnNotFound, DatasetGroupNotFound, ForeignDatasetGroupArn, MalformedArn
from services.listing.command_parser import is_arn
from services.models import DatasetGroup, dataset_group_name


class DatasetGroupResolver:
    """Names are resolved through ListDatasetGroups: exact match first, then case-insensitive.

    The list is cached for `cache_seconds`, so paging through a group costs no extra calls. Only groups that
    `visible(arn)` accepts are ever suggested: a suggestion must not reveal a group the allowlist hides.
    """

    def __init__(self, gateway, *, cache_seconds: float = 300.0, clock=time.monotonic, visible=None):
        self._gateway = gateway
        self._visible = visible
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # The ListDatasetGroups read in flight: fifty people naming a group at once on a cold cache cost one walk,
        # and when it fails they all get its error at once (each within its own deadline), not fifty walks in turn.
        self._flight: Flight | None = None
        self._cached: tuple[float, list[DatasetGroup]] | None = None

    def groups(self) -> list[DatasetGroup]:
        while True:
            with self._lock:
                cached = self._fresh_locked()
                if cached is not None:
                    return cached
                flight, leading = self._flight, self._flight is None
                if leading:
                    flight = self._flight = Flight()
                else:
                    flight.waiters += 1
            if leading:
                return self._read(flight)
            try:
                return flight.result(self._time_left(), "list_dataset_groups")
            except LeaderOutOfTime:
                continue
            finally:
                with self._lock:
                    flight.waiters -= 1

    def waiting(self) -> int:
        """How many requests wait for the ListDatasetGroups read in flight (for tests and debugging)."""
        with self._lock:
            return self._flight.waiters if self._flight is not None else 0

    def _read(self, flight: Flight) -> list[DatasetGroup]:
        try:
            flight.value = groups = self._gateway.list_dataset_groups()
        except BaseException as err:
            flight.error = err
            raise
        else:
            with self._lock:
                self._cached = (self._clock(), groups)
            return groups
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _time_left(self) -> float:
        """How long a waiter may wait: its request's AWS deadline (the gateway's call scope), else the gateway's."""
        scope = self._gateway.current_scope() if hasattr(self._gateway, "current_scope") else None
        return scope.time_left() if scope is not None else getattr(self._gateway, "deadline_seconds", 20.0)

    def _fresh_locked(self) -> list[DatasetGroup] | None:
        if self._cached and self._clock() - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        return None

    def resolve(self, name_or_arn: str) -> DatasetGroup:
        if is_arn(name_or_arn):
            self.check_home(name_or_arn)
            return self._group_at(name_or_arn)
        groups = self.groups()
        for group in groups:
            if group.name == name_or_arn:
                return group
        folded = name_or_arn.casefold()
        for group in groups:
            if group.name.casefold() == folded:
                return group
        if self._visible is not None:
            groups = [group for group in groups if self._visible(group.arn)]
        raise DatasetGroupNotFound(name_or_arn, self.suggest(name_or_arn, groups))

    def _group_at(self, arn: str) -> DatasetGroup:
        """The dataset group `arn` names: from the cached list, else DescribeDatasetGroup (a group created since).

        ListDataDeletionJobs answers an unknown group with an empty list, so this is where a typo is caught.
        """
        for group in self.groups():
            if group.arn == arn:
                return group
        if self._visible is not None and not self._visible(arn):
            # Whether a hidden group exists is not for the asker to learn: the access check refuses it either way.
            return DatasetGroup(name=dataset_group_name(arn), arn=arn)
        group = self._gateway.describe_dataset_group(arn)
        if group is None:
            _, _, _, region, account, _ = arn.split(":", 5)
            raise DatasetGroupArnNotFound(arn, name=dataset_group_name(arn), region=region, account=account)
        return group

    def check_home(self, arn: str) -> None:
        """ForeignDatasetGroupArn naming the first part of `arn` outside the bot's partition, region or account.

        Partition and region cost no call; the account costs the (cached) ListDatasetGroups. When that lists no
        group, the account is unknown and not checked: AWS then answers that the group does not exist.
        """
        parts = arn.split(":", 5)
        if len(parts) < 6:
            raise MalformedArn(arn)
        _, partition, _, region, account, _ = parts
        for part, given, expected in (("partition", partition, self._gateway.partition),
                                      ("region", region, self._gateway.region)):
            if given != expected:
                raise ForeignDatasetGroupArn(arn, part, given, expected)
        accounts = {group.arn.split(":")[4] for group in self.groups() if group.arn.count(":") >= 5}
        if accounts and account not in accounts:
            raise ForeignDatasetGroupArn(arn, "account", account, ", ".join(sorted(accounts)))

    @staticmethod
    def suggest(name: str, groups: list[DatasetGroup], limit: int = 5) -> tuple[str, ...]:
        names = [group.name for group in groups]
        by_folded = {n.casefold(): n for n in names}
        close = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.5)
        picks = [by_folded[c] for c in close]
        for candidate in names:
            if len(picks) >= limit:
                break
            if candidate not in picks and name.casefold() in candidate.casefold():
                picks.append(candidate)
        return tuple(picks[:limit])

"""``Invalidations``: how replicas tell each other that a key, team or user changed.

A management write updates the store, then this replica's cache, then publishes a ``Change``.
Every replica (this one too) polls ``since(cursor)`` about twice a second and reloads the
changed rows from the store in the background, so a block or delete takes effect everywhere
within a second and a request never reads the database.

The shared implementation (Redis) needs: ``publish`` appends the change to a capped log and
bumps a version number in one step; ``since`` reads the version and the changes after the
cursor. A cursor older than what the log still holds answers ``None`` (reload everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Change",
    "ChangeKind",
    "Invalidations",
    "MemoryInvalidations",
    "ReloadingInvalidations",
]

ChangeKind = Literal["key", "team", "user"]


@dataclass(frozen=True, slots=True)
class Change:
    """A row that changed: a key (by hash), a team or a user (by id)."""

    kind: ChangeKind
    ident: str


class Invalidations(Protocol):
    """A log of changes, shared by the replicas."""

    async def publish(self, change: Change) -> None:
        """Append ``change`` to the log."""
        ...

    async def since(self, cursor: int | None) -> tuple[int, tuple[Change, ...] | None]:
        """The new cursor and the changes after ``cursor``.

        ``cursor=None`` asks only for the current cursor (no changes). The changes are ``None``
        when the log no longer reaches back to ``cursor``: the caller reloads everything.
        """
        ...


class MemoryInvalidations:
    """The log in this process: one replica, or tests."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._log: list[Change] = []
        self._first = 0  # cursor of ``_log[0]``

    async def publish(self, change: Change) -> None:
        """See ``Invalidations.publish``."""
        self._log.append(change)
        if len(self._log) > self._capacity:
            drop = len(self._log) - self._capacity
            del self._log[:drop]
            self._first += drop

    async def since(self, cursor: int | None) -> tuple[int, tuple[Change, ...] | None]:
        """See ``Invalidations.since``."""
        end = self._first + len(self._log)
        if cursor is None:
            return end, ()
        if cursor < self._first:
            return end, None
        return end, tuple(self._log[cursor - self._first :])


class ReloadingInvalidations:
    """For processes that share a store but no Redis (``serve --workers N`` without Redis).

    There is no log to share, so every ``period_s`` the answer is "reload everything": each
    process rereads all keys, teams and users from the store in the background. A change made
    through one worker reaches the others within ``period_s`` (plus the poll interval).
    """

    def __init__(self, period_s: float, clock: Callable[[], float]) -> None:
        self._period_s = period_s
        self._clock = clock
        self._next = clock() + period_s

    async def publish(self, change: Change) -> None:
        """Nothing to publish: the others reload on their own schedule."""

    async def since(self, cursor: int | None) -> tuple[int, tuple[Change, ...] | None]:
        """``None`` (reload everything) once per period, else nothing new."""
        if cursor is None or self._clock() < self._next:
            return 0, ()
        self._next = self._clock() + self._period_s
        return 0, None

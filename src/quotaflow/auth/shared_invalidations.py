"""``SharedInvalidations``: the change log of keys, teams and users, shared through Redis.

Two atomic scripts (``lua/publish.lua``, ``lua/since.lua``) keep a capped list and a version
number. While the shared state is unreachable, changes made here are kept and published when it
answers again (before shared decisions resume), and reading finds nothing new — the other
replicas learn of them then, and this replica's own cache was updated at once.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import TYPE_CHECKING, cast

from quotaflow.auth.invalidations import Change, ChangeKind
from quotaflow.state import StateUnavailable

if TYPE_CHECKING:
    from quotaflow.state import SharedScripts

__all__ = ["SharedInvalidations"]

logger = logging.getLogger("quotaflow.auth")

_KINDS = ("key", "team", "user")


def _script(name: str) -> str:
    return resources.files("quotaflow.auth").joinpath("lua", name).read_text()


class SharedInvalidations:
    """``Invalidations`` for a fleet of replicas."""

    def __init__(self, shared: SharedScripts, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._publish = shared.script(_script("publish.lua"))
        self._since = shared.script(_script("since.lua"))
        self._unpublished: list[Change] = []
        shared.on_rejoin(self._publish_kept)

    async def publish(self, change: Change) -> None:
        """See ``Invalidations.publish``; kept for later while the shared state is away."""
        try:
            await self._publish([self._capacity, _encode(change)])
        except StateUnavailable:
            self._unpublished.append(change)

    async def since(self, cursor: int | None) -> tuple[int, tuple[Change, ...] | None]:
        """See ``Invalidations.since``; nothing new while the shared state is away."""
        try:
            reply = await self._since([-1 if cursor is None else cursor])
        except StateUnavailable:
            return (cursor or 0), ()
        version, complete = int(reply[0]), int(reply[1])
        if not complete:
            return version, None
        return version, tuple(_decode(raw) for raw in reply[2:])

    async def _publish_kept(self) -> None:
        if not self._unpublished:
            return
        kept, self._unpublished = self._unpublished, []
        try:
            await self._publish([self._capacity, *(_encode(c) for c in kept)])
        except BaseException:
            self._unpublished = kept + self._unpublished
            raise


def _encode(change: Change) -> str:
    return f"{change.kind}:{change.ident}"


def _decode(raw: object) -> Change:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    kind, _, ident = text.partition(":")
    if kind not in _KINDS:
        raise ValueError(f"unexpected change {text!r} in the shared change log")
    return Change(cast("ChangeKind", kind), ident)

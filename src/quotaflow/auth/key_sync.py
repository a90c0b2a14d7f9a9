"""``KeySync``: keeps this replica's ``KeyCache`` in step with the store and the other replicas.

At start it loads every row. Then, every ``interval_s``, it reads the shared change log and
reloads the rows that changed — in the background, never inside a request. The cadence is real
time (``sleep``), not the app's clock: it is how fast news travels, not what the news says.
A row the store no longer has is dropped; while the store is unreachable the changes wait for
the next round.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from quotaflow._background import stop
from quotaflow.store.errors import NotFound, StoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quotaflow.auth.invalidations import Change, Invalidations
    from quotaflow.auth.key_cache import KeyCache
    from quotaflow.store.base import Store

__all__ = ["KeySync"]

logger = logging.getLogger("quotaflow.auth")


class KeySync:
    """Loads the cache, publishes local changes and applies everyone's."""

    def __init__(
        self,
        cache: KeyCache,
        store: Store,
        invalidations: Invalidations,
        *,
        interval_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._cache = cache
        self._store = store
        self._invalidations = invalidations
        self._interval_s = interval_s
        self._sleep = sleep
        self._cursor: int | None = None
        self._pending: list[Change] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load every row, then follow the change log in a background task."""
        self._cursor, _ = await self._invalidations.since(None)
        await self._cache.load(self._store)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="quotaflow-key-sync")

    async def stop(self) -> None:
        """Stop following the log."""
        if self._task is not None:
            await stop(self._task)
            self._task = None

    async def publish(self, change: Change) -> None:
        """Tell every replica that a row changed (this one already applied it)."""
        await self._invalidations.publish(change)

    async def poll(self) -> None:
        """Apply what changed since the last poll."""
        cursor, changes = await self._invalidations.since(self._cursor)
        if changes is None:
            await self._cache.load(self._store)
            self._pending.clear()
        else:
            self._pending.extend(changes)
        self._cursor = cursor
        while self._pending:
            await self._refresh(self._pending[0])
            self._pending.pop(0)

    async def _run(self) -> None:
        while True:
            await self._sleep(self._interval_s)
            try:
                await self.poll()
            except StoreError as exc:
                logger.warning("key sync: store unavailable (%s); retrying", type(exc).__name__)
            except Exception:
                logger.exception("key sync failed; retrying")

    async def _refresh(self, change: Change) -> None:
        cache, store = self._cache, self._store
        try:
            if change.kind == "key":
                cache.put_key(await store.keys.get_by_hash(change.ident))
            elif change.kind == "team":
                cache.put_team(await store.teams.get(change.ident))
            else:
                cache.put_user(await store.users.get(change.ident))
        except NotFound:
            if change.kind == "key":
                cache.drop_key(change.ident)
            elif change.kind == "team":
                cache.drop_team(change.ident)
            else:
                cache.drop_user(change.ident)

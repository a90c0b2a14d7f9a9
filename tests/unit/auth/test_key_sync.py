"""``KeySync``: two replicas over one SQLite store and one change log."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from quotaflow.auth import Change, KeyCache, MemoryInvalidations
from quotaflow.auth.key_sync import KeySync
from quotaflow.store import Team, TeamChanges, VirtualKey, open_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quotaflow.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    await store.migrate()
    yield store
    await store.close()


async def test_a_change_on_one_replica_reaches_the_other(store: Store):
    log = MemoryInvalidations(capacity=3)
    await store.teams.create(Team(team_id="dev"))
    await store.keys.create(VirtualKey(token_hash="a" * 64, team_id="dev"))
    here, there = KeyCache(), KeyCache()
    sync_here, sync_there = KeySync(here, store, log), KeySync(there, store, log)
    await sync_here.start()
    await sync_there.start()
    try:
        assert there.lookup("a" * 64) is not None
        await store.keys.set_blocked("a" * 64, blocked=True)
        await sync_here.publish(Change("key", "a" * 64))
        await store.teams.update("dev", TeamChanges(rpm_limit=5))
        await sync_here.publish(Change("team", "dev"))
        await sync_there.poll()
        principal = there.lookup("a" * 64)
        assert principal is not None
        assert principal.blocked is not None
        assert principal.team is not None
        assert principal.team.rpm_limit == 5
        await store.keys.delete("a" * 64)
        await sync_here.publish(Change("key", "a" * 64))
        await sync_there.poll()
        assert there.lookup("a" * 64) is None
        # More changes than the log holds: the other replica reloads everything.
        await store.keys.create(VirtualKey(token_hash="b" * 64))
        for _ in range(5):
            await sync_here.publish(Change("user", "nobody"))
        await sync_there.poll()
        assert there.lookup("b" * 64) is not None
    finally:
        await sync_here.stop()
        await sync_there.stop()


async def test_the_background_task_polls(store: Store):
    log = MemoryInvalidations()
    cache = KeyCache()
    sync = KeySync(cache, store, log, interval_s=0.01)
    await sync.start()
    await store.keys.create(VirtualKey(token_hash="c" * 64))
    await log.publish(Change("key", "c" * 64))
    for _ in range(200):
        if cache.lookup("c" * 64) is not None:
            break
        await asyncio.sleep(0.01)
    await sync.stop()
    assert cache.lookup("c" * 64) is not None

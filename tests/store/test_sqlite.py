"""What only the SQLite backend has: a file or memory, a write lock, one connection thread."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING

import pytest

from quotaflow.store import StoreUnavailable, VirtualKey
from quotaflow.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from pathlib import Path

    from quotaflow.clock import ManualClock


async def test_in_memory(clock: ManualClock):
    store = await SqliteStore.open(":memory:", clock=clock)
    try:
        await store.migrate()
        await store.keys.create(VirtualKey("a" * 64))
        assert (await store.keys.list()).items[0].token_hash == "a" * 64
    finally:
        await store.close()


async def test_missing_directories_are_created(tmp_path: Path, clock: ManualClock):
    store = await SqliteStore.open(str(tmp_path / "a" / "b" / "store.db"), clock=clock)
    try:
        assert await store.migrate()
    finally:
        await store.close()


async def test_a_held_write_lock_is_unavailable_and_a_cancelled_write_leaves_no_transaction(
    tmp_path: Path, clock: ManualClock
):
    path = str(tmp_path / "store.db")
    store = await SqliteStore.open(path, clock=clock, busy_timeout_s=0.3)
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        await store.migrate()
        locker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="SQLITE_BUSY"):
            await store.keys.create(VirtualKey("a" * 64))
        assert (await store.keys.list()).items == ()  # readers are not blocked (WAL)

        waiting = asyncio.create_task(store.keys.create(VirtualKey("b" * 64)))
        await asyncio.sleep(0.05)  # its BEGIN IMMEDIATE now waits for the lock in the thread
        waiting.cancel()
        locker.execute("ROLLBACK")
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await store.keys.create(VirtualKey("c" * 64))
        assert [k.token_hash for k in (await store.keys.list()).items] == ["c" * 64]
    finally:
        locker.close()
        await store.close()

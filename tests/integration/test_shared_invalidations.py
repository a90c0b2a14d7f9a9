"""The change log of keys, teams and users in the real Redis, and through an outage."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from quotaflow.auth.invalidations import Change
from quotaflow.auth.shared_invalidations import SharedInvalidations
from quotaflow.clock import SystemClock
from quotaflow.config import RouterSettings
from quotaflow.state import LocalState
from quotaflow.state.redis import RedisState, redis_client
from tests.proxy import TcpProxy
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.integration


@pytest.fixture
async def replica() -> AsyncIterator[Callable[..., object]]:
    require_redis()
    prefix = unique_prefix()
    states: list[RedisState] = []

    async def start(port: int = REDIS_PORT, capacity: int = 100) -> SharedInvalidations:
        settings = RouterSettings(
            redis_host=REDIS_HOST, redis_port=port, redis_key_prefix=prefix, redis_timeout=0.5
        )
        clock = SystemClock()
        local = LocalState(clock, cooldown_s=1, allowed_fails=0)
        state = RedisState(redis_client(settings), local, settings, clock)
        await state.start()
        states.append(state)
        return SharedInvalidations(state, capacity=capacity)

    yield start
    for state in states:
        await state.aclose()


async def test_a_change_published_by_one_replica_is_read_by_another(replica):
    one, two = await replica(), await replica()
    cursor, _ = await two.since(None)
    await one.publish(Change("key", "h1"))
    await one.publish(Change("team", "t1"))

    cursor, changes = await two.since(cursor)
    assert changes == (Change("key", "h1"), Change("team", "t1"))
    assert await two.since(cursor) == (cursor, ())


async def test_a_cursor_the_capped_log_no_longer_reaches_means_reload_everything(replica):
    one = await replica(capacity=3)
    cursor, _ = await one.since(None)
    for n in range(5):
        await one.publish(Change("user", f"u{n}"))
    _, changes = await one.since(cursor)
    assert changes is None


async def test_changes_made_while_redis_is_away_are_published_when_it_is_back(replica):
    async with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        reader = await replica()
        writer = await replica(port=proxy.port)
        cursor, _ = await reader.since(None)
        await proxy.cut()
        await writer.publish(Change("key", "blocked-meanwhile"))  # kept, not lost
        await proxy.restore()
        for _ in range(40):
            _, changes = await reader.since(cursor)
            if changes:
                break
            await asyncio.sleep(0.1)
        assert changes == (Change("key", "blocked-meanwhile"),)

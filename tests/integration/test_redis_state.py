"""``RedisState`` against the real Redis: a fleet's shared view, dead replicas, and outages."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import pytest

from quotaflow.clock import SystemClock
from quotaflow.config import RouterSettings
from quotaflow.errors import UpstreamRateLimited
from quotaflow.state import LocalState
from quotaflow.state.redis import RedisState, redis_client
from tests.contract.test_state_backends import deployment, settled
from tests.proxy import TcpProxy
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.integration


@pytest.fixture
async def fleet() -> AsyncIterator[Callable[..., object]]:
    """Start replicas sharing one key prefix: ``await fleet(port=..., **router_settings)``."""
    require_redis()
    prefix = unique_prefix()
    started: list[RedisState] = []

    async def replica(port: int = REDIS_PORT, **options: object) -> RedisState:
        settings = RouterSettings.model_validate(
            {"redis_host": REDIS_HOST, "redis_port": port, "redis_key_prefix": prefix,
             "cooldown_time": 5.0, "redis_timeout": 0.1, **options}
        )  # fmt: skip
        clock = SystemClock()
        local = LocalState(clock, cooldown_s=5.0, allowed_fails=0)
        state = RedisState(redis_client(settings), local, settings, clock)
        await state.start()
        started.append(state)
        return state

    yield replica
    for state in started:
        await state.aclose()


async def test_replicas_see_each_others_calls_in_flight(fleet):
    one, two = await fleet(), await fleet()
    a, b = deployment("a"), deployment("b")
    held = [await one.claim(a, [a, b], 1, enforce=False) for _ in range(3)]

    claim = await two.claim(b, [a, b], 1, enforce=False)

    assert claim is not None
    assert two.health.in_flight("a") == 3  # the other replica's calls
    assert two.health.in_flight("b") == 1  # its own
    for c in held:
        assert c is not None
        one.release(c)
    await settled(one)
    await two.claim(b, [a, b], 1, enforce=False)
    assert two.health.in_flight("a") == 0


async def test_a_cooldown_set_by_one_replica_holds_for_the_others_at_once(fleet):
    one, two = await fleet(), await fleet()
    d = deployment("a")
    claim = await one.claim(d, [d], 1, enforce=False)
    assert claim is not None
    one.settle(claim, UpstreamRateLimited("slow down", retry_after_s=2.0))
    one.release(claim)
    await settled(one)

    assert await two.claim(d, [d], 1, enforce=False) is None  # refused in the same round trip
    assert two.health.cooling_until("a") > time.monotonic() + 1.5


async def test_the_quota_holds_for_the_fleet_not_per_replica(fleet):
    replicas = [await fleet() for _ in range(3)]
    d = deployment("a", rpm=60)  # 10 per 10 s for the whole fleet
    results = await asyncio.gather(
        *(replicas[i % 3].claim(d, [d], 1, enforce=True) for i in range(30))
    )
    assert sum(r is not None for r in results) == 10


async def test_a_dead_replicas_leases_expire(fleet):
    survivor = await fleet(state_lease_seconds=0.6)
    doomed = await fleet(state_lease_seconds=0.6)
    d = deployment("a")
    for _ in range(4):
        assert await doomed.claim(d, [d], 1, enforce=False) is not None
    # kill -9: no release, no leaving, no more heartbeats.
    assert doomed._beat is not None
    doomed._beat.cancel()
    doomed._open.clear()

    await survivor.claim(d, [d], 1, enforce=False)
    assert survivor.health.in_flight("a") == 5
    await asyncio.sleep(0.7)
    await survivor.claim(d, [d], 1, enforce=False)
    assert survivor.health.in_flight("a") == 2  # its own two; the dead one's are gone


async def test_leases_of_a_live_replica_are_renewed(fleet):
    one = await fleet(state_lease_seconds=0.6)
    two = await fleet(state_lease_seconds=0.6)
    d = deployment("a")
    assert await one.claim(d, [d], 1, enforce=False) is not None  # a long call
    await asyncio.sleep(1.0)
    await two.claim(d, [d], 1, enforce=False)
    assert two.health.in_flight("a") == 2


async def test_redis_down_never_fails_a_claim_and_the_replica_rejoins(fleet, caplog):
    caplog.set_level(logging.WARNING, logger="quotaflow.state")
    async with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        other = await fleet()
        replica = await fleet(port=proxy.port)
        await asyncio.sleep(1.1)  # a heartbeat: both see two replicas
        d = deployment("a", rpm=60)  # 10 per 10 s
        await proxy.cut()

        results = [await replica.claim(d, [d], 1, enforce=True) for _ in range(10)]

        assert replica.status().degraded
        # Alone, it takes its share: half of the 10 for each of two replicas.
        assert sum(r is not None for r in results) == 5
        assert len([r for r in caplog.records if "unreachable" in r.message]) == 1

        await proxy.restore()
        for _ in range(30):
            await asyncio.sleep(0.1)
            if not replica.status().degraded:
                break
        assert not replica.status().degraded
        # What it sent alone now counts for the fleet.
        granted = [await other.claim(d, [d], 1, enforce=True) for _ in range(10)]
        assert sum(r is not None for r in granted) == 5


async def test_a_hanging_redis_costs_a_claim_at_most_the_timeout(fleet):
    async with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        replica = await fleet(port=proxy.port, redis_timeout=0.1)
        await proxy.hang()
        d = deployment("a")

        started = time.monotonic()
        claim = await replica.claim(d, [d], 1, enforce=False)
        first = time.monotonic() - started
        started = time.monotonic()
        await replica.claim(d, [d], 1, enforce=False)
        second = time.monotonic() - started

        assert claim is not None
        assert first < 0.2
        assert second < 0.05  # degraded: no more waiting on Redis
        assert replica.status().degraded


async def test_redis_unreachable_at_start_starts_degraded(fleet):
    async with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        port = proxy.port
        await proxy.cut()
        replica = await fleet(port=port)
        assert replica.status().degraded
        d = deployment("a")
        assert await replica.claim(d, [d], 1, enforce=False) is not None

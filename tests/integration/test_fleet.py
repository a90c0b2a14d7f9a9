"""Three gateway processes, one real Redis, fake upstreams that count what they receive."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis

from quotaflow.fake import FakeFault, FaultKind
from tests.integration.fleet import own_redis, running_fleet
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix
from tests.support import Stack, two_region_settings

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def fleet_settings(regions: list[Any], prefix: str, port: int = REDIS_PORT, **router: Any):
    settings = two_region_settings(regions, **router)
    settings["router_settings"].update(
        redis_host=REDIS_HOST, redis_port=port, redis_key_prefix=prefix
    )
    return settings


async def test_the_fleet_never_sends_a_deployment_more_than_its_quota(stack: Stack, tmp_path: Path):
    require_redis()
    regions = [await stack.region(name, rpm=60) for name in ("france", "sweden")]  # 10 per 10 s
    settings = fleet_settings(
        regions, unique_prefix(), routing_strategy="quota-aware", queue_timeout=0
    )
    for entry in settings["model_list"]:
        entry["litellm_params"]["rpm"] = 60
    async with running_fleet(settings, tmp_path, size=3) as fleet:
        statuses = await asyncio.gather(*(fleet.chat(i % 3) for i in range(60)))

    assert statuses.count(200) == 20  # every request each region allows, no more
    assert statuses.count(429) == 40  # the rest told at once, by the gateway
    for region in regions:
        assert region.app.stats.statuses.get(429, 0) == 0  # no upstream ever refused one
        assert region.app.stats.requests["chat"] == 10


async def test_least_busy_balances_the_fleets_calls_in_flight(stack: Stack, tmp_path: Path):
    require_redis()
    regions = [await stack.region(name, latency_ms=150) for name in ("france", "sweden")]
    settings = fleet_settings(regions, unique_prefix(), routing_strategy="least-busy")
    samples: list[tuple[int, int]] = []
    async with running_fleet(settings, tmp_path, size=3) as fleet:

        async def client(replica: int) -> None:
            for _ in range(8):
                assert await fleet.chat(replica) == 200

        async def watch() -> None:
            while True:
                samples.append((regions[0].app.stats.in_flight, regions[1].app.stats.in_flight))
                await asyncio.sleep(0.01)

        watcher = asyncio.ensure_future(watch())
        await asyncio.gather(*(client(i % 3) for i in range(24)))
        watcher.cancel()

    counts = [region.app.stats.requests["chat"] for region in regions]
    assert sum(counts) == 24 * 8
    # Whenever (nearly) all 24 calls are in flight, the two regions hold nearly as many each.
    busy = [abs(a - b) for a, b in samples if a + b >= 22]
    assert len(busy) > 10
    assert max(busy) <= 3  # measured: at most 2 apart (a loaded machine may add one)
    peaks = [region.app.stats.peak_in_flight for region in regions]
    assert abs(peaks[0] - peaks[1]) <= 2


async def test_a_cooldown_seen_through_one_replica_holds_for_the_others(
    stack: Stack, tmp_path: Path
):
    require_redis()
    france, sweden = [await stack.region(name) for name in ("france", "sweden")]
    france.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30, times=1))
    settings = fleet_settings([france, sweden], unique_prefix(), routing_strategy="least-busy")
    async with running_fleet(settings, tmp_path, size=3) as fleet:
        while france.app.stats.requests["chat"] == 0:  # until replica 0 has met the 429
            assert await fleet.chat(0) == 200
        statuses = await asyncio.gather(*(fleet.chat(1 + i % 2) for i in range(20)))

    assert statuses == [200] * 20
    assert france.app.stats.requests["chat"] == 1  # the others never tried it again


async def test_a_killed_replica_leaks_no_in_flight_count(stack: Stack, tmp_path: Path):
    require_redis()
    regions = [await stack.region(name, latency_ms=2000) for name in ("france", "sweden")]
    prefix = unique_prefix()
    settings = fleet_settings(regions, prefix, state_lease_seconds=1.5)
    redis = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)

    try:
        async with running_fleet(settings, tmp_path, size=3) as fleet:
            calls = [asyncio.ensure_future(fleet.chat(2)) for _ in range(10)]
            survivors = [asyncio.ensure_future(fleet.chat(i % 2)) for i in range(4)]
            assert await _eventually_leases(redis, prefix, 14)
            os.kill(fleet.processes[2].pid, signal.SIGKILL)
            await fleet.processes[2].wait()
            await asyncio.gather(*calls, return_exceptions=True)
            assert await asyncio.gather(*survivors) == [200] * 4
            await asyncio.sleep(2.0)  # longer than a lease
            assert await _live_leases(redis, prefix) == 0
    finally:
        await redis.aclose()


async def test_redis_dying_mid_traffic_fails_no_request_and_the_fleet_recovers(
    stack: Stack, tmp_path: Path
):
    regions = [await stack.region(name, latency_ms=20) for name in ("france", "sweden")]
    async with own_redis() as server:
        settings = fleet_settings(regions, unique_prefix(), server.port, redis_timeout=0.1)
        async with running_fleet(settings, tmp_path, size=3) as fleet:
            statuses: list[int] = []
            stop = asyncio.Event()

            async def client(replica: int) -> None:
                while not stop.is_set():
                    statuses.append(await fleet.chat(replica))

            clients = [asyncio.ensure_future(client(i % 3)) for i in range(6)]
            await asyncio.sleep(0.5)
            await server.kill()
            await asyncio.sleep(1.5)
            degraded = await _readiness(fleet)
            await server.start()
            await asyncio.sleep(1.5)
            recovered = await _readiness(fleet)
            stop.set()
            await asyncio.gather(*clients)

    assert len(statuses) > 50
    assert set(statuses) == {200}
    assert all(detail["state"]["degraded"] for detail in degraded)
    assert not any(detail["state"]["degraded"] for detail in recovered)


async def _readiness(fleet: Any) -> list[dict[str, Any]]:
    details = []
    for url in fleet.urls:
        async with fleet.session.get(url + "/health/readiness") as response:
            assert response.status == 200  # degraded is still ready: it serves
            details.append(await response.json())
    return details


async def test_sigterm_finishes_calls_in_flight_and_gives_back_their_leases(
    stack: Stack, tmp_path: Path
):
    require_redis()
    regions = [await stack.region(name, latency_ms=1000) for name in ("france", "sweden")]
    prefix = unique_prefix()
    settings = fleet_settings(regions, prefix, state_lease_seconds=30)
    redis = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        async with running_fleet(settings, tmp_path, size=2) as fleet:
            calls = [asyncio.ensure_future(fleet.chat(1)) for _ in range(6)]
            assert await _eventually_leases(redis, prefix, 6)
            fleet.processes[1].send_signal(signal.SIGTERM)

            assert await asyncio.gather(*calls) == [200] * 6  # finished, not cut
            # uvicorn re-raises the signal once shut down, so the exit status names it.
            assert await asyncio.wait_for(fleet.processes[1].wait(), 10) in {0, -signal.SIGTERM}
            assert await _live_leases(redis, prefix) == 0  # at once, not after 30 s
            assert await fleet.chat(0) == 200
    finally:
        await redis.aclose()


async def _live_leases(redis: aioredis.Redis, prefix: str) -> int:
    """Leases not yet expired: the calls the fleet counts in flight."""
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    keys = [key async for key in redis.scan_iter(match=f"{{{prefix}}}:lease:*")]
    return sum([await redis.zcount(key, now_ms, "+inf") for key in keys])


async def _eventually_leases(redis: aioredis.Redis, prefix: str, wanted: int) -> bool:
    """Whether the fleet counts ``wanted`` calls in flight within a few seconds."""
    for _ in range(60):
        if await _live_leases(redis, prefix) == wanted:
            return True
        await asyncio.sleep(0.05)
    return False

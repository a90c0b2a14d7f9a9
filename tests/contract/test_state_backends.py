"""One suite for every ``StateBackend``: the in-process one and Redis.

Both run on the real clock (Redis keeps time itself), with windows and cooldowns short enough
to watch them pass.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import pytest

from quotaflow.clock import SystemClock
from quotaflow.config import RouterSettings
from quotaflow.errors import UpstreamRateLimited, UpstreamUnavailable
from quotaflow.routing.deployment import Deployment
from quotaflow.state import LocalState, StateBackend
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def deployment(name: str, *, rpm: int | None = None, tpm: int | None = None) -> Deployment:
    return Deployment(
        id=name,
        model_group="g",
        provider="azure",
        upstream_model="gpt-4o",
        api_base="http://127.0.0.1:1",
        rpm=rpm,
        tpm=tpm,
    )


async def settled(backend: StateBackend) -> None:
    """Let background releases reach the shared state."""
    tasks = getattr(backend, "_tasks", ())
    if tasks:
        await asyncio.gather(*tasks)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    clock = SystemClock()
    settings = RouterSettings(
        cooldown_time=0.2, redis_host=REDIS_HOST, redis_port=REDIS_PORT,
        redis_key_prefix=unique_prefix(), redis_timeout=1.0,
    )  # fmt: skip
    local = LocalState(clock, cooldown_s=0.2, allowed_fails=0)
    if request.param == "memory":
        yield local
        return
    require_redis()
    from quotaflow.state.redis import RedisState, redis_client  # noqa: PLC0415

    shared = RedisState(redis_client(settings), local, settings, clock)
    await shared.start()
    try:
        yield shared
    finally:
        await shared.aclose()


async def test_a_claim_counts_in_flight_until_released(backend: StateBackend):
    a, b = deployment("a"), deployment("b")
    first = await backend.claim(a, [a, b], 10, enforce=False)
    second = await backend.claim(a, [a, b], 10, enforce=False)
    assert first is not None
    assert second is not None
    assert backend.health.in_flight("a") == 2
    assert backend.health.in_flight("b") == 0

    backend.release(first)
    backend.release(second)
    await settled(backend)

    assert backend.health.in_flight("a") == 0


async def test_rpm_is_enforced_per_ten_seconds(backend: StateBackend):
    d = deployment("a", rpm=30)  # 5 per 10 s
    granted = [await backend.claim(d, [d], 1, enforce=True) for _ in range(7)]

    assert sum(claim is not None for claim in granted) == 5
    headroom = backend.usage.headroom(d, 1)
    assert 9.0 < headroom.wait_s <= 10.0


async def test_tpm_is_enforced_and_a_call_larger_than_the_quota_never_fits(backend: StateBackend):
    d = deployment("a", tpm=1000)
    assert await backend.claim(d, [d], 400, enforce=True) is not None
    assert await backend.claim(d, [d], 400, enforce=True) is not None
    assert await backend.claim(d, [d], 400, enforce=True) is None
    assert 59.0 < backend.usage.headroom(d, 400).wait_s <= 60.0

    assert await backend.claim(d, [d], 5000, enforce=True) is None
    assert math.isinf(backend.usage.headroom(d, 5000).wait_s)


async def test_without_enforcement_quota_is_counted_but_not_refused(backend: StateBackend):
    d = deployment("a", rpm=6)  # 1 per 10 s
    assert await backend.claim(d, [d], 1, enforce=False) is not None
    assert await backend.claim(d, [d], 1, enforce=False) is not None
    assert await backend.claim(d, [d], 1, enforce=True) is None


async def test_a_refused_call_gives_its_charge_back(backend: StateBackend):
    d = deployment("a", tpm=1000)
    claim = await backend.claim(d, [d], 800, enforce=True)
    assert claim is not None
    assert await backend.claim(d, [d], 800, enforce=True) is None

    backend.settle(claim, UpstreamRateLimited("slow down", retry_after_s=0.0))
    backend.release(claim)
    await settled(backend)

    assert await backend.claim(d, [d], 800, enforce=True) is not None


async def test_a_failure_cools_the_deployment_down_for_its_retry_after(backend: StateBackend):
    d = deployment("a")
    claim = await backend.claim(d, [d], 1, enforce=False)
    assert claim is not None
    backend.settle(claim, UpstreamRateLimited("slow down", retry_after_s=0.3))
    backend.release(claim)
    await settled(backend)

    assert await backend.claim(d, [d], 1, enforce=False) is None
    await asyncio.sleep(0.35)
    assert await backend.claim(d, [d], 1, enforce=False) is not None


async def test_an_unavailable_upstream_cools_down_for_cooldown_time(backend: StateBackend):
    d = deployment("a")
    claim = await backend.claim(d, [d], 1, enforce=False)
    assert claim is not None
    backend.settle(claim, UpstreamUnavailable("down"))
    backend.release(claim)
    await settled(backend)

    assert backend.health.cooling_until("a") > 0
    assert await backend.claim(d, [d], 1, enforce=False) is None
    await asyncio.sleep(0.25)
    assert await backend.claim(d, [d], 1, enforce=False) is not None


async def test_latency_is_averaged_from_successes(backend: StateBackend):
    d = deployment("a")
    for latency in (0.1, 0.2):
        claim = await backend.claim(d, [d], 1, enforce=False)
        assert claim is not None
        backend.settle(claim, latency_s=latency)
        backend.release(claim)
        await settled(backend)
    await backend.claim(d, [d], 1, enforce=False)  # reads the fleet's view back

    average = backend.health.latency("a")
    assert average is not None
    assert average == pytest.approx(0.12, abs=0.001)


async def test_the_status_names_the_backend(backend: StateBackend):
    status = backend.status()
    assert status.backend in {"memory", "redis"}
    assert not status.degraded
    assert status.replicas == 1

"""Background probes of three replicas sharing one Redis: each deployment once per interval."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from quotaflow.app import build_router, build_state
from quotaflow.clock import SystemClock
from quotaflow.config import load_settings
from quotaflow.observability.probe import HealthProbes, LocalProbeLease, SharedProbeLease
from quotaflow.providers import UpstreamClient
from quotaflow.state.redis import RedisState
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix
from tests.support import Stack, two_region_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.integration

INTERVAL_S = 0.4
RUN_S = 2.0  # five intervals
REPLICAS = 3


async def replica(stack: Stack, settings) -> HealthProbes:
    """One replica's router on the shared Redis, and its probes (started)."""
    clock = SystemClock()
    state = build_state(settings, clock)
    assert isinstance(state, RedisState)
    client = await stack.enter(UpstreamClient())
    router = build_router(settings, client, clock=clock, state=state)
    await state.start()
    await stack.enter(contextlib.aclosing(state))
    lease = SharedProbeLease(state, LocalProbeLease(clock, INTERVAL_S), INTERVAL_S)
    probes = HealthProbes(router, client, clock, lease, interval_s=INTERVAL_S)
    await stack.enter(stopping(probes))
    return probes


@contextlib.asynccontextmanager
async def stopping(probes: HealthProbes) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await probes.stop()


async def test_three_replicas_probe_each_deployment_once_per_interval(stack: Stack):
    require_redis()
    sweden, france = await stack.region("sweden"), await stack.region("france")
    data = two_region_settings(
        [sweden, france],
        redis_host=REDIS_HOST,
        redis_port=REDIS_PORT,
        redis_key_prefix=unique_prefix(),
    )
    settings = load_settings(data=data, environ={}).settings
    fleet = [await replica(stack, settings) for _ in range(REPLICAS)]

    for probes in fleet:
        probes.start()
    await asyncio.sleep(RUN_S)
    for probes in fleet:
        await probes.stop()

    probed: Counter[str] = Counter()
    for probes in fleet:
        for (deployment_id, outcome), count in probes.counts.items():
            assert outcome == "ok"
            probed[deployment_id] += count
    assert len(probed) == 4  # both regions' chat and embedding deployments
    turns = math.floor(RUN_S / INTERVAL_S) + 1  # at 0, 0.4, … 2.0 at the very most
    for deployment_id, count in probed.items():
        assert turns - 2 <= count <= turns, (deployment_id, count)  # alone, each would do this
    assert sum(probed.values()) == sum(
        sum(region.app.stats.requests.values()) for region in (sweden, france)
    )
    # The turns went round: more than one replica probed.
    assert sum(1 for probes in fleet if probes.counts) > 1

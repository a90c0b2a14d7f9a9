"""Key limits and budgets shared by replicas through the real Redis, and through an outage."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from quotaflow.clock import SystemClock
from quotaflow.config import RouterSettings
from quotaflow.limits.counters import AdmitRequest, Budget, ScopeLimits
from quotaflow.limits.shared import SharedLimitCounters
from quotaflow.state import LocalState
from quotaflow.state.redis import RedisState, redis_client
from tests.proxy import TcpProxy
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.integration

_ids = itertools.count()


def request(*scopes: ScopeLimits, cost: str = "0.30") -> AdmitRequest:
    return AdmitRequest(f"t{next(_ids)}", scopes, 10, Decimal(cost))


@pytest.fixture
async def replicas() -> AsyncIterator[Callable[..., object]]:
    require_redis()
    prefix = unique_prefix()
    states: list[RedisState] = []

    async def replica(port: int = REDIS_PORT) -> SharedLimitCounters:
        settings = RouterSettings(
            redis_host=REDIS_HOST, redis_port=port, redis_key_prefix=prefix, redis_timeout=0.1
        )
        clock = SystemClock()
        state = RedisState(
            redis_client(settings),
            LocalState(clock, cooldown_s=1, allowed_fails=0),
            settings,
            clock,
        )
        await state.start()
        states.append(state)
        return SharedLimitCounters(state, clock)

    yield replica
    for state in states:
        await state.aclose()


async def test_a_budget_holds_across_replicas_within_one_reservation(replicas):
    fleet = [await replicas() for _ in range(3)]
    scope = ScopeLimits("key:k", budget=Budget("key:k@0", Decimal("1.00")))

    async def call(counters: SharedLimitCounters) -> bool:
        admission = await counters.admit(request(scope, cost="0.30"))
        if admission.ticket is None:
            return False
        await asyncio.sleep(0.01)
        await counters.settle(admission.ticket, 10, Decimal("0.30"))
        return True

    results = await asyncio.gather(*(call(fleet[i % 3]) for i in range(30)))
    spent = (await fleet[0].spent(["key:k@0"]))[0]

    assert spent == Decimal("0.30") * sum(results)
    assert spent - Decimal("1.00") <= Decimal("0.30")  # past the budget by one reservation at most
    assert sum(results) >= 4


async def test_rpm_holds_across_replicas(replicas):
    fleet = [await replicas() for _ in range(3)]
    scope = ScopeLimits("key:r", rpm=10)
    admissions = await asyncio.gather(*(fleet[i % 3].admit(request(scope)) for i in range(30)))
    assert sum(a.ticket is not None for a in admissions) == 10


async def test_spend_during_an_outage_reaches_the_shared_counter_when_it_is_back(replicas):
    async with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        other = await replicas()
        counters = await replicas(port=proxy.port)
        await asyncio.sleep(1.1)  # a heartbeat: two replicas seen
        scope = ScopeLimits("key:o", budget=Budget("key:o@0", Decimal("10.00")), rpm=100)
        first = await counters.admit(request(scope, cost="1.00"))
        assert first.ticket is not None
        await proxy.cut()

        await counters.settle(first.ticket, 10, Decimal("1.00"))  # admitted together, settled alone
        alone = [await counters.admit(request(scope, cost="1.00")) for _ in range(8)]
        admitted = [a.ticket for a in alone if a.ticket is not None]
        # Alone, it may reserve half (two replicas) of the 10.00 it last saw left: 5.00.
        assert len(admitted) == 5
        for ticket in admitted:
            await counters.settle(ticket, 10, Decimal("0.50"))

        await proxy.restore()
        for _ in range(30):
            await asyncio.sleep(0.1)
            if not counters._shared.degraded:
                break
        assert (await other.spent(["key:o@0"]))[0] == Decimal("1.00") + Decimal("0.50") * 5

"""The ``LimitCounters`` contract: every implementation passes these cases.

The ``counters`` fixture is parametrized by implementation; each case gets fresh counters and
the ``ManualClock`` they read. To add one, extend ``_FACTORIES`` with an async context manager
that yields ``LimitCounters`` for a clock (a Redis one would flush its key prefix first).
"""

from __future__ import annotations

import contextlib
import itertools
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from quotaflow.clock import ManualClock
from quotaflow.config import RouterSettings
from quotaflow.limits.counters import AdmitRequest, Budget, LimitCounters, ScopeLimits
from quotaflow.limits.memory import MemoryLimitCounters
from quotaflow.limits.shared import SharedLimitCounters
from quotaflow.state import LocalState
from quotaflow.state.redis import RedisState, redis_client
from tests.services import REDIS_HOST, REDIS_PORT, require_redis, unique_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from quotaflow.limits.counters import Admission, Ticket

# The wall clock starts on a whole second, so windows are easy to reason about.
START = 1_760_000_000.0


@contextlib.asynccontextmanager
async def _memory(clock: ManualClock) -> AsyncIterator[LimitCounters]:
    yield MemoryLimitCounters(clock)


@contextlib.asynccontextmanager
async def _redis(clock: ManualClock) -> AsyncIterator[LimitCounters]:
    require_redis()
    settings = RouterSettings(
        redis_host=REDIS_HOST,
        redis_port=REDIS_PORT,
        redis_key_prefix=unique_prefix(),
        redis_timeout=1.0,
    )
    local = LocalState(clock, cooldown_s=1.0, allowed_fails=0)
    shared = RedisState(redis_client(settings), local, settings, clock)
    await shared.start()
    try:
        yield SharedLimitCounters(shared, clock)
    finally:
        await shared.aclose()


_FACTORIES: dict[
    str, Callable[[ManualClock], contextlib.AbstractAsyncContextManager[LimitCounters]]
]
_FACTORIES = {"memory": _memory, "redis": _redis}


class Harness:
    """Counters, their clock, and helpers that build requests."""

    def __init__(self, counters: LimitCounters, clock: ManualClock) -> None:
        self.counters = counters
        self.clock = clock
        self._ids = itertools.count(1)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def admit(
        self,
        *scopes: ScopeLimits,
        tokens: int = 0,
        cost: str = "0",
        lease_ttl_s: float = 600.0,
    ) -> Admission:
        request = AdmitRequest(
            f"t{next(self._ids)}", scopes, tokens, Decimal(cost), lease_ttl_s=lease_ttl_s
        )
        return await self.counters.admit(request)

    async def ticket(self, *scopes: ScopeLimits, **kwargs) -> Ticket:
        admission = await self.admit(*scopes, **kwargs)
        assert admission.refusal is None, admission.refusal
        assert admission.ticket is not None
        return admission.ticket


@pytest.fixture(params=sorted(_FACTORIES))
async def h(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = ManualClock(start=1_000.0, wall_start=START)
    async with _FACTORIES[request.param](clock) as counters:
        yield Harness(counters, clock)


def budget(max_usd: str, counter: str = "key:a@0", end: float | None = None) -> Budget:
    return Budget(counter, Decimal(max_usd), end)


# rpm


async def test_rpm_admits_up_to_the_limit_then_refuses_with_retry_after(h: Harness):
    scope = ScopeLimits("key:a", rpm=3)
    remaining = [(await h.admit(scope)).remaining[0].requests for _ in range(3)]
    assert remaining == [2, 1, 0]
    h.advance(20.25)
    refused = await h.admit(scope)
    assert refused.ticket is None
    assert refused.refusal is not None
    assert refused.refusal.kind == "rpm"
    assert refused.refusal.index == 0
    assert refused.refusal.retry_after_s == pytest.approx(60 - 20.25)


async def test_rpm_window_slides_by_whole_seconds(h: Harness):
    scope = ScopeLimits("key:a", rpm=3)
    await h.ticket(scope)
    await h.ticket(scope)
    h.advance(30.5)
    await h.ticket(scope)
    h.advance(29.0)  # 59.5 s after the first two
    assert (await h.admit(scope)).refusal is not None
    h.advance(0.5)  # second 0 left the window at 60.0
    second = await h.admit(scope)
    assert second.refusal is None
    assert second.remaining[0].requests == 1  # second 30's call and this one
    assert (await h.admit(scope)).refusal is None
    refusal = (await h.admit(scope)).refusal
    assert refusal is not None
    assert refusal.retry_after_s == pytest.approx(30.0)  # second 30 leaves at 90


async def test_rpm_zero_refuses_everything(h: Harness):
    refusal = (await h.admit(ScopeLimits("key:a", rpm=0))).refusal
    assert refusal is not None
    assert refusal.kind == "rpm"
    assert refusal.retry_after_s == 60.0


# tpm


async def test_tpm_admits_while_the_window_is_below_the_limit(h: Harness):
    scope = ScopeLimits("key:a", tpm=150)
    first = await h.admit(scope, tokens=100)
    assert first.remaining[0].tokens == 50
    second = await h.admit(scope, tokens=100)
    assert second.refusal is None
    assert second.remaining[0].tokens == 0
    h.advance(5)
    refusal = (await h.admit(scope, tokens=1)).refusal
    assert refusal is not None
    assert refusal.kind == "tpm"
    assert refusal.retry_after_s == pytest.approx(55.0)


async def test_settle_replaces_the_token_estimate(h: Harness):
    scope = ScopeLimits("key:a", tpm=150)
    big = await h.ticket(scope, tokens=100)
    await h.ticket(scope, tokens=100)
    await h.counters.settle(big, 10, Decimal(0))
    admitted = await h.admit(scope, tokens=10)  # 110 < 150
    assert admitted.refusal is None
    assert admitted.remaining[0].tokens == 150 - 120


async def test_settle_never_drives_a_second_below_zero(h: Harness):
    scope = ScopeLimits("key:a", tpm=100)
    ticket = await h.ticket(scope, tokens=10)
    await h.counters.settle(ticket, 0, Decimal(0))
    other = await h.ticket(scope, tokens=5)
    await h.counters.settle(other, 0, Decimal(0))
    assert (await h.admit(scope, tokens=0)).remaining[0].tokens == 100


async def test_settle_after_the_window_moved_on_changes_nothing(h: Harness):
    scope = ScopeLimits("key:a", tpm=100)
    ticket = await h.ticket(scope, tokens=90)
    h.advance(61)
    await h.counters.settle(ticket, 500, Decimal(0))
    assert (await h.admit(scope, tokens=1)).remaining[0].tokens == 99


# parallel


async def test_parallel_counts_leases_until_settled(h: Harness):
    scope = ScopeLimits("key:a", parallel=2)
    first = await h.ticket(scope)
    await h.ticket(scope)
    refusal = (await h.admit(scope)).refusal
    assert refusal is not None
    assert refusal.kind == "parallel"
    assert refusal.retry_after_s == 1.0
    await h.counters.settle(first, 0, Decimal(0))
    assert (await h.admit(scope)).refusal is None


async def test_an_unsettled_lease_expires(h: Harness):
    scope = ScopeLimits("key:a", parallel=1)
    await h.ticket(scope, lease_ttl_s=30)
    h.advance(29.9)
    assert (await h.admit(scope)).refusal is not None
    h.advance(0.1)
    assert (await h.admit(scope)).refusal is None


# budgets


async def test_budget_admits_while_spent_plus_reserved_is_below_the_limit(h: Harness):
    scope = ScopeLimits("key:a", budget=budget("1.00", end=START + 3600))
    tickets = [await h.ticket(scope, cost="0.40") for _ in range(3)]  # 0, 0.4, 0.8 < 1
    refused = await h.admit(scope, cost="0.01")
    assert refused.refusal is not None
    assert refused.refusal.kind == "budget"
    assert refused.refusal.spent_usd == Decimal(0)
    assert refused.refusal.reserved_usd == Decimal("1.20")
    assert refused.refusal.retry_after_s == pytest.approx(3600.0)
    await h.counters.settle(tickets[0], 100, Decimal("0.10"))
    assert await h.counters.spent(["key:a@0"]) == [Decimal("0.10")]
    assert (await h.admit(scope, cost="0.40")).refusal is None  # 0.10 + 0.80 < 1


async def test_spend_passes_the_budget_by_at_most_one_reservation(h: Harness):
    scope = ScopeLimits("key:a", budget=budget("1.00"))
    admitted = []
    for _ in range(10):
        admission = await h.admit(scope, cost="0.30")
        if admission.ticket is not None:
            admitted.append(admission.ticket)
    assert len(admitted) == 4  # 0, 0.3, 0.6, 0.9 < 1
    for ticket in admitted:
        await h.counters.settle(ticket, 0, Decimal("0.30"))
    (spent,) = await h.counters.spent(["key:a@0"])
    assert spent == Decimal("1.20")
    assert spent - Decimal("1.00") <= Decimal("0.30")
    refusal = (await h.admit(scope)).refusal
    assert refusal is not None
    assert refusal.spent_usd == Decimal("1.20")
    assert refusal.reserved_usd == Decimal(0)
    assert refusal.retry_after_s is None  # this budget never resets


async def test_zero_budget_refuses_even_free_calls(h: Harness):
    refusal = (await h.admit(ScopeLimits("key:a", budget=budget("0")))).refusal
    assert refusal is not None
    assert refusal.kind == "budget"


async def test_expired_reservation_frees_the_budget_but_settle_still_counts(h: Harness):
    scope = ScopeLimits("key:a", budget=budget("1.00"))
    ticket = await h.ticket(scope, cost="1.00", lease_ttl_s=10)
    assert (await h.admit(scope)).refusal is not None
    h.advance(10)
    late = await h.ticket(scope, cost="0.50")
    await h.counters.settle(ticket, 0, Decimal("0.25"))
    await h.counters.settle(late, 0, Decimal("0.25"))
    assert await h.counters.spent(["key:a@0"]) == [Decimal("0.50")]


async def test_a_new_period_is_a_new_counter(h: Harness):
    old = ScopeLimits("key:a", budget=budget("1.00", counter="key:a@100"))
    ticket = await h.ticket(old, cost="0.50")
    await h.counters.settle(ticket, 0, Decimal("2.00"))
    assert (await h.admit(old)).refusal is not None
    new = ScopeLimits("key:a", budget=budget("1.00", counter="key:a@200"))
    assert (await h.admit(new)).refusal is None
    assert await h.counters.spent(["key:a@100", "key:a@200"]) == [Decimal("2.00"), Decimal(0)]


async def test_seed_sets_only_a_counter_without_state(h: Harness):
    assert await h.counters.seed("key:a@0", Decimal("0.75"))
    assert not await h.counters.seed("key:a@0", Decimal("5"))
    scope = ScopeLimits("key:a", budget=budget("1.00"))
    ticket = await h.ticket(scope, cost="0.10")
    await h.counters.settle(ticket, 0, Decimal("0.30"))
    assert await h.counters.spent(["key:a@0"]) == [Decimal("1.05")]
    assert (await h.admit(scope)).refusal is not None
    assert not await h.counters.seed("key:a@0", Decimal(0))


async def test_spent_of_an_unknown_counter_is_zero(h: Harness):
    assert await h.counters.spent(["nobody@0"]) == [Decimal(0)]


# several scopes


async def test_admission_is_all_or_nothing(h: Harness):
    key = ScopeLimits("key:a", rpm=10, tpm=1000, parallel=5, budget=budget("5", "key:a@0"))
    team = ScopeLimits("team:t", rpm=1)
    await h.ticket(key, team, tokens=10, cost="1")
    refused = await h.admit(key, team, tokens=10, cost="1")
    assert refused.refusal is not None
    assert (refused.refusal.index, refused.refusal.kind) == (1, "rpm")
    alone = await h.admit(key, tokens=10, cost="1")  # the refused call was counted nowhere
    assert alone.remaining[0] is not None
    assert alone.remaining[0].requests == 8
    assert alone.remaining[0].tokens == 980


async def test_first_failing_scope_and_limit_win(h: Harness):
    key = ScopeLimits("key:a", rpm=0, budget=budget("0", "key:a@0"))
    team = ScopeLimits("team:t", rpm=0)
    refusal = (await h.admit(key, team)).refusal
    assert refusal is not None
    assert (refusal.index, refusal.kind) == (0, "budget")


async def test_remaining_is_reported_per_scope(h: Harness):
    admission = await h.admit(
        ScopeLimits("key:a", rpm=5), ScopeLimits("team:t"), ScopeLimits("user:u", tpm=50), tokens=7
    )
    assert [(r.requests, r.tokens) for r in admission.remaining] == [
        (4, None),
        (None, None),
        (None, 43),
    ]


async def test_settle_twice_counts_once(h: Harness):
    scope = ScopeLimits("key:a", parallel=1, budget=budget("10"))
    ticket = await h.ticket(scope, cost="1")
    await h.counters.settle(ticket, 0, Decimal("1"))
    await h.ticket(scope)  # the lease was released once...
    await h.counters.settle(ticket, 0, Decimal("1"))  # ...and not again
    assert (await h.admit(scope)).refusal is not None
    assert await h.counters.spent(["key:a@0"]) == [Decimal("1")]


async def test_scopes_without_limits_are_admitted(h: Harness):
    admission = await h.admit(ScopeLimits("key:a"), tokens=10**9, cost="1000")
    assert admission.ticket is not None
    assert admission.remaining[0].requests is None
    assert admission.remaining[0].tokens is None

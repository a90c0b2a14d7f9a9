"""Each of N processes without shared state takes 1/N of every limit and of each budget."""

from __future__ import annotations

import itertools
from decimal import Decimal

from quotaflow.clock import ManualClock
from quotaflow.limits.counters import AdmitRequest, Budget, ScopeLimits
from quotaflow.limits.memory import MemoryLimitCounters
from quotaflow.limits.partial import PartialLimitCounters

_ids = itertools.count()


def request(scope: ScopeLimits, cost: str = "0") -> AdmitRequest:
    return AdmitRequest(f"t{next(_ids)}", (scope,), 1, Decimal(cost))


async def test_rpm_and_parallel_are_split_between_the_workers():
    counters = PartialLimitCounters(MemoryLimitCounters(ManualClock()), lambda: 1 / 4)
    scope = ScopeLimits("key:k", rpm=20, parallel=8)
    admissions = [await counters.admit(request(scope)) for _ in range(10)]
    assert sum(a.ticket is not None for a in admissions) == 2  # parallel 8 / 4 workers


async def test_a_budget_share_is_taken_above_what_was_spent_before():
    counters = PartialLimitCounters(MemoryLimitCounters(ManualClock()), lambda: 1 / 2)
    assert await counters.seed("key:b@0", Decimal("6.00"))
    scope = ScopeLimits("key:b", budget=Budget("key:b@0", Decimal("10.00")))
    # 4.00 were left; this worker may reserve half of it: 2.00 on top of the 6.00 spent.
    admissions = [await counters.admit(request(scope, cost="0.50")) for _ in range(8)]
    assert sum(a.ticket is not None for a in admissions) == 4


async def test_settling_counts_against_the_workers_share():
    counters = PartialLimitCounters(MemoryLimitCounters(ManualClock()), lambda: 1 / 2)
    scope = ScopeLimits("key:c", budget=Budget("key:c@0", Decimal("2.00")))
    first = await counters.admit(request(scope, cost="0.10"))
    assert first.ticket is not None
    await counters.settle(first.ticket, 1, Decimal("1.00"))  # the whole share, spent
    assert (await counters.admit(request(scope, cost="0.10"))).refusal is not None
    assert await counters.spent(["key:c@0"]) == [Decimal("1.00")]

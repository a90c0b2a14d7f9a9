"""``Enforcer``: levels → one admission; errors name the level, limit and spend."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from quotaflow.catalog import ModelSpec
from quotaflow.clock import ManualClock
from quotaflow.errors import RateLimited
from quotaflow.limits import (
    BudgetExceeded,
    Demand,
    Enforcer,
    MemoryLimitCounters,
    ReservationPrices,
    levels_of,
)
from quotaflow.store.records import Team, User, VirtualKey

START = 1_760_000_000.0
CREATED = datetime.fromtimestamp(START, UTC)
KEY = VirtualKey(token_hash="a" * 64, key_name="sk-...wxyz", created_at=CREATED)
TEAM = Team(team_id="dev", created_at=CREATED)
PRICES = ReservationPrices({"m": (Decimal("0.001"), Decimal("0.002"), Decimal(1), Decimal(1))})


def _enforcer(status: int = 429) -> tuple[Enforcer, ManualClock]:
    clock = ManualClock(wall_start=START)
    return Enforcer(MemoryLimitCounters(clock), PRICES, clock, budget_exceeded_status=status), clock


def _demand(prompt: int = 100, completion: int = 50) -> Demand:
    return Demand("t", "m", prompt, completion)


async def test_no_limits_means_no_admission():
    enforcer, _ = _enforcer()
    assert await enforcer.admit(levels_of(KEY, TEAM, None), _demand()) is None


async def test_rpm_refusal_names_the_level_and_sends_headers():
    enforcer, _ = _enforcer()
    team = replace(TEAM, rpm_limit=1)
    levels = levels_of(replace(KEY, key_alias="ci", rpm_limit=5), team, None)
    admitted = await enforcer.admit(levels, _demand())
    assert admitted is not None
    assert dict(admitted.headers) == {
        b"x-ratelimit-limit-requests": b"1",
        b"x-ratelimit-remaining-requests": b"0",
    }
    with pytest.raises(RateLimited) as info:
        await enforcer.admit(levels, _demand())
    error = info.value
    assert error.status == 429
    assert "team 'dev'" in error.message
    assert "1 requests per minute" in error.message
    assert error.headers["retry-after"] == "60"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["x-ratelimit-limit-requests"] == "1"


async def test_tpm_counts_the_estimate_until_settled():
    enforcer, _ = _enforcer()
    levels = levels_of(replace(KEY, tpm_limit=200), None, None)
    first = await enforcer.admit(levels, _demand(100, 100))
    assert first is not None
    assert (b"x-ratelimit-remaining-tokens", b"0") in first.headers
    with pytest.raises(RateLimited):
        await enforcer.admit(levels, _demand())
    await enforcer.settle(first.ticket, 20, Decimal(0))
    assert await enforcer.admit(levels, _demand()) is not None


async def test_budget_error_is_insufficient_quota_with_limit_and_spend():
    enforcer, clock = _enforcer()
    key = replace(KEY, max_budget=Decimal("0.25"), budget_duration="1d")
    levels = levels_of(key, None, None)
    admitted = await enforcer.admit(levels, _demand(100, 50))  # reserves 0.1 + 0.1
    assert admitted is not None
    await enforcer.settle(admitted.ticket, 150, Decimal("0.3"))
    with pytest.raises(BudgetExceeded) as info:
        await enforcer.admit(levels, _demand())
    error = info.value
    body = error.body()["error"]
    assert (error.status, body["type"], body["code"]) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert error.message == (
        "Budget exceeded for key sk-...wxyz: its budget is $0.25 per 1d and it has spent $0.30; "
        "it resets at 2025-10-10T08:53:20Z."
    )
    assert "a" * 64 not in error.message
    assert error.headers["retry-after"] == str(86400)
    clock.advance(86400)  # the next day: a new period, a new counter
    assert await enforcer.admit(levels, _demand()) is not None


async def test_budget_status_is_configurable_and_reservations_are_named():
    enforcer, _ = _enforcer(status=400)
    levels = levels_of(None, replace(TEAM, max_budget=Decimal("0.1")), None)
    await enforcer.admit(levels, _demand(100, 0))
    with pytest.raises(BudgetExceeded) as info:
        await enforcer.admit(levels, _demand())
    assert info.value.status == 400
    assert "plus $0.10 reserved by calls in progress" in info.value.message
    assert "resets" not in info.value.message


async def test_parallel_limit_message():
    enforcer, _ = _enforcer()
    levels = levels_of(None, None, User(user_id="ana", max_parallel_requests=1))
    await enforcer.admit(levels, _demand())
    with pytest.raises(RateLimited, match="at most 1 at a time") as info:
        await enforcer.admit(levels, _demand())
    assert "user 'ana'" in info.value.message


async def test_seed_and_spend_and_carry():
    enforcer, _ = _enforcer()
    key = replace(KEY, max_budget=Decimal(5))
    seen = []

    async def total(kind, ident, since):
        seen.append((kind, ident, since))
        return Decimal("1.25")

    await enforcer.seed(levels_of(key, TEAM, None), total)
    assert seen == [("key", KEY.token_hash, CREATED)]  # the team has no budget
    (level,) = levels_of(key, None, None)
    spent, budget = await enforcer.spend(level)
    assert spent == Decimal("1.25")
    assert budget is not None
    assert budget.period.end is None
    (moved,) = levels_of(replace(key, token_hash="b" * 64), None, None)
    await enforcer.carry(level, moved)
    assert (await enforcer.spend(moved))[0] == Decimal("1.25")


def test_reservation_uses_the_highest_prices_of_the_group():
    cheap = ModelSpec(
        "a",
        "openai",
        "o200k_base",
        input_cost_per_token=Decimal("0.001"),
        output_cost_per_token=Decimal("0.004"),
    )
    dear = ModelSpec(
        "b",
        "openai",
        "o200k_base",
        input_cost_per_token=Decimal("0.002"),
        output_cost_per_token=Decimal("0.003"),
    )
    unpriced = ModelSpec("c", "openai", "o200k_base")
    prices = ReservationPrices.from_specs(
        {"m": ["x", "y", "z"], "free": ["z"]}, {"x": cheap, "y": dear, "z": unpriced}
    )
    assert prices.max_cost("m", 10, 10) == Decimal("0.060")
    assert prices.max_cost("free", 10, 10) == Decimal(0)
    assert prices.max_cost("unknown", 10, 10) == Decimal(0)

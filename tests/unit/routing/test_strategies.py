import random
from collections import Counter

from quotaflow.clock import ManualClock
from quotaflow.routing.deployment import Deployment
from quotaflow.routing.strategies import (
    CostBased,
    LeastBusy,
    LowestLatency,
    QuotaAware,
    RoutingState,
    SimpleShuffle,
    UsageBased,
    create_strategy,
    strategy_names,
)
from quotaflow.state.health import HealthTracker
from quotaflow.state.usage import UsageWindows


def _deployment(name: str, **kwargs) -> Deployment:
    return Deployment(id=name, model_group="g", provider="openai", upstream_model="m", **kwargs)


def _state(seed: int = 7, costs=None, buffer: float = 0.0, clock=None) -> RoutingState:
    clock = clock or ManualClock()
    return RoutingState(
        health=HealthTracker(clock, cooldown_s=1, allowed_fails=0),
        usage=UsageWindows(clock),
        rng=random.Random(seed),
        cost_per_token=costs or {},
        latency_buffer=buffer,
    )


def test_every_configured_strategy_is_implemented():
    from quotaflow.config import ROUTING_STRATEGIES  # noqa: PLC0415

    assert sorted(ROUTING_STRATEGIES) == strategy_names()


def test_shuffle_follows_weights():
    strategy = SimpleShuffle(_state())
    heavy, light = _deployment("heavy", weight=3), _deployment("light", weight=1)
    counts = Counter(strategy.choose([heavy, light], 10).id for _ in range(8000))
    assert 0.72 < counts["heavy"] / 8000 < 0.78


def test_shuffle_falls_back_to_rpm_then_uniform():
    strategy = SimpleShuffle(_state())
    a, b = _deployment("a", rpm=100), _deployment("b", rpm=300)
    counts = Counter(strategy.choose([a, b], 10).id for _ in range(8000))
    assert 0.72 < counts["b"] / 8000 < 0.78

    c, d = _deployment("c", rpm=100), _deployment("d")  # d has no rpm: uniform
    counts = Counter(strategy.choose([c, d], 10).id for _ in range(8000))
    assert 0.45 < counts["c"] / 8000 < 0.55


def test_least_busy_picks_fewest_in_flight():
    state = _state(1)
    strategy = LeastBusy(state)
    a, b, c = _deployment("a"), _deployment("b"), _deployment("c")
    state.health.acquire("a")
    state.health.acquire("b")
    assert strategy.choose([a, b, c], 10) is c
    state.health.acquire("c")
    state.health.acquire("c")
    assert strategy.choose([a, b, c], 10) in (a, b)


def test_least_busy_breaks_ties_at_random():
    strategy = LeastBusy(_state(3))
    a, b = _deployment("a"), _deployment("b")
    counts = Counter(strategy.choose([a, b], 10).id for _ in range(2000))
    assert counts["a"] > 800
    assert counts["b"] > 800


def test_lowest_latency_explores_then_prefers_the_fastest_within_the_buffer():
    state = _state(buffer=0.5)
    strategy = LowestLatency(state)
    fast, near, slow = _deployment("fast"), _deployment("near"), _deployment("slow")
    state.health.record_success("fast", 0.10)
    state.health.record_success("near", 0.14)
    assert strategy.choose([fast, near, slow], 10) is slow  # never measured: try it
    state.health.record_success("slow", 0.50)
    picks = Counter(strategy.choose([fast, near, slow], 10).id for _ in range(1000))
    assert set(picks) == {"fast", "near"}


def test_usage_based_never_exceeds_declared_quota():
    state = _state()
    strategy = UsageBased(state)
    small, big = _deployment("small", tpm=2_000), _deployment("big", tpm=10_000)
    sent: Counter[str] = Counter()
    for _ in range(30):
        chosen = strategy.choose([small, big], 500)
        if chosen is None:
            break
        state.usage.charge(chosen, 500)
        sent[chosen.id] += 500
    assert sent["small"] <= 2_000
    assert sent["big"] <= 10_000
    assert sum(sent.values()) == 12_000  # and the whole quota is used
    assert strategy.choose([small, big], 500) is None


def test_cost_based_prefers_the_cheapest_known_price():
    strategy = CostBased(_state(costs={"cheap": 1e-7, "dear": 1e-5}))
    cheap, dear, unknown = _deployment("cheap"), _deployment("dear"), _deployment("unknown")
    assert strategy.choose([unknown, dear, cheap], 10) is cheap
    assert strategy.choose([unknown, dear], 10) is dear


def test_quota_aware_skips_deployments_without_room_and_balances_load():
    clock = ManualClock()
    state = _state(clock=clock)
    strategy = QuotaAware(state)
    a, b = _deployment("a", tpm=10_000), _deployment("b", tpm=10_000)
    state.usage.charge(a, 9_800)
    assert strategy.choose([a, b], 500) is b
    for _ in range(20):  # b holds exactly 20 more
        chosen = strategy.choose([a, b], 500)
        assert chosen is not None
        state.usage.charge(chosen, 500)
    assert strategy.choose([a, b], 500) is None
    clock.advance(61)
    assert strategy.choose([a, b], 500) is not None


def test_create_strategy_by_config_name():
    assert isinstance(create_strategy("least-busy", _state()), LeastBusy)
    assert isinstance(create_strategy("usage-based-routing-v2", _state()), UsageBased)

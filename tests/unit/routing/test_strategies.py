import random
from collections import Counter

from quotaflow.clock import ManualClock
from quotaflow.routing.deployment import Deployment
from quotaflow.routing.health import HealthTracker
from quotaflow.routing.strategies import LeastBusy, SimpleShuffle, create_strategy


def _deployment(name: str, **kwargs) -> Deployment:
    return Deployment(id=name, model_group="g", provider="openai", upstream_model="m", **kwargs)


def _health() -> HealthTracker:
    return HealthTracker(ManualClock(), cooldown_s=1, allowed_fails=0)


def test_shuffle_follows_weights():
    strategy = SimpleShuffle(_health(), random.Random(7))
    heavy, light = _deployment("heavy", weight=3), _deployment("light", weight=1)
    counts = Counter(strategy.choose([heavy, light]).id for _ in range(8000))
    assert 0.72 < counts["heavy"] / 8000 < 0.78


def test_shuffle_falls_back_to_rpm_then_uniform():
    strategy = SimpleShuffle(_health(), random.Random(7))
    a, b = _deployment("a", rpm=100), _deployment("b", rpm=300)
    counts = Counter(strategy.choose([a, b]).id for _ in range(8000))
    assert 0.72 < counts["b"] / 8000 < 0.78

    c, d = _deployment("c", rpm=100), _deployment("d")  # d has no rpm: uniform
    counts = Counter(strategy.choose([c, d]).id for _ in range(8000))
    assert 0.45 < counts["c"] / 8000 < 0.55


def test_least_busy_picks_fewest_in_flight():
    health = _health()
    strategy = LeastBusy(health, random.Random(1))
    a, b, c = _deployment("a"), _deployment("b"), _deployment("c")
    health.acquire("a")
    health.acquire("b")
    assert strategy.choose([a, b, c]) is c
    health.acquire("c")
    health.acquire("c")
    assert strategy.choose([a, b, c]) in (a, b)


def test_least_busy_breaks_ties_at_random():
    strategy = LeastBusy(_health(), random.Random(3))
    a, b = _deployment("a"), _deployment("b")
    counts = Counter(strategy.choose([a, b]).id for _ in range(2000))
    assert counts["a"] > 800
    assert counts["b"] > 800


def test_create_strategy_by_config_name():
    assert isinstance(create_strategy("least-busy", _health(), random.Random()), LeastBusy)

from quotaflow.clock import ManualClock
from quotaflow.errors import (
    UpstreamAuthFailed,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from quotaflow.routing.deployment import Deployment
from quotaflow.state.health import HealthTracker


def _deployment(name: str) -> Deployment:
    return Deployment(id=name, model_group="g", provider="openai", upstream_model="m")


def test_rate_limit_cools_down_for_the_upstream_hint():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=5, allowed_fails=3)
    a, b = _deployment("a"), _deployment("b")

    applied = health.record_failure("a", UpstreamRateLimited("x", retry_after_s=2.5))

    assert applied == 2.5
    assert health.available([a, b]) == [b]
    clock.advance(2.4)
    assert health.available([a, b]) == [b]
    clock.advance(0.2)
    assert health.available([a, b]) == [a, b]


def test_rate_limit_without_hint_uses_cooldown_time():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=7, allowed_fails=0)
    assert health.record_failure("a", UpstreamRateLimited("x")) == 7
    assert health.cooling_until("a") == clock.monotonic() + 7


def test_transient_failures_tolerated_up_to_allowed_fails_within_a_minute():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=5, allowed_fails=2)
    error = UpstreamUnavailable("boom")
    assert health.record_failure("a", error) == 0
    assert health.record_failure("a", error) == 0
    clock.advance(61)  # the first two fall out of the window
    assert health.record_failure("a", error) == 0
    assert health.record_failure("a", error) == 0
    assert health.record_failure("a", error) == 5


def test_success_forgets_failures():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=5, allowed_fails=1)
    health.record_failure("a", UpstreamUnavailable("boom"))
    health.record_success("a", 0.1)
    assert health.record_failure("a", UpstreamUnavailable("boom")) == 0


def test_latency_is_a_moving_average():
    health = HealthTracker(ManualClock(), cooldown_s=5, allowed_fails=0)
    assert health.latency("a") is None
    health.record_success("a", 1.0)
    health.record_success("a", 2.0)
    assert health.latency("a") == 1.2


def test_auth_failure_always_cools_down():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=5, allowed_fails=10)
    assert health.record_failure("a", UpstreamAuthFailed("bad key")) == 5


def test_a_shorter_hint_never_shortens_a_running_cooldown():
    clock = ManualClock()
    health = HealthTracker(clock, cooldown_s=5, allowed_fails=0)
    health.record_failure("a", UpstreamRateLimited("x", retry_after_s=10))
    health.record_failure("a", UpstreamRateLimited("x", retry_after_s=1))
    assert health.cooling_until("a") == clock.monotonic() + 10


def test_in_flight_counts():
    health = HealthTracker(ManualClock(), cooldown_s=1, allowed_fails=0)
    health.acquire("a")
    health.acquire("a")
    health.release("a")
    assert health.in_flight("a") == 1
    assert health.in_flight("b") == 0

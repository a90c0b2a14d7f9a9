"""Scrape-time gauges read the router's state; cooldowns and 429s are each counted once."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest

from quotaflow.clock import ManualClock
from quotaflow.errors import Attempt, UpstreamRateLimited
from quotaflow.observability.metrics import BACKEND_UP, BUDGET_REMAINING_USD
from quotaflow.observability.router_gauges import CooldownWatch, RecentRateLimits, RouterCollector
from quotaflow.providers.base import RateLimitHint
from tests.unit.observability.support import DEPLOYMENTS, FRANCE, SWEDEN, router


def scrape(collector: RouterCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    generate_latest(registry)  # renders without error
    return registry


def test_deployment_state_is_read_at_scrape_time():
    clock = ManualClock()
    routed = router(clock)
    collector = RouterCollector(routed, clock)
    routed.health.acquire("sweden")
    routed.health.acquire("sweden")
    routed.health.record_failure("france", UpstreamRateLimited("busy", retry_after_s=30))
    routed.health.record_success("sweden", 0.25)
    routed.usage.observe("sweden", RateLimitHint(remaining_requests=7, remaining_tokens=900))

    registry = scrape(collector)

    def gauge(name: str, deployment: str) -> float | None:
        labels = {"model_group": "gpt-4", "deployment": deployment, "provider": "azure"}
        return registry.get_sample_value(name, labels)

    assert gauge("quotaflow_deployment_in_flight", "sweden") == 2
    assert gauge("quotaflow_deployment_in_flight", "france") == 0
    assert gauge("quotaflow_deployment_cooling_down", "france") == 1
    assert gauge("quotaflow_deployment_cooling_down", "sweden") == 0
    assert gauge("quotaflow_deployment_cooldown_remaining_seconds", "france") == 30
    assert gauge("quotaflow_deployment_latency_seconds", "sweden") == 0.25
    assert gauge("quotaflow_deployment_latency_seconds", "france") is None
    assert gauge("quotaflow_upstream_remaining_requests", "sweden") == 7
    assert gauge("quotaflow_upstream_remaining_tokens", "sweden") == 900
    assert gauge("quotaflow_upstream_remaining_requests", "france") is None

    clock.advance(31)  # the cooldown is over, the hint stale
    registry = scrape(collector)
    assert gauge("quotaflow_deployment_cooling_down", "france") == 0
    assert gauge("quotaflow_upstream_remaining_requests", "sweden") is None


def test_queue_gauges():
    clock = ManualClock()
    routed = router(clock)
    routed.queue.stats.admitted, routed.queue.stats.turned_away = 3, 2
    routed.queue.stats.wait_s_total = 4.5

    registry = scrape(RouterCollector(routed, clock))

    assert registry.get_sample_value("quotaflow_queue_waiting", {"model_group": "gpt-4"}) == 0
    assert registry.get_sample_value("quotaflow_queue_admitted_total", {}) == 3
    assert registry.get_sample_value("quotaflow_queue_turned_away_total", {}) == 2
    assert registry.get_sample_value("quotaflow_queue_wait_seconds_total", {}) == 4.5


def test_gauge_sources_of_other_components(caplog):
    clock = ManualClock()
    collector = RouterCollector(router(clock), clock)
    collector.add_source(BUDGET_REMAINING_USD, lambda: [(("team", "dev"), 12.5)])

    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise ConnectionError("store down")

    collector.add_source(BACKEND_UP, broken)

    with caplog.at_level(logging.ERROR):
        registry = scrape(collector)

    assert (
        registry.get_sample_value(
            "quotaflow_budget_remaining_usd", {"scope": "team", "name": "dev"}
        )
        == 12.5
    )
    assert registry.get_sample_value("quotaflow_backend_up", {"backend": "state"}) is None
    assert "quotaflow_backend_up" in caplog.text


def test_a_cooldown_window_is_counted_once_however_many_requests_saw_it():
    clock = ManualClock()
    routed = router(clock)
    watch = CooldownWatch(routed)
    failure = [Attempt("sweden", "UpstreamRateLimited", 429, 0.1)]

    assert watch.after_failure(failure, DEPLOYMENTS) == []  # no cooldown applied (yet)
    routed.health.record_failure("sweden", UpstreamRateLimited("busy", retry_after_s=10))
    assert watch.after_failure(failure, DEPLOYMENTS) == [SWEDEN]
    assert watch.after_failure(failure, DEPLOYMENTS) == []  # the same window
    clock.advance(5)
    routed.health.record_failure("sweden", UpstreamRateLimited("busy", retry_after_s=10))
    assert watch.after_failure(failure, DEPLOYMENTS) == [SWEDEN]  # extended
    routed.health.record_failure("france", UpstreamRateLimited("busy", retry_after_s=10))
    assert watch.after_failure([], DEPLOYMENTS, broken=FRANCE) == [FRANCE]


def test_recent_429s_slide_out_of_their_window():
    recent = RecentRateLimits(window_s=60)
    recent.note(
        [
            Attempt("sweden", "UpstreamRateLimited", 429, 0.1),
            Attempt("france", "UpstreamUnavailable", 503, 0.1),
        ],
        100.0,
    )
    recent.note([Attempt("sweden", "UpstreamRateLimited", 429, 0.1)], 130.0)

    assert (recent.count("sweden", 131.0), recent.count("france", 131.0)) == (2, 0)
    assert recent.count("sweden", 161.0) == 1
    assert recent.count("sweden", 191.0) == 0

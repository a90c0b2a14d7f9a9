"""The state backend's and the spend writer's gauges, read at scrape time."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from quotaflow.clock import ManualClock
from quotaflow.observability.backend_gauges import state_sources, store_sources
from quotaflow.observability.router_gauges import RouterCollector
from quotaflow.state import LocalState, StateStatus
from quotaflow.store.spend_writer import SpendWriterCounters
from tests.unit.observability.support import router


class FleetState(LocalState):
    """A state backend that reports what a Redis one would."""

    def __init__(self, status: StateStatus) -> None:
        super().__init__(ManualClock(), cooldown_s=5.0, allowed_fails=0)
        self.reported = status

    def status(self) -> StateStatus:
        return self.reported


@dataclass
class Writer:
    """What the gauges read of a ``SpendWriter``."""

    counters: SpendWriterCounters


def registry_with(*sources) -> CollectorRegistry:
    clock = ManualClock()
    collector = RouterCollector(router(clock), clock)
    for family, read in sources:
        collector.add_source(family, read)
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_the_state_backend_is_up_unless_degraded_and_the_fleet_is_shown():
    state = FleetState(StateStatus("redis", replicas=3, fleet_waiting=7))
    registry = registry_with(*state_sources(state))
    redis = {"role": "state", "backend": "redis"}

    assert registry.get_sample_value("quotaflow_backend_up", redis) == 1
    assert registry.get_sample_value("quotaflow_fleet_replicas", {}) == 3
    assert registry.get_sample_value("quotaflow_fleet_queue_waiting", {}) == 7

    state.reported = StateStatus("redis", degraded=True, replicas=3, detail="TimeoutError")
    assert registry.get_sample_value("quotaflow_backend_up", redis) == 0


def test_memory_state_is_always_up():
    registry = registry_with(
        *state_sources(LocalState(ManualClock(), cooldown_s=1, allowed_fails=0))
    )
    memory = {"role": "state", "backend": "memory"}

    assert registry.get_sample_value("quotaflow_backend_up", memory) == 1
    assert registry.get_sample_value("quotaflow_fleet_replicas", {}) == 1


def test_the_store_is_down_while_records_are_spooled_and_the_writer_counts_are_exposed():
    writer = Writer(
        SpendWriterCounters(buffered=4, spooled=0, written=120, dropped=0, spool_bytes=0)
    )
    state = LocalState(ManualClock(), cooldown_s=1, allowed_fails=0)
    registry = registry_with(*state_sources(state), *store_sources(writer, "postgres"))  # type: ignore[arg-type]
    store = {"role": "store", "backend": "postgres"}

    assert registry.get_sample_value("quotaflow_backend_up", store) == 1
    # Both roles share one family.
    assert (
        registry.get_sample_value("quotaflow_backend_up", {"role": "state", "backend": "memory"})
        == 1
    )
    assert registry.get_sample_value("quotaflow_spend_records_buffered", {}) == 4
    assert registry.get_sample_value("quotaflow_spend_records_written_total", {}) == 120

    writer.counters = SpendWriterCounters(
        buffered=0, spooled=30, written=120, dropped=2, spool_bytes=9000
    )
    assert registry.get_sample_value("quotaflow_backend_up", store) == 0
    assert registry.get_sample_value("quotaflow_spend_records_spooled_total", {}) == 30
    assert registry.get_sample_value("quotaflow_spend_records_dropped_total", {}) == 2
    assert registry.get_sample_value("quotaflow_spend_spool_bytes", {}) == 9000

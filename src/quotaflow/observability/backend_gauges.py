"""The state backend and the spend writer as gauges read at scrape time.

Both read values their component already holds (``StateBackend.status()`` from its last
heartbeat, ``SpendWriter.counters``): a scrape never waits on Redis or the database.

- State: ``quotaflow_backend_up{role="state"}`` is 1 unless the replica is degraded (Redis did
  not answer, so it decides alone); the fleet's replicas and queued calls as last seen.
- Store: ``quotaflow_backend_up{role="store"}`` is 1 while spend records reach the database and
  0 while they pile up in the disk spool (the last write failed, or the spool still drains);
  the writer's counters. ``dropped`` is the one to alert on: those records are lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.observability.metrics import (
    BACKEND_UP,
    FLEET_QUEUE_WAITING,
    FLEET_REPLICAS,
    SPEND_BUFFERED,
    SPEND_DROPPED,
    SPEND_SPOOL_BYTES,
    SPEND_SPOOLED,
    SPEND_WRITTEN,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from quotaflow.observability.metrics import GaugeFamily
    from quotaflow.observability.router_gauges import GaugeReader, Sample
    from quotaflow.state import StateBackend
    from quotaflow.store.spend_writer import SpendWriter, SpendWriterCounters

__all__ = ["state_sources", "store_sources"]


def state_sources(state: StateBackend) -> list[tuple[GaugeFamily, GaugeReader]]:
    """The state backend's health and the fleet as it last saw them."""

    def up() -> list[Sample]:
        status = state.status()
        return [(("state", status.backend), 0.0 if status.degraded else 1.0)]

    def replicas() -> list[Sample]:
        return [((), float(state.status().replicas))]

    def waiting() -> list[Sample]:
        return [((), float(state.status().fleet_waiting))]

    return [(BACKEND_UP, up), (FLEET_REPLICAS, replicas), (FLEET_QUEUE_WAITING, waiting)]


def store_sources(writer: SpendWriter, backend: str) -> list[tuple[GaugeFamily, GaugeReader]]:
    """The database's health as the spend writer sees it, and the writer's counters.

    ``backend``: ``sqlite`` or ``postgres``, for the ``backend`` label.
    """

    def up() -> list[Sample]:
        return [(("store", backend), 0.0 if writer.counters.spool_bytes > 0 else 1.0)]

    def counter(field: Callable[[SpendWriterCounters], int]) -> GaugeReader:
        def read() -> list[Sample]:
            return [((), float(field(writer.counters)))]

        return read

    return [
        (BACKEND_UP, up),
        (SPEND_BUFFERED, counter(lambda c: c.buffered)),
        (SPEND_SPOOL_BYTES, counter(lambda c: c.spool_bytes)),
        (SPEND_SPOOLED, counter(lambda c: c.spooled)),
        (SPEND_WRITTEN, counter(lambda c: c.written)),
        (SPEND_DROPPED, counter(lambda c: c.dropped)),
    ]

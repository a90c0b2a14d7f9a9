"""The router's live state as Prometheus gauges read at scrape time; cooldowns and 429s seen.

Nothing here runs per request except ``CooldownWatch.after_failure``, and only for requests
with a failed attempt. Gauge sources registered by other components are read here too; one
that raises is logged and skipped, so a scrape never fails because of it; sources of the same
family add their samples to one metric.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from quotaflow.observability.metrics import (
    DEPLOYMENT_COOLDOWN_REMAINING,
    DEPLOYMENT_COOLING_DOWN,
    DEPLOYMENT_IN_FLIGHT,
    DEPLOYMENT_LATENCY,
    QUEUE_ADMITTED,
    QUEUE_TURNED_AWAY,
    QUEUE_WAIT_TOTAL,
    QUEUE_WAITING,
    UPSTREAM_REMAINING_REQUESTS,
    UPSTREAM_REMAINING_TOKENS,
    GaugeFamily,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quotaflow.clock import Clock
    from quotaflow.errors import Attempt
    from quotaflow.routing.deployment import Deployment
    from quotaflow.routing.router import Router

__all__ = [
    "CooldownWatch",
    "GaugeReader",
    "RecentRateLimits",
    "RouterCollector",
    "Sample",
    "family_metric",
]

logger = logging.getLogger("quotaflow.observability")

_TOO_MANY_REQUESTS = 429

# One sample: label values (in the family's label order) and the value.
Sample = tuple[Sequence[str], float]
GaugeReader = Callable[[], Iterable[Sample]]


def family_metric(family: GaugeFamily) -> GaugeMetricFamily | CounterMetricFamily:
    """An empty metric family to add samples to."""
    if family.counter:
        return CounterMetricFamily(family.name, family.documentation, labels=family.label_names)
    return GaugeMetricFamily(family.name, family.documentation, labels=family.label_names)


@dataclass(frozen=True, slots=True)
class _Source:
    family: GaugeFamily
    read: GaugeReader


class RouterCollector(Collector):
    """Collects the router's per-deployment and queue state, and registered gauge sources."""

    def __init__(self, router: Router, clock: Clock) -> None:
        self.router = router
        self.clock = clock
        self.sources: list[_Source] = []

    def add_source(self, family: GaugeFamily, read: GaugeReader) -> None:
        """Read ``family``'s samples from ``read`` at every scrape."""
        self.sources.append(_Source(family, read))

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (lets the registry check for duplicate names)."""
        return [family_metric(family) for family in self._families()]

    def collect(self) -> Iterable[Metric]:
        """Every family with its samples, read now."""
        yield from self._deployments()
        yield from self._queue()
        # Sources of one family (the state's and the store's ``backend_up``) share one metric.
        metrics: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for source in self.sources:
            samples: list[Sample] = []
            try:
                samples.extend(source.read())
            except Exception:
                logger.exception("gauge source for %s failed", source.family.name)
            metric = metrics.get(source.family.name)
            if metric is None:
                metric = metrics[source.family.name] = family_metric(source.family)
            for values, value in samples:
                metric.add_metric(list(values), value)
        yield from metrics.values()

    def _families(self) -> Iterator[GaugeFamily]:
        yield from (DEPLOYMENT_IN_FLIGHT, DEPLOYMENT_COOLING_DOWN, DEPLOYMENT_COOLDOWN_REMAINING)
        yield from (DEPLOYMENT_LATENCY, UPSTREAM_REMAINING_REQUESTS, UPSTREAM_REMAINING_TOKENS)
        yield from (QUEUE_WAITING, QUEUE_ADMITTED, QUEUE_TURNED_AWAY, QUEUE_WAIT_TOTAL)
        yield from {source.family.name: source.family for source in self.sources}.values()

    def _deployments(self) -> Iterator[Metric]:
        router, now = self.router, self.clock.monotonic()
        health, usage = router.health, router.usage
        in_flight = family_metric(DEPLOYMENT_IN_FLIGHT)
        cooling = family_metric(DEPLOYMENT_COOLING_DOWN)
        remaining_s = family_metric(DEPLOYMENT_COOLDOWN_REMAINING)
        latency = family_metric(DEPLOYMENT_LATENCY)
        requests_left = family_metric(UPSTREAM_REMAINING_REQUESTS)
        tokens_left = family_metric(UPSTREAM_REMAINING_TOKENS)
        for group in router.groups.values():
            for deployment in group.deployments:
                labels = [group.name, deployment.id, deployment.provider]
                in_flight.add_metric(labels, health.in_flight(deployment.id))
                left_s = max(0.0, health.cooling_until(deployment.id) - now)
                cooling.add_metric(labels, 1.0 if left_s > 0 else 0.0)
                remaining_s.add_metric(labels, left_s)
                seconds = health.latency(deployment.id)
                if seconds is not None:
                    latency.add_metric(labels, seconds)
                hint = usage.hint(deployment.id)  # remaining requests, tokens (, until)
                hint_requests, hint_tokens = hint[0], hint[1]
                if hint_requests is not None:
                    requests_left.add_metric(labels, hint_requests)
                if hint_tokens is not None:
                    tokens_left.add_metric(labels, hint_tokens)
        yield from (in_flight, cooling, remaining_s, latency, requests_left, tokens_left)

    def _queue(self) -> Iterator[Metric]:
        queue = self.router.queue
        waiting = family_metric(QUEUE_WAITING)
        for name in self.router.groups:
            waiting.add_metric([name], queue.waiting(name))
        stats = queue.stats
        admitted = family_metric(QUEUE_ADMITTED)
        admitted.add_metric([], stats.admitted)
        turned_away = family_metric(QUEUE_TURNED_AWAY)
        turned_away.add_metric([], stats.turned_away)
        waited = family_metric(QUEUE_WAIT_TOTAL)
        waited.add_metric([], stats.wait_s_total)
        yield from (waiting, admitted, turned_away, waited)


class CooldownWatch:
    """Tells which deployments a request's failed attempts cooled down (newly or for longer).

    The router keeps only the end of each cooldown; the watch remembers the last end it saw
    per deployment, so each cooldown window is counted once however many requests saw it.
    """

    __slots__ = ("_router", "_seen")

    def __init__(self, router: Router) -> None:
        self._router = router
        self._seen: dict[str, float] = {}

    def after_failure(
        self,
        attempts: Sequence[Attempt],
        deployments: dict[str, Deployment],
        broken: Deployment | None = None,
    ) -> list[Deployment]:
        """The deployments whose cooldown moved since last seen, among those that failed."""
        failed = {a.deployment_id for a in attempts if a.outcome != "ok"}
        if broken is not None:
            failed.add(broken.id)
        cooled: list[Deployment] = []
        for deployment_id in failed:
            until = self._router.health.cooling_until(deployment_id)
            if until > self._seen.get(deployment_id, 0.0):
                self._seen[deployment_id] = until
                deployment = deployments.get(deployment_id)
                if deployment is not None:
                    cooled.append(deployment)
        return cooled


class RecentRateLimits:
    """429s per deployment over the last ``window_s`` seconds (for ``/health``)."""

    __slots__ = ("_max_kept", "_times", "window_s")

    def __init__(self, window_s: float = 300.0, *, max_kept: int = 10_000) -> None:
        self.window_s = window_s
        self._times: dict[str, deque[float]] = {}
        self._max_kept = max_kept

    def note(self, attempts: Sequence[Attempt], now_s: float) -> None:
        """Remember the attempts that the upstream answered with 429."""
        for attempt in attempts:
            if attempt.status == _TOO_MANY_REQUESTS:
                times = self._times.get(attempt.deployment_id)
                if times is None:
                    times = self._times[attempt.deployment_id] = deque(maxlen=self._max_kept)
                times.append(now_s)

    def count(self, deployment_id: str, now_s: float) -> int:
        """429s seen from the deployment in the window."""
        times = self._times.get(deployment_id)
        if not times:
            return 0
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        return len(times)

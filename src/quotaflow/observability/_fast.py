"""Counters and histograms for the request path: plain numbers, rendered only when scraped.

``prometheus_client``'s own metrics take a lock on every increment and a histogram's
``observe`` takes two; a request records a dozen of them. The gateway counts on one event loop
thread, so these keep plain floats per label tuple and become metric families in ``collect``,
which the registry calls at scrape time. Names, labels and the exposition are the same as
``prometheus_client.Counter`` / ``Histogram`` would give (without their ``_created`` samples).
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = ["FastCounter", "FastHistogram"]


class _Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (never negative)."""
        self.value += amount


class FastCounter:
    """A counter family; ``labels(*values)`` gives the child to ``inc``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._label_names = list(label_names)
        self._children: dict[tuple[str, ...], _Count] = {}
        if not self._label_names:
            self.labels()  # shown at zero from the start, as prometheus_client does
        registry.register(self)

    def labels(self, *values: str) -> _Count:
        """The child for these label values (created at its first use)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = _Count()
        return child

    def collect(self) -> Iterator[Metric]:
        """The family as the registry renders it."""
        family = CounterMetricFamily(self._name, self._documentation, labels=self._label_names)
        for values, child in self._children.items():
            family.add_metric(list(values), child.value)
        yield family

    def describe(self) -> list[Metric]:
        """Nothing to describe ahead of time (keeps registration from calling ``collect``)."""
        return []


class _Buckets:
    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, amount: float) -> None:
        """Count ``amount`` in the first bucket whose upper bound it does not exceed."""
        self.counts[bisect.bisect_left(self._bounds, amount)] += 1
        self.total += amount


class FastHistogram:
    """A histogram family; ``labels(*values)`` gives the child to ``observe`` (or, without
    label names, ``observe`` on the family itself)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._label_names = list(label_names)
        self._bounds = sorted(b for b in buckets if not math.isinf(b))
        self._children: dict[tuple[str, ...], _Buckets] = {}
        if not self._label_names:
            self.labels()  # shown at zero from the start, as prometheus_client does
        registry.register(self)

    def labels(self, *values: str) -> _Buckets:
        """The child for these label values (created at its first use)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = _Buckets(self._bounds)
        return child

    def observe(self, amount: float) -> None:
        """For a histogram without labels."""
        self.labels().observe(amount)

    def collect(self) -> Iterator[Metric]:
        """The family, with cumulative buckets, as the registry renders it."""
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._label_names)
        edges = [floatToGoString(b) for b in self._bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        for values, child in self._children.items():
            running = 0
            cumulative = []
            for edge, count in zip(edges, child.counts, strict=True):
                running += count
                cumulative.append((edge, float(running)))
            family.add_metric(list(values), cumulative, child.total)
        yield family

    def describe(self) -> list[Metric]:
        """Nothing to describe ahead of time."""
        return []

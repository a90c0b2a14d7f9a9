"""The lock-free counters and histograms render exactly as prometheus_client's own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from quotaflow.observability._fast import FastCounter, FastHistogram

BUCKETS = (0.005, 0.1, 1.0, 2.5, 1_000_000.0)


def _without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


def test_counters_and_histograms_render_as_prometheus_client_does():
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast_counter = FastCounter("c", "A counter.", ("a", "b"), registry=ours)
    counter = Counter("c", "A counter.", ("a", "b"), registry=theirs)
    fast_histogram = FastHistogram("h", "A histogram.", ("a",), buckets=BUCKETS, registry=ours)
    histogram = Histogram("h", "A histogram.", ("a",), buckets=BUCKETS, registry=theirs)
    plain_fast = FastHistogram("p", "Unlabelled.", buckets=BUCKETS, registry=ours)
    Histogram("p", "Unlabelled.", buckets=BUCKETS, registry=theirs)  # never observed: zeros

    for a, b, amount in [("x", "y", 1), ("x", "y", 2.5), ("z", "y", 4)]:
        fast_counter.labels(a, b).inc(amount)
        counter.labels(a, b).inc(amount)
    for a, amount in [("x", 0.001), ("x", 0.1), ("x", 3.0), ("y", 2_000_000.0)]:
        fast_histogram.labels(a).observe(amount)
        histogram.labels(a).observe(amount)
    assert plain_fast is not None

    assert _without_created(generate_latest(ours)) == _without_created(generate_latest(theirs))

"""Activity: spend records folded into totals, per-group figures and time buckets.

Pure: ``fold`` takes records and a ``Window`` and returns the ``Activity`` answer of
``GET /dashboard/activity``. Latency percentiles are nearest-rank over the records' latencies;
a request whose status is 400 or more counts as an error.
"""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field

from quotaflow.management.fields import Response
from quotaflow.store.records import SpendRecord

__all__ = [
    "WINDOWS",
    "Activity",
    "BucketActivity",
    "GroupActivity",
    "Served",
    "Stats",
    "Window",
    "WindowName",
    "fold",
]

WindowName = Literal["1h", "6h", "24h", "7d"]
UNROUTED = "(not routed)"
_ERROR_STATUS = 400


@dataclass(frozen=True, slots=True)
class Window:
    """The span the activity covers, cut into equal buckets aligned to UTC."""

    name: str
    span_s: int
    bucket_s: int

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """Start and end: the end is ``now`` rounded up to a whole bucket."""
        epoch_s = now.timestamp()
        end_s = math.ceil(epoch_s / self.bucket_s) * self.bucket_s
        end = datetime.fromtimestamp(end_s, now.tzinfo)
        return end - timedelta(seconds=self.span_s), end


WINDOWS: dict[str, Window] = {
    "1h": Window("1h", 3600, 120),
    "6h": Window("6h", 6 * 3600, 900),
    "24h": Window("24h", 24 * 3600, 3600),
    "7d": Window("7d", 7 * 24 * 3600, 6 * 3600),
}


class Stats(Response):
    """Requests, errors, tokens, spend and latency of a set of requests."""

    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    spend: float = Field(description="US dollars.")
    latency_p50_ms: float | None
    latency_p99_ms: float | None


class GroupActivity(Stats):
    """One model group's or one deployment's figures."""

    name: str
    model_group: str | None = Field(default=None, description="For a deployment: its group.")


class BucketActivity(Stats):
    """One time bucket, with each deployment's share of it."""

    start: datetime
    by_deployment: dict[str, Stats]


class Served(Response):
    """A model group this gateway serves and its deployments."""

    name: str
    deployments: list[str]


class Activity(Response):
    """``GET /dashboard/activity``."""

    window: str
    start: datetime
    end: datetime
    bucket_s: int
    records: int = Field(description="How many spend records were read.")
    truncated: bool = Field(description="True when only the newest records were read.")
    totals: Stats
    model_groups: list[GroupActivity]
    deployments: list[GroupActivity]
    buckets: list[BucketActivity]
    served: list[Served]


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, record: SpendRecord) -> None:
        self.requests += 1
        self.errors += record.status >= _ERROR_STATUS
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        self.cost_usd += record.cost_usd
        if record.latency_ms is not None:
            self.latencies_ms.append(record.latency_ms)

    def fields(self) -> dict[str, object]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "spend": float(self.cost_usd),
            "latency_p50_ms": _percentile(ordered, 50),
            "latency_p99_ms": _percentile(ordered, 99),
        }


def _percentile(ordered: list[float], rank: int) -> float | None:
    """Nearest-rank percentile of sorted values, rounded to 0.1 ms."""
    if not ordered:
        return None
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return round(ordered[index], 1)


@dataclass(frozen=True, slots=True)
class Span:
    """What was read: the window's bounds and whether older records were left out."""

    window: Window
    start: datetime
    end: datetime
    truncated: bool


def fold(records: Iterable[SpendRecord], span: Span, served: dict[str, list[str]]) -> Activity:
    """Totals, per model group, per deployment and per bucket of ``records`` in ``span``."""
    window = span.window
    count = span.window.span_s // window.bucket_s
    totals = _Tally()
    groups: dict[str, _Tally] = {name: _Tally() for name in served}
    deployments: dict[str, _Tally] = {d: _Tally() for ds in served.values() for d in ds}
    owner = {d: name for name, ds in served.items() for d in ds}
    buckets = [_Tally() for _ in range(count)]
    shares: list[dict[str, _Tally]] = [{} for _ in range(count)]
    read = 0
    for record in records:
        index = int((record.started_at - span.start).total_seconds() // window.bucket_s)
        if not 0 <= index < count:
            continue
        read += 1
        deployment = record.deployment_id or UNROUTED
        totals.add(record)
        groups.setdefault(record.model_group or UNROUTED, _Tally()).add(record)
        deployments.setdefault(deployment, _Tally()).add(record)
        buckets[index].add(record)
        shares[index].setdefault(deployment, _Tally()).add(record)
        if record.deployment_id and record.model_group:
            owner.setdefault(deployment, record.model_group)
    return Activity(
        window=window.name,
        start=span.start,
        end=span.end,
        bucket_s=window.bucket_s,
        records=read,
        truncated=span.truncated,
        totals=Stats.model_validate(totals.fields()),
        model_groups=[GroupActivity(name=name, **tally.fields()) for name, tally in groups.items()],
        deployments=[
            GroupActivity(name=name, model_group=owner.get(name), **tally.fields())
            for name, tally in deployments.items()
        ],
        buckets=[
            BucketActivity(
                start=span.start + timedelta(seconds=i * window.bucket_s),
                by_deployment={
                    name: Stats.model_validate(share.fields()) for name, share in shares[i].items()
                },
                **tally.fields(),
            )
            for i, tally in enumerate(buckets)
        ],
        served=[Served(name=name, deployments=list(ds)) for name, ds in served.items()],
    )

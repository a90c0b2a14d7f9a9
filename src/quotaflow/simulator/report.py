"""What a run means: per-strategy metrics, and the same as a Markdown table, as JSON, as a PNG.

``summarize`` turns a ``RunResult`` into a ``Summary``. Latency percentiles are over successful
requests, arrival to last byte; queue waits over successful requests too, when the router
reports them. Delivered tokens per minute are the tokens the regions charged (prompt estimate
plus ``max_tokens``) for calls they accepted while the load ran, per virtual minute of load: the
quota actually put to use, as a share of the combined TPM. Calls served after the load ended
(queued at its end) count as successes but not as delivered. The PNG needs matplotlib
(``pip install 'quotaflow[sim]'``).
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from quotaflow.simulator.runner import RESET, UNFINISHED

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from quotaflow.simulator.runner import RunResult
    from quotaflow.simulator.scenario import Scenario

__all__ = ["Bucket", "Summary", "markdown_table", "summarize", "to_json", "write_png"]

_PNG_DPI = 110


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time slice (virtual seconds ``[t_s, t_s + bucket_s)``) of a run.

    Arrivals count where they arrive, successes and errors where they end, upstream calls and
    delivered (charged) tokens where the region accepted them.
    """

    t_s: float
    offered: int = 0
    offered_tokens: int = 0
    succeeded: int = 0
    delivered_tokens: int = 0
    client_errors: int = 0
    upstream_calls: int = 0
    upstream_429: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    """One strategy's results."""

    strategy: str
    requests: int
    succeeded: int
    client_errors: int
    errors_with_retry_after: int
    error_statuses: dict[int, int]
    unfinished: int
    retried: int
    upstream_calls: int
    upstream_429: int
    upstream_resets: int
    quota_tpm: int
    offered_tpm: float
    delivered_tpm: float
    served_tokens: int
    latency_p50_s: float | None
    latency_p99_s: float | None
    queue_p50_s: float | None
    queue_p99_s: float | None
    queued: int
    deployment_share: dict[str, float]
    wall_s: float
    series: tuple[Bucket, ...]

    @property
    def error_share(self) -> float:
        """Client-visible errors as a share of requests."""
        return _share(self.client_errors, self.requests)

    @property
    def upstream_429_share(self) -> float:
        """Upstream 429s as a share of upstream calls."""
        return _share(self.upstream_429, self.upstream_calls)

    @property
    def offered_share(self) -> float:
        """Offered tokens per minute as a share of the combined TPM."""
        return _share(self.offered_tpm, self.quota_tpm)

    @property
    def delivered_share(self) -> float:
        """Delivered tokens per minute as a share of the combined TPM."""
        return _share(self.delivered_tpm, self.quota_tpm)


def summarize(result: RunResult) -> Summary:
    """The metrics of one run."""
    scenario, requests = result.scenario, result.requests
    done = [r for r in requests if r.ok]
    failed = [r for r in requests if not r.ok]
    duration_s = scenario.duration_s
    minutes = duration_s / 60
    waits = [r.queue_s for r in done if r.queue_s is not None]
    served = Counter(r.deployment for r in done)
    statuses = Counter(event.status for event in result.upstream)
    return Summary(
        strategy=result.strategy,
        requests=len(requests),
        succeeded=len(done),
        client_errors=len(failed),
        errors_with_retry_after=sum(r.retry_after for r in failed),
        error_statuses=dict(sorted(Counter(r.status for r in failed).items())),
        unfinished=sum(r.status == UNFINISHED for r in failed),
        retried=sum(r.attempts > 1 for r in done),
        upstream_calls=len(result.upstream),
        upstream_429=statuses[429],
        upstream_resets=statuses[RESET],
        quota_tpm=scenario.combined_tpm,
        offered_tpm=sum(r.job.charge for r in requests) / minutes,
        delivered_tpm=sum(e.tokens for e in result.upstream if e.t_s < duration_s) / minutes,
        served_tokens=sum(r.job.charge for r in done),
        latency_p50_s=percentile([r.latency_s for r in done], 0.50),
        latency_p99_s=percentile([r.latency_s for r in done], 0.99),
        queue_p50_s=percentile(waits, 0.50),
        queue_p99_s=percentile(waits, 0.99),
        queued=sum(wait > 0 for wait in waits),
        deployment_share={d.id: _share(served[d.id], len(done)) for d in scenario.deployments},
        wall_s=result.wall_s,
        series=_series(result),
    )


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p`` percentile (``p`` in ``(0, 1]``); ``None`` for no values."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(0, math.ceil(p * len(ranked)) - 1)]


def _series(result: RunResult) -> tuple[Bucket, ...]:
    width = result.scenario.bucket_s
    ends = [r.end_s for r in result.requests] + [e.t_s for e in result.upstream]
    count = max(1, math.ceil(max([result.scenario.duration_s, *ends]) / width))
    rows: list[Counter[str]] = [Counter() for _ in range(count)]

    def add(t_s: float, **amounts: int) -> None:
        rows[min(count - 1, max(0, int(t_s // width)))].update(amounts)

    for r in result.requests:
        add(r.job.at_s, offered=1, offered_tokens=r.job.charge)
        add(r.end_s, succeeded=int(r.ok), client_errors=int(not r.ok))
    for event in result.upstream:
        add(
            event.t_s,
            upstream_calls=1,
            upstream_429=int(event.status == 429),
            delivered_tokens=event.tokens,
        )
    return tuple(Bucket(index * width, **row) for index, row in enumerate(rows))


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


# --- the table ----------------------------------------------------------------------------------


def headline(scenario: Scenario) -> str:
    """One line saying what was simulated."""
    phases = ", ".join(
        f"{p.duration_s:g} s at {p.load:.0%}"
        if p.load is not None
        else f"{p.duration_s:g} s at {p.rps:g} rps"
        for p in scenario.load.phases
    )
    regions = ", ".join(f"{d.id} {d.tpm:,} TPM" for d in scenario.deployments)
    return (
        f"{scenario.name}: {phases} of the combined quota ({scenario.combined_tpm:,} TPM:"
        f" {regions})"
    )


def markdown_table(scenario: Scenario, summaries: Sequence[Summary]) -> str:
    """The strategies side by side, one metric per row."""
    rows: list[tuple[str, Callable[[Summary], str]]] = [
        ("requests", lambda s: f"{s.requests:,}"),
        ("client errors", _errors),
        ("… with Retry-After", lambda s: f"{s.errors_with_retry_after:,}"),
        ("upstream 429s", _throttled),
        ("offered", lambda s: f"{s.offered_tpm:,.0f} TPM ({s.offered_share:.1%})"),
        ("delivered", lambda s: f"{s.delivered_tpm:,.0f} TPM ({s.delivered_share:.1%})"),
        ("latency p50 / p99", lambda s: _pair(s.latency_p50_s, s.latency_p99_s)),
        ("queue wait p50 / p99", _queue),
        *((f"served by {d.id}", _served_by(d.id)) for d in scenario.deployments),
        ("retried", lambda s: f"{s.retried:,}"),
        ("wall time", lambda s: f"{s.wall_s:.1f} s"),
    ]
    lines = [
        f"**{headline(scenario)}**",
        "",
        "| | " + " | ".join(s.strategy for s in summaries) + " |",
        "|---|" + "---:|" * len(summaries),
    ]
    lines += [f"| {name} | " + " | ".join(cell(s) for s in summaries) + " |" for name, cell in rows]
    return "\n".join(lines)


def _errors(s: Summary) -> str:
    text = f"{s.client_errors:,} ({s.error_share:.1%})"
    if s.error_statuses:
        statuses = ", ".join(f"{_status_name(k)}: {v:,}" for k, v in s.error_statuses.items())
        text += f" [{statuses}]"
    return text


def _status_name(status: int) -> str:
    return "unfinished" if status == UNFINISHED else str(status)


def _throttled(s: Summary) -> str:
    text = f"{s.upstream_429:,} of {s.upstream_calls:,} calls ({s.upstream_429_share:.1%})"
    return text + (f", {s.upstream_resets:,} resets" if s.upstream_resets else "")


def _queue(s: Summary) -> str:
    if s.queue_p50_s is None:
        return "n/a"
    return f"{_pair(s.queue_p50_s, s.queue_p99_s)} ({s.queued:,} queued)"


def _served_by(deployment: str) -> Callable[[Summary], str]:
    return lambda s: f"{s.deployment_share.get(deployment, 0.0):.1%}"


def _pair(first: float | None, second: float | None) -> str:
    if first is None or second is None:
        return "n/a"
    return f"{first:.2f} s / {second:.2f} s"


# --- JSON ---------------------------------------------------------------------------------------


def to_json(scenario: Scenario, summaries: Iterable[Summary]) -> dict[str, Any]:
    """Everything, JSON-ready: the scenario as validated, then each strategy's metrics."""
    return {
        "scenario": scenario.model_dump(mode="json"),
        "duration_s": scenario.duration_s,
        "combined_tpm": scenario.combined_tpm,
        "combined_rpm": scenario.combined_rpm,
        "strategies": [_summary_json(s) for s in summaries],
    }


def _summary_json(summary: Summary) -> dict[str, Any]:
    data = asdict(summary)
    data["error_statuses"] = {_status_name(k): v for k, v in summary.error_statuses.items()}
    data.update(
        error_share=summary.error_share,
        upstream_429_share=summary.upstream_429_share,
        offered_share=summary.offered_share,
        delivered_share=summary.delivered_share,
    )
    return data


# --- the chart ----------------------------------------------------------------------------------


def write_png(scenario: Scenario, summaries: Sequence[Summary], path: Path) -> bool:
    """Draw load and errors over time, one panel per strategy; ``False`` without matplotlib."""
    try:
        # By name, so that type checking does not need the optional dependency installed.
        figures = importlib.import_module("matplotlib.figure")
    except ImportError:
        return False
    figure = figures.Figure(
        figsize=(10, 2.6 * len(summaries) + 0.6), dpi=_PNG_DPI, layout="constrained"
    )
    axes = figure.subplots(len(summaries), 1, sharex=True, squeeze=False)[:, 0]
    for ax, summary in zip(axes, summaries, strict=True):
        _panel(ax, scenario, summary)
    axes[-1].set_xlabel("virtual time (s)")
    figure.suptitle(headline(scenario), fontsize=9)
    figure.savefig(path)
    return True


def _panel(ax: Any, scenario: Scenario, summary: Summary) -> None:
    """On a matplotlib ``Axes``: offered and delivered load (share of quota) and errors."""
    width = scenario.bucket_s
    times = [b.t_s + width / 2 for b in summary.series]
    per_minute = 60 / width / scenario.combined_tpm * 100
    ax.plot(times, [b.offered_tokens * per_minute for b in summary.series], label="offered")
    ax.plot(times, [b.delivered_tokens * per_minute for b in summary.series], label="delivered")
    ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylabel("% of quota")
    for deployment in scenario.deployments:
        for index, outage in enumerate(deployment.outages):
            label = f"{deployment.id} down" if index == 0 else None
            ax.axvspan(outage.start_s, outage.end_s, color="grey", alpha=0.15, label=label)
    counts = ax.twinx()
    counts.bar(
        times,
        [b.client_errors for b in summary.series],
        width * 0.8,
        color="tab:red",
        alpha=0.5,
        label="client errors",
    )
    counts.plot(
        times,
        [b.upstream_429 for b in summary.series],
        color="tab:purple",
        linestyle="--",
        label="upstream 429s",
    )
    counts.set_ylim(
        0, max(1, *(max(b.client_errors, b.upstream_429) for b in summary.series)) * 1.1
    )
    counts.set_ylabel(f"per {width:g} s")
    ax.set_title(
        f"{summary.strategy}: {summary.client_errors} client errors, {summary.upstream_429}"
        f" upstream 429s, {summary.delivered_share:.0%} of quota delivered",
        fontsize=9,
    )
    lines, labels = ax.get_legend_handles_labels()
    more_lines, more_labels = counts.get_legend_handles_labels()
    ax.legend(lines + more_lines, labels + more_labels, loc="upper right", fontsize=7)

"""The report: metrics from hand-made records, the table's and the JSON's shape, the PNG."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import pytest

from quotaflow.__main__ import main
from quotaflow.simulator.report import markdown_table, percentile, summarize, to_json, write_png
from quotaflow.simulator.runner import (
    RESET,
    UNFINISHED,
    Job,
    RequestRecord,
    RunResult,
    UpstreamEvent,
)
from quotaflow.simulator.scenario import parse_scenario
from tests.unit.simulator.test_sim_runner import tiny

if TYPE_CHECKING:
    from pathlib import Path


def two_minutes() -> dict[str, Any]:
    data = tiny()
    data["load"] = {**data["load"], "phases": [{"duration_s": 120, "load": 0.5}]}
    return data


def made_up_run() -> RunResult:
    """Four requests: two served (one after a 429 and one after a reset), two refused."""
    scenario = parse_scenario(two_minutes())
    job = Job(at_s=1.0, prompt_tokens=100, max_tokens=200, stream=False)
    late = Job(at_s=100.0, prompt_tokens=50, max_tokens=50, stream=True)
    requests = [
        RequestRecord(job, 2.0, 200, deployment="sweden", attempts=2, queue_s=0.0),
        RequestRecord(late, 104.0, 200, deployment="france", attempts=1, queue_s=3.0),
        RequestRecord(job, 31.0, 429, retry_after=True),
        RequestRecord(late, 160.0, UNFINISHED),
    ]
    upstream = [
        UpstreamEvent(1.1, "france", 429),
        UpstreamEvent(1.2, "sweden", 200, tokens=300),
        UpstreamEvent(103.0, "sweden", RESET),
        UpstreamEvent(103.5, "france", 200, tokens=100),
    ]
    return RunResult(scenario, "least-busy", requests, upstream, wall_s=1.25)


def test_summary_numbers() -> None:
    summary = summarize(made_up_run())

    assert (summary.requests, summary.succeeded, summary.client_errors) == (4, 2, 2)
    assert summary.errors_with_retry_after == 1
    assert summary.error_statuses == {UNFINISHED: 1, 429: 1}
    assert summary.unfinished == 1
    assert summary.retried == 1
    assert (summary.upstream_calls, summary.upstream_429, summary.upstream_resets) == (4, 1, 1)
    assert summary.upstream_429_share == 0.25
    assert summary.offered_tpm == (300 + 100 + 300 + 100) / 2
    assert summary.delivered_tpm == 400 / 2  # tokens charged during the two minutes of load
    assert summary.delivered_share == pytest.approx(200 / 120_000)
    assert summary.latency_p50_s == 1.0
    assert summary.latency_p99_s == 4.0
    assert (summary.queue_p50_s, summary.queue_p99_s, summary.queued) == (0.0, 3.0, 1)
    assert summary.deployment_share == {"sweden": 0.5, "france": 0.5}
    buckets = summary.series
    assert [b.t_s for b in buckets] == [10.0 * i for i in range(16)]  # to the last record
    assert (buckets[0].offered, buckets[0].succeeded, buckets[0].upstream_429) == (2, 1, 1)
    assert buckets[3].client_errors == 1
    assert (buckets[10].delivered_tokens, buckets[10].succeeded) == (100, 1)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    assert percentile([5.0], 0.99) == 5.0


def test_markdown_table_puts_strategies_side_by_side() -> None:
    summary = summarize(made_up_run())
    other = summarize(RunResult(made_up_run().scenario, "quota-aware", wall_s=0.5))

    table = markdown_table(made_up_run().scenario, [summary, other])

    lines = table.splitlines()
    assert lines[0].startswith("**tiny: 120 s at 50% of the combined quota (120,000 TPM:")
    assert lines[2] == "| | least-busy | quota-aware |"
    assert lines[3] == "|---|---:|---:|"
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines[4:]}
    assert "| 2 (50.0%) [unfinished: 1, 429: 1] | 0 (0.0%) |" in rows["client errors"]
    assert "1 of 4 calls (25.0%), 1 resets" in rows["upstream 429s"]
    assert "| 1.00 s / 4.00 s | n/a |" in rows["latency p50 / p99"]
    assert set(rows) >= {"served by sweden", "served by france", "delivered", "offered"}
    assert all(line.count("|") == 4 for line in lines[2:])


def test_json_has_everything_and_is_plain_json() -> None:
    run = made_up_run()

    data = json.loads(json.dumps(to_json(run.scenario, [summarize(run)]), allow_nan=False))

    assert data["combined_tpm"] == 120_000
    assert data["duration_s"] == 120
    assert data["scenario"]["deployments"][0]["id"] == "sweden"
    (strategy,) = data["strategies"]
    assert strategy["strategy"] == "least-busy"
    assert strategy["error_statuses"] == {"unfinished": 1, "429": 1}
    assert strategy["upstream_429_share"] == 0.25
    assert strategy["series"][0]["offered"] == 2
    assert {"latency_p99_s", "queue_p99_s", "delivered_share", "deployment_share"} <= set(strategy)


def test_png_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = made_up_run()
    summaries = [summarize(run), summarize(RunResult(run.scenario, "quota-aware"))]
    path = tmp_path / "chart.png"

    assert write_png(run.scenario, summaries, path)

    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_png_is_skipped_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # importing it fails
    run = made_up_run()

    assert not write_png(run.scenario, [summarize(run)], tmp_path / "chart.png")
    assert not (tmp_path / "chart.png").exists()


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny(strategies=["simple-shuffle", "least-busy"])))
    out = tmp_path / "out.json"

    code = main(["simulate", str(scenario), "--strategies", "least-busy", "--json", str(out)])

    assert code == 0
    printed = capsys.readouterr()
    assert "| | least-busy |" in printed.out
    assert "[1/1] least-busy" in printed.err
    assert [s["strategy"] for s in json.loads(out.read_text())["strategies"]] == ["least-busy"]


def test_the_command_line_names_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny()))

    assert main(["simulate", str(scenario), "--strategies", "fastest"]) == 2
    assert "--strategies: unknown fastest" in capsys.readouterr().err
    scenario.write_text(json.dumps({**tiny(), "seeds": 1}))
    assert main(["simulate", str(scenario)]) == 2
    assert "seeds: Extra inputs are not permitted" in capsys.readouterr().err

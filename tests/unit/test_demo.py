"""``quotaflow demo``: a short run end to end, the plan and quotas, and the terminal rendering."""

from __future__ import annotations

import io
import re

import pytest

from quotaflow._demo_view import LiveView, RegionState, Snapshot, percentile
from quotaflow.demo import REGIONS, demo, plan, region_config, run_demo


def _served(summary: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"served by (\w+)\s+(\d+)", summary)}


def _number(summary: str, label: str) -> int:
    match = re.search(rf"{label}\s+(\d+)", summary)
    assert match, f"no {label!r} in the summary"
    return int(match[1])


async def test_a_short_demo_spreads_over_both_regions_without_client_errors():
    out = io.StringIO()

    code = await demo(requests=40, concurrency=8, out=out, duration_s=1.5)

    text = out.getvalue()
    summary = text[text.index("Summary") :]
    assert code == 0, text
    assert _number(summary, "requests sent") == 40
    assert _number(summary, "succeeded") == 40
    assert _number(summary, "client-visible errors") == 0
    served = _served(summary)
    assert set(served) == {"sweden", "france"}
    assert all(count > 0 for count in served.values())
    assert sum(served.values()) == 40
    assert "\x1b" not in text  # not a terminal: plain progress lines only
    assert "model_name: gpt-4-preview" in text  # the LiteLLM config is shown
    assert "routing_strategy: least-busy" in text
    assert "quotaflow serve --config examples/config.yaml" in text


def test_run_demo_runs_its_own_event_loop():
    out = io.StringIO()

    code = run_demo(requests=6, concurrency=3, out=out, duration_s=0.3)

    assert code == 0, out.getvalue()
    assert _number(out.getvalue(), "client-visible errors") == 0


def test_the_burst_exceeds_one_regions_quota_but_not_both():
    jobs = plan(300)
    demand = sum(job.charge for job in jobs)
    quotas = [region_config(spec, jobs).tpm or 0 for spec in REGIONS]

    assert len(jobs) == 300
    assert sum(job.stream for job in jobs) == 60
    assert all(300 <= job.charge <= 600 for job in jobs)
    assert all(quota < demand for quota in quotas)
    assert sum(quotas) > demand


def test_the_fakes_charge_what_the_plan_expects():
    job = plan(1)[0]
    expected = -(-len(job.prompt + "You are a concise assistant for an online shop.") // 4)
    assert job.charge == expected + job.max_tokens


def _snapshot(elapsed_s: float, sweden_429s: int, cooling_s: float) -> Snapshot:
    return Snapshot(
        elapsed_s=elapsed_s,
        total=10,
        sent=6,
        ok=5,
        errors=0,
        retried=sweden_429s,
        regions=(
            RegionState("sweden", 3, sweden_429s, 1, cooling_s, 1_000, 2_000),
            RegionState("france", 2, 0, 0, 0.0, 500, 4_000),
        ),
    )


def test_live_view_redraws_in_place_and_reports_events():
    out = io.StringIO()
    view = LiveView(out, live=True, width=80)

    view.show(_snapshot(1.0, 0, 0.0))
    view.show(_snapshot(1.2, 1, 42.0))
    view.close()

    text = out.getvalue()
    assert text.count("\x1b[7F") == 1  # the second frame moved up over the first
    assert "sweden: 1 x 429 upstream" in text
    assert "cooling down for 42s" in text
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in text.splitlines()]
    assert max(len(line) for line in frames) < 80
    assert text.endswith("\x1b[?25h")


def test_plain_view_writes_progress_lines_without_escape_codes():
    out = io.StringIO()
    view = LiveView(out, live=False)

    view.show(_snapshot(1.0, 0, 0.0))
    view.show(_snapshot(2.0, 2, 30.0))
    view.close()

    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert lines[0].startswith("[  1.0s] sent 6/10")
    assert "sweden: 2 x 429 upstream" in out.getvalue()
    assert "sweden 3 (429s 2, cooling 30s)" in lines[-1]


@pytest.mark.parametrize(("q", "expected"), [(0.5, 2.0), (0.95, 4.0), (0.0, 1.0), (1.0, 4.0)])
def test_percentile_is_nearest_rank(q: float, expected: float):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == expected
    assert percentile([], q) == 0.0

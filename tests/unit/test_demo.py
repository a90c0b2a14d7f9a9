"""``quotaflow demo``: a short run end to end, the plan and quotas, and the terminal rendering."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import orjson
import pytest

from quotaflow._demo_view import (
    DemoResult,
    LiveView,
    RegionState,
    RegionUsage,
    Snapshot,
    TeamUsage,
    percentile,
    summary_text,
)
from quotaflow.demo import REGIONS, _usage_tokens, demo, plan, region_config, run_demo


def _served(summary: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"served by (\w+)\s+(\d+)", summary)}


def _number(summary: str, label: str) -> int:
    match = re.search(rf"{label}\s+(\d+)", summary)
    assert match, f"no {label!r} in the summary"
    return int(match[1])


def _books(summary: str) -> dict[str, tuple[list[int], str]]:
    """Per region: the gateway's requests and tokens, the region's own, and the verdict."""
    row = r"^    (\w+)\s+([\d,]+) req\s+([\d,]+) tokens\s+([\d,]+) req\s+([\d,]+) tokens\s+(\w+)$"
    return {
        m[1]: ([int(m[i].replace(",", "")) for i in range(2, 6)], m[6])
        for m in re.finditer(row, summary, re.MULTILINE)
    }


async def test_a_short_demo_tells_the_whole_story_without_client_errors():
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
    assert "What went wrong" not in text
    _assert_team_story(text, summary)
    _assert_books_match_the_regions(summary, served)
    # the gateway does not outlive the demo: its temporary data_dir is gone, /ui is only named
    data_dir = re.search(r"data_dir: (\S+)", text)
    assert data_dir
    assert not await asyncio.to_thread(Path(data_dir[1]).exists)
    assert "quotaflow serve running, open /ui" in text


def _assert_team_story(text: str, summary: str) -> None:
    # the operator made team dev (one model, a budget) and its key, shown in display form only
    assert "POST /team/new      team dev, models [gpt-4-preview], budget $10.00 per 30d" in text
    shown = re.search(
        r"POST /key/generate  key dev-invoices for team dev: (sk-\.\.\.\S{4})\n", text
    )
    assert shown, text
    secrets = set(re.findall(r"sk-[A-Za-z0-9_-]{12,}", text)) - {"sk-demo-master"}
    assert not secrets  # never the whole virtual key
    # the key may not use the other model the gateway serves: shown, and not a client error
    assert "model_name: text-embedding-3-small" in text
    assert "-> 404, blocked as expected: The model 'text-embedding-3-small'" in text
    assert _number(summary, r"other model refused \(404\)") == 1


def _assert_books_match_the_regions(summary: str, served: dict[str, int]) -> None:
    # the team's usage, read back through the API, matches what each region counted
    spend = re.search(r"GET /team/info\?team_id=dev\s+spend \$(\d+\.\d+)", summary)
    assert spend, summary
    assert float(spend[1]) > 0
    books = _books(summary)
    assert set(books) == {"sweden", "france"}, summary
    for region, ([requests, tokens, counted_requests, counted_tokens], verdict) in books.items():
        assert (requests, tokens) == (counted_requests, counted_tokens), summary
        assert verdict == "agree"
        assert requests == served[region]
        assert tokens > 0
    assert sum(numbers[0] for numbers, _ in books.values()) == sum(served.values())
    assert re.search(r"no region\s+1 req\s+\(the blocked text-embedding-3-small call\)", summary)


def test_usage_tokens_reads_whole_and_streamed_answers():
    usage = {"prompt_tokens": 26, "completion_tokens": 12, "total_tokens": 38}
    whole = orjson.dumps({"choices": [], "usage": usage})
    chunk = orjson.dumps({"choices": [{"delta": {"content": "hi"}}], "usage": None})
    streamed = b"".join(
        [
            b"data: " + chunk + b"\n\n",
            b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\n",
            b"data: [DONE]\n\n",
        ]
    )

    assert _usage_tokens(whole) == 38
    assert _usage_tokens(streamed) == 38
    assert _usage_tokens(b"data: " + chunk + b"\n\ndata: [DONE]\n\n") == 0


def _result(sweden_counted_tokens: int) -> DemoResult:
    final = _snapshot(5.0, 0, 0.0)
    final = Snapshot(5.0, 5, 5, 5, 0, 0, final.regions)
    usage = TeamUsage(
        team_id="dev",
        spend_usd=0.0123,
        max_budget=10.0,
        budget_duration="30d",
        regions=(
            RegionUsage("sweden", 3, 120, 3, sweden_counted_tokens),
            RegionUsage("france", 2, 80, 2, 80),
        ),
        unrouted=1,
    )
    return DemoResult(
        final=final,
        latencies_s=(0.1,),
        wall_s=5.0,
        team="dev",
        blocked_model="text-embedding-3-small",
        usage=usage,
    )


def test_the_summary_fails_the_run_when_the_books_differ_from_the_regions():
    matching, differing = _result(120), _result(119)

    assert matching.passed
    assert not differing.passed
    text = summary_text(differing, io.StringIO())
    assert re.search(r"sweden\s+3 req\s+120 tokens\s+3 req\s+119 tokens\s+DIFFER", text)
    assert "What went wrong:" in text
    assert "spend report and the regions' own counts differ" in text
    assert re.search(r"does\s+not\s+match\s+what\s+the\s+regions\s+counted", text)
    assert "What went wrong" not in summary_text(matching, io.StringIO())


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

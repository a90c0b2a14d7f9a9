"""A few virtual seconds of load through the real router and fake regions, at high speed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quotaflow.simulator.report import summarize
from quotaflow.simulator.runner import RESET, run_strategy
from quotaflow.simulator.scenario import parse_scenario

SPEED = 50.0


def tiny(**changes: Any) -> dict[str, Any]:
    """Two regions at 30% of their quota for 20 virtual seconds (~60 requests, ~0.5 s real)."""
    data: dict[str, Any] = {
        "name": "tiny",
        "seed": 5,
        "speed": SPEED,
        "deployments": [
            {"id": "sweden", "tpm": 60_000, "latency_ms": {"min": 100, "max": 300}},
            {"id": "france", "tpm": 60_000, "latency_ms": 200, "inter_chunk_ms": 5},
        ],
        "load": {
            "phases": [{"duration_s": 20, "load": 0.3}],
            "prompt_tokens": {"min": 50, "max": 150},
            "max_tokens": 100,
            "stream_share": 0.3,
        },
        "router": {"num_retries": 2, "cooldown_time": 5},
        "strategies": ["least-busy"],
        "drain_s": 20,
    }
    return {**data, **changes}


@pytest.fixture(scope="module", autouse=True)
def _warmed_up() -> None:
    """Run a one-second scenario first: the first requests of a fresh process pay one-time
    costs (first imports, connection set-up) that, at 50x speed, would show as seconds of
    virtual latency in the assertions below."""
    scenario = parse_scenario(tiny(load={**tiny()["load"], "phases": [
        {"duration_s": 1, "load": 0.3}
    ]}, drain_s=1))  # fmt: skip
    asyncio.run(run_strategy(scenario, "least-busy"))


async def test_light_load_is_served_without_errors_by_both_regions() -> None:
    scenario = parse_scenario(tiny())

    result = await run_strategy(scenario, "least-busy")
    summary = summarize(result)

    assert 30 < summary.requests < 100
    assert summary.client_errors == 0
    assert summary.upstream_429 == 0
    assert summary.upstream_calls == summary.requests
    assert sum(r.job.stream for r in result.requests) > 0
    assert set(summary.deployment_share) == {"sweden", "france"}
    assert all(share > 0.2 for share in summary.deployment_share.values())
    # Every token the regions charged is one the requests asked for: the sizes are exact.
    charged = sum(event.tokens for event in result.upstream)
    assert charged == sum(r.job.charge for r in result.requests) == summary.served_tokens
    assert summary.latency_p50_s is not None
    assert 0.1 <= summary.latency_p50_s < 1.5  # virtual seconds: 100-300 ms plus overheads
    assert result.wall_s < 20 / SPEED + 3


async def test_a_region_down_the_whole_run_is_routed_around() -> None:
    data = tiny()
    data["deployments"][0]["outages"] = [{"start_s": 0, "end_s": 1000}]
    scenario = parse_scenario(data)

    result = await run_strategy(scenario, "least-busy")
    summary = summarize(result)

    assert summary.client_errors == 0
    assert summary.upstream_resets > 0
    assert {e.deployment for e in result.upstream if e.status == RESET} == {"sweden"}
    assert summary.deployment_share == {"sweden": 0.0, "france": 1.0}
    assert summary.retried == summary.upstream_resets

"""Scenario files: every shipped one loads, mistakes are named by their path, load becomes rate."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from quotaflow.errors import ConfigError
from quotaflow.simulator.runner import Job, plan
from quotaflow.simulator.scenario import Uniform, load_scenario, parse_scenario

SCENARIOS = Path(__file__).parents[3] / "scenarios"


def scenario_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "tiny",
        "deployments": [{"id": "sweden", "tpm": 60_000}, {"id": "france", "tpm": 60_000}],
        "load": {
            "phases": [{"duration_s": 60, "load": 0.5}],
            "prompt_tokens": 100,
            "max_tokens": {"min": 50, "max": 150},
        },
        "strategies": ["least-busy"],
    }
    return {**data, **changes}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.yaml")
    return caught.value.problems


@pytest.mark.parametrize(
    "name",
    [
        "two-regions-50",
        "two-regions-90",
        "two-regions-120-burst",
        "two-regions-overload",
        "region-down",
    ],
)
def test_shipped_scenarios_load(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.name == name
    assert [d.id for d in scenario.deployments] == ["sweden", "france"]
    assert scenario.duration_s % 60 == 0  # whole quota minutes: delivered share is exact


def test_defaults_and_derived_numbers() -> None:
    scenario = parse_scenario(scenario_data())
    assert scenario.combined_tpm == 120_000
    assert scenario.combined_rpm == 720  # Azure's 6 RPM per 1000 TPM
    assert scenario.load.mean_charge == 200
    # 50% of 120,000 TPM in requests of 200 tokens: 300 a minute
    assert scenario.rate_of(scenario.load.phases[0]) == pytest.approx(5.0)
    assert scenario.speed == 20
    assert scenario.bucket_s == 10


def test_requests_per_minute_bind_when_they_are_scarcer() -> None:
    data = scenario_data()
    data["deployments"] = [{"id": "only", "tpm": 600_000, "rpm": 60}]
    scenario = parse_scenario(data)
    assert scenario.rate_of(scenario.load.phases[0]) == pytest.approx(0.5)  # 50% of 1 rps


def test_absolute_rate() -> None:
    scenario = parse_scenario(scenario_data(load={"phases": [{"duration_s": 10, "rps": 2.5}]}))
    assert scenario.rate_of(scenario.load.phases[0]) == 2.5


def test_unknown_keys_are_named_by_path() -> None:
    data = scenario_data()
    data["deployments"] = [{"id": "sweden", "tmp": 60_000, "tpm": 1}]
    data["load"] = {**data["load"], "stream": 0.2}
    assert problems(data) == [
        "s.yaml: deployments.0.tmp: Extra inputs are not permitted",
        "s.yaml: load.stream: Extra inputs are not permitted",
    ]


def test_negative_and_empty_values_are_rejected() -> None:
    data = scenario_data(strategies=[])
    data["deployments"] = [{"id": "sweden", "tpm": -5, "latency_ms": {"min": 9, "max": 1}}]
    found = problems(data)
    assert "s.yaml: deployments.0.tpm: Input should be greater than 0" in found
    assert any(p.startswith("s.yaml: deployments.0.latency_ms: ") and "min (9)" in p for p in found)
    assert any(p.startswith("s.yaml: strategies: ") for p in found)


def test_a_phase_needs_exactly_one_rate() -> None:
    data = scenario_data(load={"phases": [{"duration_s": 10, "load": 0.5, "rps": 3}]})
    (problem,) = problems(data)
    assert problem.startswith("s.yaml: load.phases.0: ")
    assert "exactly one of load" in problem


def test_unknown_strategy_and_bad_outage() -> None:
    data = scenario_data(strategies=["least-busy", "fastest"])
    data["deployments"] = [{"id": "sweden", "tpm": 1, "outages": [{"start_s": 9, "end_s": 3}]}]
    found = problems(data)
    assert any(p.startswith("s.yaml: strategies.1: ") for p in found)
    assert any(p.startswith("s.yaml: deployments.0.outages.0: ") for p in found)


def test_router_settings_are_checked_as_in_a_gateway_config() -> None:
    assert problems(scenario_data(router={"num_retriez": 1})) == [
        "s.yaml: router.num_retriez: unknown key; did you mean 'num_retries'?"
    ]
    assert problems(scenario_data(router={"cooldown_time": -1})) == [
        "s.yaml: router.cooldown_time: Input should be greater than or equal to 0"
    ]
    (problem,) = problems(scenario_data(router={"routing_strategy": "least-busy"}))
    assert "routing_strategy comes from 'strategies'" in problem


def test_repeated_ids_and_bad_ids() -> None:
    data = scenario_data()
    data["deployments"] = [{"id": "a", "tpm": 1}, {"id": "a", "tpm": 1}, {"id": "B C", "tpm": 1}]
    found = problems(data)
    assert any("deployments.2.id" in p for p in found)
    data["deployments"] = data["deployments"][:2]
    assert problems(data) == ["s.yaml: deployments: deployment ids must be unique: a"]


def test_load_scenario_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.problems[0].startswith(str(path))


def test_plan_is_seeded_poisson_with_the_asked_sizes() -> None:
    data = scenario_data(seed=3)
    data["load"] = {**data["load"], "stream_share": 0.25}
    scenario = parse_scenario(data)
    jobs = plan(scenario)
    assert jobs == plan(scenario)  # the same arrivals for every strategy
    assert jobs != plan(parse_scenario({**data, "seed": 4}))
    assert abs(len(jobs) - 300) < 4 * math.sqrt(300)  # 5 rps for 60 s
    assert all(0 <= a.at_s < b.at_s < 60 for a, b in itertools.pairwise(jobs))
    assert {job.prompt_tokens for job in jobs} == {100}
    assert all(50 <= job.max_tokens <= 150 for job in jobs)
    assert 0.15 < sum(job.stream for job in jobs) / len(jobs) < 0.35


def test_job_payload_is_sized_for_the_fake_estimate() -> None:
    job = Job(at_s=0.0, prompt_tokens=37, max_tokens=20, stream=True)
    payload = job.payload()
    assert len(payload["messages"][0]["content"]) == 4 * 37
    assert payload["stream"] is True
    assert payload["max_tokens"] == 20
    assert job.charge == 57
    assert "stream" not in Job(0.0, 1, 1, stream=False).payload()


def test_uniform_must_be_ordered() -> None:
    assert Uniform(min=1, max=1).max == 1
    with pytest.raises(ValueError, match="must not exceed"):
        Uniform(min=2, max=1)

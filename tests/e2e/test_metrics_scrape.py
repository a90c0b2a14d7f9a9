"""``/metrics`` while traffic flows through two fake regions: the numbers match what was sent."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from quotaflow.fake import FakeFault, FaultKind
from quotaflow.observability import BACKEND_UP, BUDGET_REMAINING_USD, ObservabilityOptions
from quotaflow.serving import bind_socket
from tests.support import MASTER_KEY, Stack, two_region_settings
from tests.unit.observability.support import observed_gateway

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
CHAT = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hello there"}]}
INPUT_PRICE, OUTPUT_PRICE = 0.000002, 0.000008
DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "quotaflow.json"

Samples = list[tuple[str, dict[str, str], float]]


def parse(text: str) -> Samples:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for sample, found, value in samples
        if sample == name and all(found.get(k) == v for k, v in labels.items())
    )


def priced(settings: dict[str, Any]) -> dict[str, Any]:
    for entry in settings["model_list"]:
        entry["litellm_params"]["input_cost_per_token"] = INPUT_PRICE
        entry["litellm_params"]["output_cost_per_token"] = OUTPUT_PRICE
    return settings


async def scrape(session: aiohttp.ClientSession, url: str) -> tuple[str, Samples]:
    async with session.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = await response.text()
    return text, parse(text)


async def chat(session: aiohttp.ClientSession, url: str, **extra: Any) -> tuple[int, Any]:
    async with session.post(
        url + "/v1/chat/completions", json={**CHAT, **extra}, headers=AUTH
    ) as response:
        body = await response.read()
        if extra.get("stream"):
            events = [line[6:] for line in body.split(b"\n") if line.startswith(b"data: {")]
            usage = next(orjson.loads(e)["usage"] for e in events if b'"usage":{' in e)
            return response.status, usage
        return response.status, orjson.loads(body).get("usage")


async def test_counters_match_the_traffic_sent(stack: Stack):
    sweden, france = await stack.region("sweden"), await stack.region("france")
    gateway, _ = await observed_gateway(stack, priced(two_region_settings([sweden, france])))
    usages = []
    async with aiohttp.ClientSession() as session:
        for _ in range(6):
            status, usage = await chat(session, gateway.url)
            usages.append(usage)
        for _ in range(4):
            status, usage = await chat(
                session, gateway.url, stream=True, stream_options={"include_usage": True}
            )
            assert status == 200
            usages.append(usage)
        async with session.post(
            gateway.url + "/v1/chat/completions",
            json=CHAT,
            headers={"authorization": "Bearer wrong"},
        ) as r:
            assert r.status == 401
        async with session.post(
            gateway.url + "/v1/chat/completions",
            json={**CHAT, "model": "no-such-model"},
            headers=AUTH,
        ) as r:
            assert r.status == 404
        _, samples = await scrape(session, gateway.url)

    group = {"model_group": "gpt-4-preview"}
    assert total(samples, "quotaflow_requests_total", status_class="2xx", **group) == 10
    assert total(samples, "quotaflow_requests_total", model_group="none", status_class="4xx") == 1
    assert total(samples, "quotaflow_requests_total", model_group="unknown") == 1
    prompt = sum(u["prompt_tokens"] for u in usages)
    completion = sum(u["completion_tokens"] for u in usages)
    assert total(samples, "quotaflow_tokens_total", gen_ai_token_type="input", **group) == prompt
    assert total(samples, "quotaflow_tokens_total", gen_ai_token_type="output", **group) == (
        completion
    )
    assert total(samples, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == (
        completion
    )
    assert total(samples, "quotaflow_spend_usd_total", **group) == pytest.approx(
        prompt * INPUT_PRICE + completion * OUTPUT_PRICE
    )
    for region in (sweden, france):
        assert (
            total(
                samples, "quotaflow_upstream_attempts_total", deployment=region.name, outcome="ok"
            )
            == region.app.stats.requests["chat"]
        )
    assert total(samples, "gen_ai_server_time_to_first_token_seconds_count") == 4
    assert total(samples, "gen_ai_server_request_duration_seconds_count", **group) == 10
    assert total(samples, "quotaflow_gateway_overhead_seconds_count") == 6
    assert total(samples, "quotaflow_deployment_in_flight") == 0
    assert total(samples, "quotaflow_retries_total") == 0


async def test_rate_limits_cooldowns_and_health_while_one_region_refuses(stack: Stack):
    sweden, france = await stack.region("sweden"), await stack.region("france", rpm=1000)
    settings = two_region_settings([sweden, france])
    settings["model_list"][0]["litellm_params"]["order"] = 1  # Sweden is tried first
    settings["model_list"][1]["litellm_params"]["order"] = 2
    gateway, _ = await observed_gateway(stack, settings)
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30, times=100))
    async with aiohttp.ClientSession() as session:
        statuses = [(await chat(session, gateway.url))[0] for _ in range(5)]
        _, samples = await scrape(session, gateway.url)
        async with session.get(gateway.url + "/health") as response:
            assert response.status == 401
        async with session.get(gateway.url + "/health", headers=AUTH) as response:
            assert response.status == 200
            health = await response.json()

    assert statuses == [200] * 5
    at = {"model_group": "gpt-4-preview", "deployment": "sweden", "provider": "azure"}
    assert total(samples, "quotaflow_upstream_attempts_total", outcome="rate_limited", **at) == 1
    assert total(samples, "quotaflow_cooldowns_total", **at) == 1
    assert total(samples, "quotaflow_retries_total") == 1
    assert total(samples, "quotaflow_deployment_cooling_down", **at) == 1
    assert 29 < total(samples, "quotaflow_deployment_cooldown_remaining_seconds", **at) <= 30
    # France's quota headers: like Azure, the fake counts 1000 rpm as 167 requests per 10 s.
    remaining = math.ceil(1000 / 6) - 5
    assert total(samples, "quotaflow_upstream_remaining_requests", deployment="france") == remaining
    rows = {row["id"]: row for row in health["deployments"]}
    assert health["status"] == "degraded"
    assert rows["sweden"]["state"] == "cooling_down"
    assert rows["sweden"]["cooling_down_until"].endswith("+00:00")
    assert rows["sweden"]["recent_429s"] == 1
    assert rows["france"]["state"] == "healthy"
    assert rows["france"]["remaining_requests"] == remaining
    assert rows["france"]["latency_ms"] is not None
    assert rows["france"]["in_flight"] == 0


async def test_a_separate_metrics_port_and_a_key_for_the_main_ones(stack: Stack):
    region = await stack.region("sweden")
    with bind_socket() as probe:  # a free port, released for the gateway to take
        port = probe.getsockname()[1]
    options = ObservabilityOptions(
        metrics_port=port, metrics_host="127.0.0.1", require_auth_for_metrics=True
    )
    gateway, observability = await observed_gateway(stack, two_region_settings([region]), options)
    assert observability.metrics_url == f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        await chat(session, gateway.url)
        async with session.get(gateway.url + "/metrics") as response:
            assert response.status == 401
        async with session.get(gateway.url + "/metrics", headers=AUTH) as response:
            assert response.status == 200
        _, samples = await scrape(session, observability.metrics_url)
        async with session.get(observability.metrics_url + "/v1/models") as response:
            assert response.status == 404

    assert total(samples, "quotaflow_requests_total", status_class="2xx") == 1


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return data


def queries(board: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_the_grafana_dashboard_is_importable():
    board = dashboard()

    assert {"title", "uid", "panels", "schemaVersion", "templating", "time"} <= set(board)
    assert board["id"] is None  # Grafana assigns one on import
    (source,) = board["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert {"type", "title", "gridPos"} <= set(panel), panel.get("title")
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        assert grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"]
            assert target["datasource"] == panel["datasource"]
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == "${DS_PROMETHEUS}"
    for expr in queries(board):  # balanced brackets: the cheapest syntax check there is
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), expr
    titles = " ".join(panel["title"].lower() for panel in board["panels"])
    for topic in ("deployment", "p50", "429", "cooldown", "queue", "tokens", "spend"):
        assert topic in titles


def exposed_names(text: str, samples: Samples) -> set[str]:
    """Every sample name, and those of families declared while they have no sample yet."""
    names = {name for name, _, _ in samples}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}
            names |= {family, *(family + s for s in suffixes.get(kind, ()))}
    return names


async def test_the_grafana_dashboard_queries_only_exposed_metrics(stack: Stack):
    sweden, france = await stack.region("sweden"), await stack.region("france", rpm=1000)
    gateway, observability = await observed_gateway(
        stack, priced(two_region_settings([sweden, france]))
    )
    # What the budget and backend components will register (#7): one sample each here.
    observability.add_gauge_source(BUDGET_REMAINING_USD, lambda: [(("team", "dev"), 10.0)])
    observability.add_gauge_source(BACKEND_UP, lambda: [(("state",), 1.0)])
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30))
    async with aiohttp.ClientSession() as session:
        await chat(session, gateway.url)
        await chat(session, gateway.url)
        await chat(session, gateway.url, stream=True, stream_options={"include_usage": True})
        text, samples = await scrape(session, gateway.url)

    referenced: set[str] = set()
    for expr in queries(dashboard()):
        selectors = re.sub(r"\{[^}]*\}|\bby\s*\([^)]*\)", "", expr)  # label names out
        referenced |= set(re.findall(r"\b((?:quotaflow|gen_ai)_[a-z0-9_]+)\b", selectors))
    missing = referenced - exposed_names(text, samples)
    assert not missing, f"the dashboard queries metrics that /metrics does not expose: {missing}"
    assert len(referenced) >= 20

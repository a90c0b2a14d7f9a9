"""Background probes against fake regions: one minimal real call, fed into the router's state."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from quotaflow.app import create_app
from quotaflow.clock import ManualClock
from quotaflow.config import load_settings
from quotaflow.fake import FakeFault, FaultKind
from quotaflow.observability.probe import HealthProbes, LocalProbeLease, SharedProbeLease
from quotaflow.serving import serve_app
from quotaflow.state import StateUnavailable
from tests.support import MASTER_KEY, Gateway, Stack, two_region_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.routing.deployment import Deployment

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
INTERVAL_S = 60.0


async def gateway_at(stack: Stack, settings: dict[str, Any], clock: ManualClock | None = None):
    loaded = load_settings(data=settings, environ={}).settings
    app = create_app(loaded, clock=clock)
    url = await stack.enter(serve_app(app, lifespan=True))
    return Gateway(app, url)


def probes_of(gateway: Gateway, lease=None, **options) -> HealthProbes:
    services = gateway.app.services
    lease = lease or LocalProbeLease(services.clock, INTERVAL_S)
    return HealthProbes(
        services.router, services.client, services.clock, lease, interval_s=INTERVAL_S, **options
    )


def deployment(probes: HealthProbes, region: str, group: str = "gpt-4-preview") -> Deployment:
    return next(d for d in probes.deployments if d.model_group == group and region in d.id)


async def test_a_probe_is_one_minimal_chat_call_and_records_its_latency(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await gateway_at(stack, two_region_settings([sweden]))
    probes = probes_of(gateway)
    router = gateway.app.services.router

    result = await probes.probe(deployment(probes, "sweden"))

    assert (result.outcome, result.status) == ("ok", 200)
    assert result.latency_s is not None
    assert sweden.app.stats.requests == {"chat": 1}
    sent = orjson.loads(sweden.app.stats.recent[-1].body)
    assert sent["max_tokens"] == 1
    assert router.health.latency("sweden") == pytest.approx(result.latency_s)
    assert router.health.in_flight("sweden") == 0
    assert probes.last("sweden") == result.as_json()


async def test_an_embedding_model_is_probed_with_an_embedding(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await gateway_at(stack, two_region_settings([sweden]))
    probes = probes_of(gateway)

    result = await probes.probe(deployment(probes, "", group="text-embedding-3-small"))

    assert result.outcome == "ok"
    assert sweden.app.stats.requests == {"embeddings": 1}


async def test_a_failed_probe_cools_the_deployment_down_like_a_failed_call(stack: Stack):
    sweden = await stack.region("sweden")
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30))
    clock = ManualClock()
    gateway = await gateway_at(stack, two_region_settings([sweden]), clock)
    seen: list[str] = []
    probes = probes_of(gateway, on_result=lambda d, r: seen.append(f"{d.id} {r.outcome}"))
    router, target = gateway.app.services.router, deployment(probes, "sweden")

    assert await probes.turn(target) == INTERVAL_S

    assert seen == ["sweden rate_limited"]
    assert router.health.cooling_until("sweden") == clock.monotonic() + 30
    assert probes.last("sweden")["status"] == 429  # type: ignore[index]
    # While it cools down, its turn waits for the end of the cooldown; nothing is sent.
    clock.advance(10)
    assert await probes.turn(target) == 20
    assert sweden.app.stats.requests == {"chat": 1}


async def test_each_deployment_once_per_interval(stack: Stack):
    sweden = await stack.region("sweden")
    clock = ManualClock()
    gateway = await gateway_at(stack, two_region_settings([sweden]), clock)
    probes = probes_of(gateway)
    target = deployment(probes, "sweden")

    assert await probes.turn(target) == INTERVAL_S
    clock.advance(INTERVAL_S - 1)
    assert await probes.turn(target) == 1  # its lease has a second left
    clock.advance(1)
    assert await probes.turn(target) == INTERVAL_S

    assert sweden.app.stats.requests == {"chat": 2}
    assert probes.counts == {("sweden", "ok"): 2}


async def test_a_probe_never_exceeds_a_declared_quota(stack: Stack):
    sweden = await stack.region("sweden")
    settings = two_region_settings([sweden])
    settings["model_list"][0]["litellm_params"]["rpm"] = 6  # one request per 10 s
    gateway = await gateway_at(stack, settings, ManualClock())
    probes = probes_of(gateway)
    target = deployment(probes, "sweden")

    first, second = await probes.probe(target), await probes.probe(target)

    assert (first.outcome, second.outcome) == ("ok", "skipped")
    assert sweden.app.stats.requests == {"chat": 1}
    assert probes.last("sweden")["outcome"] == "ok"  # type: ignore[index]


class Shared:
    """A ``SharedScripts`` whose one script is the probe lease, kept in a dict."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.leases: dict[str, float] = {}
        self.degraded = False
        self.replicas = 2

    def script(self, source: str):
        assert "'NX', 'PX'" in source

        async def run(args: Sequence[str | int]) -> list[int]:
            if self.degraded:
                raise StateUnavailable("away")
            deployment_id, _, interval_ms = args
            now_ms = self.clock.monotonic() * 1000
            until = self.leases.get(str(deployment_id), 0.0)
            if until > now_ms:
                return [0, int(until - now_ms)]
            self.leases[str(deployment_id)] = now_ms + int(interval_ms)
            return [1, 0]

        return run

    def on_rejoin(self, hook) -> None:
        raise NotImplementedError


async def test_replicas_take_turns_through_the_shared_lease():
    clock = ManualClock()
    shared = Shared(clock)
    one, two = (
        SharedProbeLease(shared, LocalProbeLease(clock, INTERVAL_S), INTERVAL_S) for _ in range(2)
    )

    assert await one.take("sweden") == 0
    assert await two.take("sweden") == INTERVAL_S
    assert await two.take("france") == 0
    clock.advance(INTERVAL_S)
    assert await two.take("sweden") == 0
    assert await one.take("sweden") == INTERVAL_S
    # While the shared state is away each replica keeps its own turns.
    shared.degraded = True
    assert await one.take("sweden") == 0
    assert await one.take("sweden") == INTERVAL_S


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url, headers=AUTH) as response:
        assert response.status == 200
        return await response.json()


async def wait_for(condition, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_the_background_probes_show_in_health_and_metrics(stack: Stack):
    sweden, france = await stack.region("sweden"), await stack.region("france")
    sweden.app.add_faults(
        FakeFault(FaultKind.STATUS, status=429, retry_after_s=30, model="gpt-4-preview")
    )
    settings = two_region_settings([sweden, france])
    settings["general_settings"] |= {
        "background_health_checks": True,
        "health_check_interval": 3600,
    }
    gateway = await gateway_at(stack, settings)
    probes = gateway.app.services.observability.probes
    assert probes is not None
    await wait_for(lambda: len(probes.results) == 4)  # each deployment, once at start

    async with aiohttp.ClientSession() as session:
        health = await get_json(session, gateway.url + "/health")
        async with session.get(gateway.url + "/metrics") as response:
            samples = await response.text()

    rows = {row["id"]: row for row in health["deployments"]}
    assert rows["sweden"]["state"] == "cooling_down"
    assert rows["sweden"]["recent_429s"] == 1
    assert rows["sweden"]["last_probe"]["outcome"] == "rate_limited"
    assert rows["france"]["last_probe"]["outcome"] == "ok"
    assert rows["france"]["last_probe"]["latency_ms"] >= 0
    assert rows["france"]["last_probe"]["at"].endswith("+00:00")
    assert total(samples, "quotaflow_health_probes_total", outcome="ok") == 3
    assert total(samples, "quotaflow_health_probes_total", deployment="sweden") == 1
    assert total(samples, "quotaflow_deployment_probe_up", deployment="france") == 1
    assert total(samples, "quotaflow_deployment_probe_up", deployment="sweden") == 0
    assert total(samples, "quotaflow_cooldowns_total", deployment="sweden") == 1
    assert total(samples, "quotaflow_backend_up", role="state", backend="memory") == 1
    assert sweden.app.stats.requests == {"chat": 1, "embeddings": 1}


async def test_without_the_setting_nothing_is_probed(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await gateway_at(stack, two_region_settings([sweden]))

    async with aiohttp.ClientSession() as session:
        health = await get_json(session, gateway.url + "/health")

    assert gateway.app.services.observability.probes is None
    assert all("last_probe" not in row for row in health["deployments"])
    assert sweden.app.stats.requests == {}

"""The router against fake regions on 127.0.0.1: retries, cooldowns, backoff, tiers, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from quotaflow.app import build_router
from quotaflow.config import load_settings
from quotaflow.errors import (
    AllAttemptsFailed,
    ModelNotFound,
    NoDeploymentAvailable,
    UpstreamRejected,
)
from quotaflow.fake import FakeFault, FaultKind
from quotaflow.providers import Operation, UpstreamClient
from quotaflow.routing import Call, Router
from tests.support import Region, Stack, two_region_settings

CHAT = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hi"}]}


def _call(**payload: Any) -> Call:
    return Call(Operation.CHAT, "gpt-4-preview", {**CHAT, **payload})


async def _router(stack: Stack, regions: list[Region], **router: Any) -> Router:
    settings = load_settings(data=two_region_settings(regions, **router), environ={}).settings
    client = await stack.enter(UpstreamClient())
    return build_router(settings, client)


async def test_backs_off_for_the_soonest_cooldown_when_nothing_is_healthy(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=1)
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=0.3))

    started = asyncio.get_running_loop().time()
    routed = await router.complete(_call())
    waited = asyncio.get_running_loop().time() - started

    assert [a.outcome for a in routed.attempts] == ["UpstreamRateLimited", "ok"]
    assert 0.25 <= waited < 2
    assert routed.queue_s >= 0.25  # the wait is not counted as gateway overhead


async def test_no_retries_left_means_the_last_error_with_every_attempt(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0)
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=500))

    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(_call())

    assert info.value.status == 503
    assert [a.deployment_id for a in info.value.attempts] == ["sweden"]


async def test_every_deployment_cooling_gives_429_with_retry_after(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0, queue_timeout=0)
    router.health.record_failure("sweden", _rate_limited(30))

    with pytest.raises(NoDeploymentAvailable) as info:
        await router.complete(_call())

    assert info.value.status == 429
    assert 29 <= int(info.value.headers["retry-after"]) <= 30
    assert sum(sweden.app.stats.requests.values()) == 0


async def test_lower_order_tier_serves_first_and_the_next_tier_takes_over(stack: Stack):
    primary = await stack.region("primary")
    backup = await stack.region("backup")
    settings = two_region_settings([primary, backup])
    settings["model_list"][0]["litellm_params"]["order"] = 1
    settings["model_list"][1]["litellm_params"]["order"] = 2
    router = build_router(
        load_settings(data=settings, environ={}).settings,
        await stack.enter(UpstreamClient()),
    )

    served = [(await router.complete(_call())).deployment.id for _ in range(5)]
    primary.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30))
    served_after = [(await router.complete(_call())).deployment.id for _ in range(3)]

    assert served == ["primary"] * 5
    assert served_after == ["backup"] * 3


async def test_request_faults_are_never_retried(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    router = await _router(stack, [sweden, france])
    bad = {"messages": [{"role": "user", "content": "__content_filter__"}]}

    with pytest.raises(UpstreamRejected):
        await router.complete(_call(**bad))

    assert sweden.app.stats.requests["chat"] + france.app.stats.requests["chat"] == 1
    assert router.health.cooling_until("sweden") == 0
    assert router.health.cooling_until("france") == 0


async def test_unknown_model_lists_the_known_ones(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden])
    with pytest.raises(ModelNotFound, match="gpt-4-preview, text-embedding-3-small"):
        await router.complete(Call(Operation.CHAT, "nope", CHAT))


async def test_stream_without_a_first_token_in_time_fails_over(stack: Stack):
    slow = await stack.region("slow", latency_ms=2_000)
    fast = await stack.region("fast")
    router = await _router(stack, [slow, fast], stream_timeout=0.2, routing_strategy="least-busy")
    slow.app.add_faults(FakeFault(FaultKind.DELAY, delay_ms=2_000, times=10))

    results = []
    for _ in range(4):
        routed = await router.stream(_call(stream=True))
        chunks = [*routed.first, *[c async for c in routed.rest]]
        await routed.aclose()
        results.append((routed.deployment.id, len(chunks)))

    assert {deployment for deployment, _ in results} == {"fast"}
    assert all(count > 2 for _, count in results)
    assert router.health.in_flight("slow") == 0
    assert router.health.in_flight("fast") == 0


async def test_a_stream_closed_before_reading_releases_its_deployment(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden])

    routed = await router.stream(_call(stream=True))
    assert router.health.in_flight("sweden") == 1
    await routed.aclose()

    assert router.health.in_flight("sweden") == 0
    first = orjson.loads(routed.first[0])
    assert first["object"] == "chat.completion.chunk"


def _rate_limited(seconds: float) -> Any:
    from quotaflow.errors import UpstreamRateLimited  # noqa: PLC0415

    return UpstreamRateLimited("limited", retry_after_s=seconds)


async def test_a_call_waits_in_the_queue_for_a_cooldown_to_end(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0, queue_timeout=5)
    router.health.record_failure("sweden", _rate_limited(0.3))

    routed = await router.complete(_call())

    assert routed.deployment.id == "sweden"
    assert 0.25 <= routed.queue_s < 2
    assert router.queue.stats.admitted == 1
    assert router.queue.waiting() == 0


async def test_the_queue_gives_up_at_its_deadline_with_a_truthful_retry_after(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0, queue_timeout=0.2)
    router.health.record_failure("sweden", _rate_limited(20))

    with pytest.raises(NoDeploymentAvailable) as info:
        await router.complete(_call())

    assert 19 <= int(info.value.headers["retry-after"]) <= 20
    assert router.queue.stats.turned_away == 1
    assert sum(sweden.app.stats.requests.values()) == 0


async def test_a_full_queue_turns_calls_away_at_once(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0, queue_timeout=5, queue_max_size=1)
    router.health.record_failure("sweden", _rate_limited(0.5))

    first = asyncio.ensure_future(router.complete(_call()))
    await asyncio.sleep(0.05)
    with pytest.raises(NoDeploymentAvailable):
        await router.complete(_call())
    assert (await first).deployment.id == "sweden"


async def test_the_queue_serves_lower_priority_values_first(stack: Stack):
    sweden = await stack.region("sweden")
    router = await _router(stack, [sweden], num_retries=0, queue_timeout=5)
    router.health.record_failure("sweden", _rate_limited(0.3))
    served: list[int] = []

    async def one(priority: int) -> None:
        await router.complete(Call(Operation.CHAT, "gpt-4-preview", dict(CHAT), priority=priority))
        served.append(priority)

    tasks = []
    for priority in (5, 1, 3):
        tasks.append(asyncio.ensure_future(one(priority)))
        await asyncio.sleep(0.02)  # arrive in this order
    await asyncio.gather(*tasks)

    assert served == [1, 3, 5]


async def test_usage_based_routing_never_sends_a_deployment_past_its_quota(stack: Stack):
    # The fake charges ceil(chars/4) + max_tokens on arrival: 1 + 1000 tokens per call here.
    sweden = await stack.region("sweden", tpm=3_100)
    france = await stack.region("france", tpm=3_100)
    settings = two_region_settings(
        [sweden, france], routing_strategy="usage-based-routing-v2", queue_timeout=0
    )
    for entry in settings["model_list"]:
        entry["litellm_params"]["tpm"] = 3_100
    router = build_router(
        load_settings(data=settings, environ={}).settings, await stack.enter(UpstreamClient())
    )

    results = await asyncio.gather(
        *(router.complete(_call(max_tokens=1000)) for _ in range(8)), return_exceptions=True
    )

    served = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, NoDeploymentAvailable)]
    assert len(served) == 6
    assert len(refused) == 2
    assert sweden.app.stats.statuses[429] == 0
    assert france.app.stats.statuses[429] == 0


async def test_an_exhausted_group_falls_back_to_the_next_group(stack: Stack):
    sweden = await stack.region("sweden")
    backup = await stack.region("backup")
    settings = two_region_settings([sweden], num_retries=0, queue_timeout=0)
    settings["model_list"].append(
        {
            "model_name": "gpt-4o",
            "litellm_params": {
                "model": "azure/gpt-4o",
                "api_base": backup.url,
                "api_key": "key-backup",
            },
            "model_info": {"id": "backup"},
        }
    )
    settings["router_settings"]["fallbacks"] = [{"gpt-4-preview": ["gpt-4o"]}]
    settings["router_settings"]["model_group_alias"] = {"gpt-4": "gpt-4-preview"}
    router = build_router(
        load_settings(data=settings, environ={}).settings, await stack.enter(UpstreamClient())
    )
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=500, times=5))

    routed = await router.complete(Call(Operation.CHAT, "gpt-4", dict(CHAT)))

    assert routed.deployment.id == "backup"
    assert [a.deployment_id for a in routed.attempts] == ["sweden", "backup"]


async def test_context_window_rejections_use_their_own_fallbacks(stack: Stack):
    small = await stack.region("small")
    large = await stack.region("large")
    settings = two_region_settings([small], num_retries=0)
    settings["model_list"].append(
        {
            "model_name": "gpt-4-32k",
            "litellm_params": {
                "model": "azure/gpt-4-32k",
                "api_base": large.url,
                "api_key": "key-large",
            },
            "model_info": {"id": "large"},
        }
    )
    settings["router_settings"]["context_window_fallbacks"] = [{"gpt-4-preview": ["gpt-4-32k"]}]
    router = build_router(
        load_settings(data=settings, environ={}).settings, await stack.enter(UpstreamClient())
    )
    small.app.add_faults(FakeFault(FaultKind.STATUS, status=400, times=1))

    with pytest.raises(UpstreamRejected):  # a plain 400 is the client's problem: no fallback
        await router.complete(_call())


async def test_chunks_that_arrive_together_are_handed_on_together(stack: Stack):
    together = await stack.region("together")  # sends the whole stream in one write
    paced = await stack.region("paced", inter_chunk_ms=40)
    router = await _router(stack, [together, paced], routing_strategy="simple-shuffle")
    seen: dict[str, list[list[bytes]]] = {}

    for _ in range(8):
        routed = await router.stream(_call(stream=True))
        batches = [routed.first, *[batch async for batch in routed.batches]]
        await routed.aclose()
        seen.setdefault(routed.deployment.id, batches)  # the first stream of each
        if len(seen) == 2:
            break

    together_chunks = sum(len(batch) for batch in seen["together"])
    paced_chunks = sum(len(batch) for batch in seen["paced"])
    assert together_chunks > 8
    assert len(seen["together"]) <= together_chunks // 3  # the first, then whole reads
    # One batch per chunk when they come one by one (a loaded machine may merge an odd pair).
    assert len(seen["paced"]) >= paced_chunks * 3 // 4

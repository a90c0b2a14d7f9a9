"""One region failing or out of quota is invisible to clients while the other has room."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
import openai
import orjson
import pytest

from quotaflow.errors import UpstreamRateLimited
from quotaflow.fake import FakeFault, FaultKind
from tests.support import MASTER_KEY, Stack, two_region_settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

pytestmark = pytest.mark.e2e

HEADERS = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
BODY = {"model": "gpt-4-preview", "messages": MESSAGES, "max_tokens": 10}


Response = tuple[int, dict[str, str], dict[str, Any]]


async def _post(url: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Response:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url + "/v1/chat/completions",
            json=body or BODY,
            headers=kwargs.pop("headers", HEADERS),
            **kwargs,
        ) as r,
    ):
        return r.status, dict(r.headers), orjson.loads(await r.read())


@pytest.mark.parametrize(
    "fault",
    [
        FakeFault(FaultKind.STATUS, status=429, retry_after_s=30),
        FakeFault(FaultKind.STATUS, status=500),
        FakeFault(FaultKind.STATUS, status=503),
        FakeFault(FaultKind.STATUS, status=401),
        FakeFault(FaultKind.RESET),
        FakeFault(FaultKind.GARBAGE),
    ],
    ids=lambda f: f"{f.kind.value}-{f.status}",
)
async def test_a_failing_region_is_retried_on_the_other_and_cooled_down(stack: Stack, fault):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    settings = two_region_settings([sweden, france])
    settings["model_list"][0]["litellm_params"]["order"] = 1  # Sweden is always tried first
    settings["model_list"][1]["litellm_params"]["order"] = 2
    gateway = await stack.gateway(settings)
    sweden.app.add_faults(FakeFault(fault.kind, times=100, status=fault.status))

    results = [await _post(gateway.url) for _ in range(12)]

    assert {status for status, _, _ in results} == {200}
    assert {headers["x-quotaflow-deployment"] for _, headers, _ in results} == {"france"}
    # Sweden was tried once, then cooled down: no request wasted on it after that.
    assert sum(sweden.app.stats.faults.values()) == 1
    assert france.app.stats.requests["chat"] == 12


async def test_both_regions_out_of_quota_gives_429_with_a_truthful_retry_after(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france], num_retries=1))
    for region in (sweden, france):
        region.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=40, times=5))

    status, headers, body = await _post(gateway.url)

    assert status == 429
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert 35 <= int(headers["Retry-After"]) <= 40
    assert headers["x-quotaflow-attempts"] == "2"


async def test_quota_exhaustion_on_one_region_moves_traffic_to_the_other(stack: Stack):
    # Each call is charged ~1,000 tokens on arrival (max_tokens); Sweden holds 3 of them.
    sweden = await stack.region("sweden", tpm=3_500)
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france]))
    body = {**BODY, "max_tokens": 1000}

    results = await asyncio.gather(*(_post(gateway.url, body) for _ in range(20)))

    assert {status for status, _, _ in results} == {200}
    assert sweden.app.stats.statuses[200] <= 3
    assert france.app.stats.statuses[200] == 20 - sweden.app.stats.statuses[200]


async def test_a_region_that_is_down_is_invisible(stack: Stack):
    france = await stack.region("france")
    sweden = await stack.region("sweden")
    settings = two_region_settings([sweden, france])
    settings["model_list"][0]["litellm_params"]["api_base"] = "http://127.0.0.1:9"  # nothing there
    gateway = await stack.gateway(settings)

    results = await asyncio.gather(*(_post(gateway.url) for _ in range(10)))

    assert {status for status, _, _ in results} == {200}
    assert {headers["x-quotaflow-deployment"] for _, headers, _ in results} == {"france"}


async def test_hanging_upstreams_time_out_as_504(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    settings = two_region_settings([sweden, france], timeout=0.3, num_retries=1)
    gateway = await stack.gateway(settings)
    for region in (sweden, france):
        region.app.add_faults(FakeFault(FaultKind.HANG, times=5))

    status, _, body = await _post(gateway.url)

    assert status == 504
    assert body["error"]["type"] == "timeout_error"


async def test_garbage_everywhere_is_502(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france], num_retries=1))
    for region in (sweden, france):
        region.app.add_faults(FakeFault(FaultKind.GARBAGE, times=5))

    status, _, body = await _post(gateway.url)

    assert status == 502
    assert body["error"]["code"] == "bad_upstream_response"


async def test_a_rejected_request_goes_back_unchanged_and_is_not_retried(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france]))
    body = {**BODY, "messages": [{"role": "user", "content": "__content_filter__"}]}

    status, _, error = await _post(gateway.url, body)

    assert status == 400
    assert error["error"]["code"] == "content_filter"
    assert error["error"]["param"] == "prompt"
    assert "innererror" in error["error"]
    assert sweden.app.stats.requests["chat"] + france.app.stats.requests["chat"] == 1


async def test_a_stream_fails_over_before_its_first_byte(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(
        two_region_settings([sweden, france], routing_strategy="simple-shuffle")
    )
    sweden.app.add_faults(FakeFault(FaultKind.STATUS, status=429, times=50))
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)

    for _ in range(6):
        stream = await client.chat.completions.create(
            model="gpt-4-preview", messages=MESSAGES, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text.startswith("This is a fake answer")
    assert france.app.stats.requests["chat"] == 6
    await client.close()


async def test_a_stream_cut_after_its_first_byte_ends_with_an_error_event(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await stack.gateway(two_region_settings([sweden]))
    sweden.app.add_faults(FakeFault(FaultKind.RESET_MID_STREAM, after_chunks=3))
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)

    stream = await client.chat.completions.create(
        model="gpt-4-preview", messages=MESSAGES, stream=True
    )
    received: list[object] = []

    async def drain() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(openai.APIError):
        await drain()
    assert received  # the first chunks arrived before the error event
    assert gateway.app.services.router.health.in_flight("sweden") == 0
    await client.close()


async def test_a_client_leaving_mid_stream_cancels_the_upstream_call(stack: Stack):
    sweden = await stack.region("sweden", inter_chunk_ms=200, stream_chunks=50)
    gateway = await stack.gateway(two_region_settings([sweden]))
    health = gateway.app.services.router.health

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gateway.v1 + "/chat/completions", json={**BODY, "stream": True}, headers=HEADERS
        ) as response,
    ):
        first = await response.content.readline()
        assert first.startswith(b"data: ")
        assert health.in_flight("sweden") == 1
    # The client is gone: the gateway must drop the upstream stream and release the deployment.
    for _ in range(100):
        if health.in_flight("sweden") == 0 and sweden.app.stats.cancelled_streams == 1:
            break
        await asyncio.sleep(0.02)
    assert health.in_flight("sweden") == 0
    assert sweden.app.stats.cancelled_streams == 1


async def test_a_request_header_lowers_the_timeout_but_never_raises_it(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await stack.gateway(two_region_settings([sweden], num_retries=0, timeout=60))
    sweden.app.add_faults(FakeFault(FaultKind.HANG, times=5))

    started = asyncio.get_running_loop().time()
    status, _, body = await _post(gateway.url, headers={**HEADERS, "x-quotaflow-timeout": "0.3"})

    assert status == 504
    assert asyncio.get_running_loop().time() - started < 5
    assert body["error"]["type"] == "timeout_error"


async def test_priority_is_the_gateways_and_never_reaches_the_upstream(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await stack.gateway(two_region_settings([sweden]))

    status, _, _ = await _post(gateway.url, {**BODY, "priority": 2})
    bad, _, error = await _post(gateway.url, {**BODY, "priority": "high"})

    assert status == 200
    assert b"priority" not in sweden.app.stats.recent[-1].body
    assert bad == 400
    assert error["error"]["param"] == "priority"


async def test_a_queued_call_says_how_long_it_waited(stack: Stack):
    sweden = await stack.region("sweden")
    gateway = await stack.gateway(two_region_settings([sweden], num_retries=0, queue_timeout=5))
    gateway.app.services.router.health.record_failure(
        "sweden", UpstreamRateLimited("busy", retry_after_s=0.3)
    )

    status, headers, _ = await _post(gateway.url)

    assert status == 200
    assert float(headers["x-quotaflow-queue-ms"]) >= 250
    assert float(headers["x-quotaflow-overhead-ms"]) < 100  # queue time is not overhead
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.url + "/health/readiness") as response,
    ):
        queue = (await response.json())["queue"]
    assert (queue["waiting"], queue["admitted"], queue["turned_away"]) == (0, 1, 0)
    assert queue["wait_s_total"] >= 0.25


async def test_a_prompt_too_long_for_every_window_is_refused_or_sent_to_its_fallback(stack: Stack):
    small = await stack.region("small")
    large = await stack.region("large")
    settings = two_region_settings([small])
    settings["model_list"][0]["model_info"]["base_model"] = "gpt-4"  # an 8,192-token window
    gateway = await stack.gateway(settings)
    long_prompt = {**BODY, "messages": [{"role": "user", "content": "word " * 9_000}]}

    status, _, error = await _post(gateway.url, long_prompt)

    assert status == 400
    assert error["error"]["code"] == "context_length_exceeded"
    assert "9008 tokens" in error["error"]["message"]
    assert sum(small.app.stats.requests.values()) == 0

    settings["model_list"].append(
        {
            "model_name": "gpt-4-32k",
            "litellm_params": {
                "model": "azure/gpt-4-32k",
                "api_base": large.url,
                "api_key": "key-large",
            },
            "model_info": {"id": "large", "base_model": "gpt-4-32k"},
        }
    )
    settings["router_settings"]["context_window_fallbacks"] = [{"gpt-4-preview": ["gpt-4-32k"]}]
    fallback = await stack.gateway(settings)

    status, headers, _ = await _post(fallback.url, long_prompt)

    assert status == 200
    assert headers["x-quotaflow-deployment"] == "large"
    assert sum(small.app.stats.requests.values()) == 0


async def test_the_price_table_prices_every_answer(stack: Stack):
    sweden = await stack.region("sweden")
    settings = two_region_settings([sweden])
    settings["model_list"][0]["model_info"]["base_model"] = "azure/gpt-4o"
    gateway = await stack.gateway(settings)

    status, headers, body = await _post(gateway.url)

    usage = body["usage"]
    expected = usage["prompt_tokens"] * 2.5e-06 + usage["completion_tokens"] * 1e-05
    assert status == 200
    assert float(headers["x-quotaflow-response-cost"]) == pytest.approx(expected)

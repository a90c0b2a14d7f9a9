"""Every bad input gets a clear OpenAI-shaped error and costs nothing upstream."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from tests.support import MASTER_KEY, Stack, two_region_settings

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
GOOD = {"model": "gpt-4-preview", "messages": [{"role": "user", "content": "hi"}]}


async def _gateway(stack: Stack, **general):
    region = await stack.region("sweden")
    settings = two_region_settings([region])
    settings["general_settings"].update(general)
    return region, await stack.gateway(settings)


async def _call(url: str, method: str = "POST", path: str = "/v1/chat/completions", **kwargs):
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, **kwargs) as r,
    ):
        return r.status, r.headers, orjson.loads(await r.read())


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "needle"),
    [
        ({"data": b"{not json", "headers": JSON}, 400, None, "not valid JSON"),
        ({"data": b"[1, 2]", "headers": JSON}, 400, None, "JSON object"),
        ({"data": b"", "headers": JSON}, 400, None, "empty"),
        (
            {"data": b"model=x", "headers": {**AUTH, "content-type": "text/plain"}},
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (
            {"json": {"messages": GOOD["messages"]}, "headers": AUTH},
            400,
            "missing_required_parameter",
            "'model'",
        ),
        ({"json": {**GOOD, "messages": "hi"}, "headers": AUTH}, 400, "invalid_value", "'messages'"),
        (
            {"json": {**GOOD, "max_tokens": "ten"}, "headers": AUTH},
            400,
            "invalid_value",
            "'max_tokens'",
        ),
        (
            {"json": {**GOOD, "model": "gpt-5"}, "headers": AUTH},
            404,
            "model_not_found",
            "gpt-4-preview",
        ),
        ({"json": GOOD}, 401, "invalid_api_key", "No API key"),
        (
            {"json": GOOD, "headers": {"authorization": "Bearer sk-nope"}},
            401,
            "invalid_api_key",
            "Incorrect",
        ),
    ],
)
async def test_bad_requests_are_refused_before_any_upstream_call(
    stack, kwargs, status, code, needle
):
    region, gateway = await _gateway(stack)

    got, headers, body = await _call(gateway.url, **kwargs)

    assert got == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert needle in body["error"]["message"]
    assert headers["x-request-id"]
    assert MASTER_KEY not in body["error"]["message"]
    assert sum(region.app.stats.requests.values()) == 0


async def test_bodies_over_the_limit_are_413(stack: Stack):
    region, gateway = await _gateway(stack, max_request_size_mb=0.01)  # ~10 KB
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * 20_000}]}

    status, _, body = await _call(gateway.url, json=big, headers=AUTH)

    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert sum(region.app.stats.requests.values()) == 0


async def test_unknown_routes_are_404_in_openai_shape(stack: Stack):
    _, gateway = await _gateway(stack)
    status, _, body = await _call(gateway.url, "GET", "/v1/nothing-here", headers=AUTH)
    assert status == 404
    assert body["error"]["code"] == "unknown_url"


async def test_health_is_open_and_models_need_the_key(stack: Stack):
    _, gateway = await _gateway(stack)
    for path in ("/health/liveliness", "/health/liveness"):
        status, _, body = await _call(gateway.url, "GET", path)
        assert (status, body["status"]) == (200, "alive")
    status, _, body = await _call(gateway.url, "GET", "/health/readiness")
    assert (status, body["status"], body["deployments"]) == (200, "ready", 2)
    status, _, _ = await _call(gateway.url, "GET", "/v1/models")
    assert status == 401
    status, _, body = await _call(gateway.url, "GET", "/models/gpt-4-preview", headers=AUTH)
    assert (status, body["id"]) == (200, "gpt-4-preview")
    status, _, body = await _call(gateway.url, "GET", "/v1/models/nope", headers=AUTH)
    assert status == 404

"""Streams cost the same as plain calls: the gateway asks upstream for the usage chunk it is
accounted from, and a client that did not ask for that chunk does not receive it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai
import orjson
import pytest

from quotaflow.fake import FakeProviderConfig, create_fake_app
from quotaflow.providers.base import Operation
from quotaflow.routing.router import Call
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, Gateway, Stack, two_region_settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

    from quotaflow.fake import FakeProvider

pytestmark = pytest.mark.e2e

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Count to three."}]
UPSTREAM_KEY = "sk-upstream"


async def _openai_upstream(stack: Stack) -> tuple[FakeProvider, Gateway]:
    """A fake OpenAI behind two groups: ``openai/`` itself and the ``hosted_vllm/`` preset."""
    fake = create_fake_app(FakeProviderConfig(flavor="openai", api_key=UPSTREAM_KEY))
    url = await stack.enter(serve_app(fake))
    params = {"api_base": f"{url}/v1", "api_key": UPSTREAM_KEY}
    settings = {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {"model": "openai/gpt-4o-mini", **params},
            },
            {"model_name": "vllm", "litellm_params": {"model": "hosted_vllm/gpt-4o", **params}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    return fake, await stack.gateway(settings)


async def _stream(gateway: Gateway, model: str, **options: Any) -> list[ChatCompletionChunk]:
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    async with client:
        stream = await client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, **options
        )
        return [chunk async for chunk in stream]


def _upstream_body(fake: FakeProvider) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(fake.stats.recent[-1].body)
    return body


def _text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "vllm"])
async def test_client_without_include_usage_gets_no_usage_chunk(stack: Stack, model: str):
    fake, gateway = await _openai_upstream(stack)
    chunks = await _stream(gateway, model)
    assert _text(chunks).startswith("This is a fake answer")
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert _upstream_body(fake)["stream_options"] == {"include_usage": True}


async def test_client_with_include_usage_gets_it_once(stack: Stack):
    fake, gateway = await _openai_upstream(stack)
    chunks = await _stream(gateway, "gpt-4o-mini", stream_options={"include_usage": True})
    with_usage = [chunk for chunk in chunks if chunk.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0].choices == []
    assert with_usage[0].usage is not None
    assert with_usage[0].usage.completion_tokens > 0
    assert _upstream_body(fake)["stream_options"] == {"include_usage": True}


async def test_the_router_records_the_usage_the_client_did_not_ask_for(stack: Stack):
    _, gateway = await _openai_upstream(stack)
    router = gateway.app.services.router
    payload = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    routed = await router.stream(Call(Operation.CHAT, "gpt-4o-mini", payload))
    try:
        chunks = [*routed.first, *[chunk async for chunk in routed.rest]]
    finally:
        await routed.aclose()
    assert all(b'"choices":[]' not in chunk for chunk in chunks)
    usage = routed.translator.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0


async def test_azure_with_a_recent_api_version_is_asked_for_usage(stack: Stack):
    region = await stack.region("sweden")
    settings = two_region_settings([region])
    settings["model_list"][0]["litellm_params"]["api_version"] = "2024-10-21"
    gateway = await stack.gateway(settings)
    chunks = await _stream(gateway, "gpt-4-preview")
    assert _text(chunks).startswith("This is a fake answer")
    assert all(chunk.usage is None for chunk in chunks)
    assert _upstream_body(region.app)["stream_options"] == {"include_usage": True}


async def test_azure_with_an_older_api_version_is_not(stack: Stack):
    region = await stack.region("sweden")
    gateway = await stack.gateway(two_region_settings([region]))  # 2024-02-15-preview
    chunks = await _stream(gateway, "gpt-4-preview")
    assert _text(chunks).startswith("This is a fake answer")
    assert "stream_options" not in _upstream_body(region.app)

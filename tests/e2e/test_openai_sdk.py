"""The official ``openai`` SDK (sync, async, stream, Azure) and ``instructor`` via the gateway."""

from __future__ import annotations

import asyncio
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

import instructor
import openai
import pytest
from pydantic import BaseModel

from tests.support import MASTER_KEY, Stack, two_region_settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

pytestmark = pytest.mark.e2e

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Extract the fields of invoice 42."}
]


async def _two_regions(stack: Stack):
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    gateway = await stack.gateway(two_region_settings([sweden, france]))
    return sweden, france, gateway


async def test_async_client_plain_and_spread_over_both_regions(stack: Stack):
    sweden, france, gateway = await _two_regions(stack)
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)

    async def one() -> str:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4-preview", messages=MESSAGES, max_tokens=20
        )
        completion = raw.parse()
        assert completion.choices[0].message.content
        assert completion.usage is not None
        assert raw.headers["x-quotaflow-attempts"] == "1"
        assert float(raw.headers["x-quotaflow-overhead-ms"]) >= 0
        assert raw.headers["x-request-id"]
        return raw.headers["x-quotaflow-deployment"]

    used = await asyncio.gather(*(one() for _ in range(40)))
    assert set(used) == {"sweden", "france"}
    assert sweden.app.stats.requests["chat"] + france.app.stats.requests["chat"] == 40
    await client.close()


async def test_sync_client_and_models(stack: Stack):
    _, _, gateway = await _two_regions(stack)

    def run() -> tuple[str, list[str]]:
        with openai.OpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0) as client:
            completion = client.chat.completions.create(model="gpt-4-preview", messages=MESSAGES)
            models = [m.id for m in client.models.list()]
            return completion.choices[0].message.content or "", models

    content, models = await asyncio.to_thread(run)
    assert "fake answer" in content
    assert models == ["gpt-4-preview", "text-embedding-3-small"]


async def test_streaming_with_usage(stack: Stack):
    _, _, gateway = await _two_regions(stack)
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model="gpt-4-preview",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces).startswith("This is a fake answer")
    assert finish == "stop"
    assert usage is not None
    assert usage.completion_tokens > 0
    await client.close()


async def test_embeddings_and_legacy_completions(stack: Stack):
    _, _, gateway = await _two_regions(stack)
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    embeddings = await client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=4
    )
    assert [len(item.embedding) for item in embeddings.data] == [4, 4]
    completion = await client.completions.create(model="gpt-4-preview", prompt="Say hi")
    assert completion.choices[0].text
    await client.close()


async def test_azure_sdk_clients(stack: Stack):
    _, _, gateway = await _two_regions(stack)
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=gateway.url, api_key=MASTER_KEY, api_version="2024-10-21", max_retries=0
    )
    completion = await client.chat.completions.create(model="gpt-4-preview", messages=MESSAGES)
    assert completion.choices[0].message.content
    stream = await client.chat.completions.create(
        model="gpt-4-preview", messages=MESSAGES, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.startswith("This is a fake answer")
    vectors = await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert vectors.data[0].embedding
    await client.close()

    def run_sync() -> str:
        with openai.AzureOpenAI(
            azure_endpoint=gateway.url, api_key=MASTER_KEY, api_version="2024-10-21"
        ) as sync_client:
            reply = sync_client.chat.completions.create(model="gpt-4-preview", messages=MESSAGES)
            return reply.choices[0].message.content or ""

    assert await asyncio.to_thread(run_sync)


class Currency(StrEnum):
    EUR = "EUR"
    SEK = "SEK"


class LineItem(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Invoice(BaseModel):
    supplier: str
    document_number: str
    issued: date
    currency: Currency
    items: list[LineItem]
    notes: str | None = None


async def test_instructor_extracts_a_pydantic_model_through_tool_calls(stack: Stack):
    sweden, france, gateway = await _two_regions(stack)
    async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0) as raw:
        client = instructor.from_openai(raw)
        invoice = await client.chat.completions.create(
            model="gpt-4-preview", response_model=Invoice, messages=MESSAGES, max_retries=0
        )
    assert isinstance(invoice, Invoice)
    assert invoice.items
    sent = [*sweden.app.stats.recent, *france.app.stats.recent][-1]
    assert b'"tools"' in sent.body  # the tool definition reached the upstream untouched

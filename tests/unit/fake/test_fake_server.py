"""The fake on 127.0.0.1 under uvicorn: the official SDKs, instructor, socket faults, the CLI."""

from __future__ import annotations

import asyncio
import datetime
import enum
import signal
import sys
from typing import TYPE_CHECKING

import aiohttp
import httpx
import instructor
import openai
import orjson
import pytest
from pydantic import BaseModel

from quotaflow.fake import FakeFault, FakeProviderConfig, FaultKind, create_fake_app, run_fake
from quotaflow.fake.server import serve_app

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from quotaflow.clock import ManualClock

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Part(BaseModel):
    name: str
    colour: Colour


class Supplier(BaseModel):
    name: str
    document_number: int
    delivered_on: datetime.date
    parts: list[Part]
    notes: str | None = None


async def test_openai_sdk(clock: ManualClock) -> None:
    config = FakeProviderConfig(api_key="sk-test", rpm=12)  # 2 requests per 10 s
    async with (
        run_fake(config, clock=clock) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0) as client,
    ):
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert completion.choices[0].message.content == "This is a fake answer to: Hello there"
        assert completion.usage is not None
        assert completion.usage.total_tokens == 14
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "This is a fake answer to: Hello there"
        assert chunks[-1].usage is not None
        with pytest.raises(openai.RateLimitError) as caught:
            await client.embeddings.create(model="text-embedding-3-small", input="hi")
        assert caught.value.response.headers["retry-after"] == "10"
        clock.advance(10)
        embedded = await client.embeddings.create(model="text-embedding-3-small", input="hi")
        assert len(embedded.data[0].embedding) == 8
        models = await client.models.list()
        assert "gpt-4o-mini" in [m.id for m in models.data]


async def test_openai_sdk_wrong_key() -> None:
    async with (
        run_fake(FakeProviderConfig(api_key="sk-right")) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-wrong", max_retries=0) as client,
    ):
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)


async def test_azure_sdk() -> None:
    config = FakeProviderConfig(flavor="azure", api_key="az-key", deployments=("gpt4", "embed"))
    app = create_fake_app(config)
    async with (
        serve_app(app) as url,
        openai.AsyncAzureOpenAI(
            azure_endpoint=url, api_version="2024-10-21", api_key="az-key", max_retries=0
        ) as client,
    ):
        completion = await client.chat.completions.create(model="gpt4", messages=HELLO)
        assert completion.model == "gpt-4-turbo-2024-04-09"
        assert completion.choices[0].finish_reason == "stop"
        stream = await client.chat.completions.create(model="gpt4", messages=HELLO, stream=True)
        chunks = [chunk async for chunk in stream]
        assert chunks[0].choices == []
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        embedded = await client.embeddings.create(model="embed", input=["a", "b"])
        assert [e.index for e in embedded.data] == [0, 1]
        app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=3))
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="gpt4", messages=HELLO)
        assert caught.value.response.headers["retry-after-ms"] == "3000"
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="nope", messages=HELLO)
    recent = app.stats.recent[0]
    assert recent.path == "/openai/deployments/gpt4/chat/completions"
    assert recent.query == b"api-version=2024-10-21"


async def test_openai_sdk_raises_on_a_mid_stream_error_event() -> None:
    app = create_fake_app(FakeProviderConfig())
    app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=3))
    async with (
        serve_app(app, lifespan=True) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client,
    ):
        stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
        received: list[object] = []

        async def read() -> None:
            async for chunk in stream:
                received.append(chunk)

        with pytest.raises(openai.APIError, match="Sorry about that"):
            await read()
    assert len(received) == 3


async def test_instructor_extracts_a_pydantic_model() -> None:
    async with (
        run_fake(FakeProviderConfig()) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as raw,
    ):
        client = instructor.from_openai(raw)
        supplier = await client.chat.completions.create(
            model="gpt-4o-mini",
            response_model=Supplier,
            messages=[{"role": "user", "content": "Extract the supplier from: ..."}],
        )
    assert supplier.delivered_on == datetime.date(2024, 1, 31)
    assert supplier.parts[0].colour is Colour.RED


async def test_reset_is_a_connection_error_for_real_clients() -> None:
    app = create_fake_app(FakeProviderConfig())
    body = {"model": "m", "messages": HELLO}
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        app.add_faults(FakeFault(FaultKind.RESET))
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post("/v1/chat/completions", json=body)
        app.add_faults(FakeFault(FaultKind.RESET_MID_STREAM))
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.post("/v1/chat/completions", json=body)
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
        async with aiohttp.ClientSession() as session:
            app.add_faults(FakeFault(FaultKind.RESET))
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await session.post(f"{url}/v1/chat/completions", json=body)
    assert app.stats.faults == {"reset": 2, "reset_mid_stream": 1}


async def test_reset_mid_stream_cuts_after_some_chunks() -> None:
    app = create_fake_app(FakeProviderConfig(inter_chunk_ms=1))
    app.add_faults(FakeFault(FaultKind.RESET_MID_STREAM, after_chunks=3))
    body = {"model": "m", "messages": HELLO, "stream": True}
    received: list[bytes] = []
    async with serve_app(app) as url, aiohttp.ClientSession() as session:

        async def read() -> None:
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                assert response.status == 200
                async for line in response.content:
                    if line.strip():
                        received.append(line)

        with pytest.raises(aiohttp.ClientPayloadError):
            await read()
    assert len(received) == 3
    assert all(orjson.loads(line.removeprefix(b"data: ")) for line in received)


async def test_hang_until_the_client_gives_up() -> None:
    app = create_fake_app(FakeProviderConfig())
    app.add_faults(FakeFault(FaultKind.HANG))
    body = {"model": "m", "messages": HELLO}
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/chat/completions", json=body)
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200


async def test_cli_serves_until_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "quotaflow.fake",
        "--flavor=azure",
        "--port=0",
        "--api-key=K",
        "--region=swedencentral",
        "--tpm=60000",
        "--rpm=360",
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        ready = (await asyncio.wait_for(process.stderr.readline(), timeout=10)).decode()
        assert "ready on http://127.0.0.1:" in ready
        url = ready.split("ready on ")[1].strip()
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post(
                "/openai/deployments/d/chat/completions?api-version=2024-10-21",
                json={"messages": HELLO, "max_tokens": 10},
                headers={"api-key": "K"},
            )
        assert response.status_code == 200
        assert response.headers["x-ms-region"] == "swedencentral"
        assert response.headers["x-ratelimit-remaining-requests"] == "59"
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        await process.stderr.read()

"""The official ``openai`` SDK through the gateway to a fake Gemini upstream (``gemini/…``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai
import orjson
import pytest
from pydantic import BaseModel, Field

from quotaflow.fake import FakeFault, FakeProvider, FakeProviderConfig, FaultKind, create_fake_app
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, Gateway, Stack

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from openai.types.chat import ChatCompletionMessageParam

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "AIza-e2e"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
]


class Location(BaseModel):
    city: str = Field(description="City name")
    country: str | None = None


class GetWeather(BaseModel):
    """Current weather for a place."""

    location: Location
    unit: str = "celsius"


async def _fake(stack: Stack) -> tuple[FakeProvider, str]:
    app = create_fake_app(FakeProviderConfig(flavor="gemini", api_key=UPSTREAM_KEY))
    url: str = await stack.enter(serve_app(app))
    return app, url


def _entry(url: str, name: str, order: int) -> dict[str, Any]:
    params = {"model": "gemini/gemini-2.5-flash", "api_base": url, "api_key": UPSTREAM_KEY}
    return {
        "model_name": "gemini",
        "litellm_params": {**params, "order": order},
        "model_info": {"id": name},
    }


async def _gateway(stack: Stack, *urls: str) -> Gateway:
    entries = [_entry(url, f"gemini-{i}", i + 1) for i, url in enumerate(urls)]
    return await stack.gateway(
        {"model_list": entries, "general_settings": {"master_key": MASTER_KEY}}
    )


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[tuple[openai.AsyncOpenAI, FakeProvider, Stack]]:
    fake, url = await _fake(stack)
    gateway = await _gateway(stack, url)
    sdk = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    yield sdk, fake, stack
    await sdk.close()


def _last_request(fake: FakeProvider) -> tuple[str, dict[str, Any], dict[bytes, bytes]]:
    request = fake.stats.recent[-1]
    body: dict[str, Any] = orjson.loads(request.body)
    return request.path, body, dict(request.headers)


async def test_plain_completion(client):
    sdk, fake, _ = client
    completion = await sdk.chat.completions.create(
        model="gemini", messages=MESSAGES, max_tokens=50, temperature=0.2
    )
    assert completion.choices[0].message.content == "This is a fake answer to: Weather in Paris?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gemini-2.5-flash"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (14, 9)
    path, body, headers = _last_request(fake)
    assert path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert headers[b"x-goog-api-key"] == UPSTREAM_KEY.encode()
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2}


async def test_streaming_with_usage(client):
    sdk, fake, _ = client
    stream = await sdk.chat.completions.create(
        model="gemini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finishes, usage = [], [], None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
    assert "".join(pieces) == "This is a fake answer to: Weather in Paris?"
    assert finishes[-1] == "stop"
    assert finishes.count("stop") == 1
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (14, 9, 23)
    path, _, _ = _last_request(fake)
    assert path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert fake.stats.recent[-1].query == b"alt=sse"


async def test_a_stream_cut_before_its_finish_reason_ends_in_an_error(client):
    sdk, fake, _ = client
    fake.add_faults(FakeFault(FaultKind.RESET_MID_STREAM, after_chunks=2))
    stream = await sdk.chat.completions.create(model="gemini", messages=MESSAGES, stream=True)
    pieces: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            pieces.extend(choice.delta.content or "" for choice in chunk.choices)

    with pytest.raises(openai.APIError):
        await read()
    assert "".join(pieces) == "This is"


async def test_tool_call_round_trip(client):
    sdk, fake, _ = client
    tools = [openai.pydantic_function_tool(GetWeather)]  # strict: additionalProperties, $defs
    first = await sdk.chat.completions.create(model="gemini", messages=MESSAGES, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "GetWeather"
    arguments = GetWeather.model_validate_json(call.function.arguments)
    assert arguments.location.city
    assert ".ts." in call.id  # the fake's thoughtSignature rides in the id

    follow_up: list[ChatCompletionMessageParam] = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'},
    ]
    second = await sdk.chat.completions.create(model="gemini", messages=follow_up, tools=tools)
    assert second.choices[0].message.content == "This is a fake answer to: Weather in Paris?"
    _, body, _ = _last_request(fake)
    model_turn, results = body["contents"][1:]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"]["name"] == "GetWeather"
    assert model_turn["parts"][0]["thoughtSignature"]
    assert results == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "GetWeather", "response": {"temp_c": 18}}}],
    }


async def test_resource_exhausted_fails_over_to_the_second_deployment(stack: Stack):
    first, first_url = await _fake(stack)
    second, second_url = await _fake(stack)
    gateway = await _gateway(stack, first_url, second_url)
    first.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=36, times=10))
    sdk = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    try:
        for _ in range(3):
            raw = await sdk.chat.completions.with_raw_response.create(
                model="gemini", messages=MESSAGES
            )
            assert raw.parse().choices[0].message.content
            assert raw.headers["x-quotaflow-deployment"] == "gemini-1"
    finally:
        await sdk.close()
    # The first deployment was tried once and is cooling down for its retryDelay.
    assert first.stats.faults == {"status": 1}
    assert second.stats.requests["chat"] == 3
    services = gateway.app.services
    cooling_s = services.router.health.cooling_until("gemini-0") - services.clock.monotonic()
    assert 30 < cooling_s <= 36


async def test_an_http_image_url_is_a_400_before_any_upstream_call(client):
    sdk, fake, _ = client
    messages: list[ChatCompletionMessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="gemini", messages=messages)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "messages[0].content[1].image_url"
    assert "inline data" in error["message"]
    assert sum(fake.stats.requests.values()) == 0

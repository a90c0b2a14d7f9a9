"""The gateway in front of fake Anthropic upstreams, driven by the official ``openai`` SDK."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import instructor
import openai
import orjson
import pytest
from pydantic import BaseModel

from quotaflow.fake import FakeFault, FakeProvider, FakeProviderConfig, FaultKind, create_fake_app
from quotaflow.serving import serve_app
from tests.support import MASTER_KEY, Gateway, Stack

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

pytestmark = pytest.mark.e2e

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Hello there"},
]
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 3}},
            "required": ["city"],
        },
    },
}


@dataclass
class Upstream:
    """A fake Anthropic API and where it listens."""

    name: str
    app: FakeProvider
    url: str

    def sent(self) -> dict[str, Any]:
        """The body of the last request it received."""
        body: dict[str, Any] = orjson.loads(self.app.stats.recent[-1].body)
        return body


async def upstream(stack: Stack, name: str) -> Upstream:
    config = FakeProviderConfig(flavor="anthropic", api_key=f"key-{name}", stream_chunks=3)
    app = create_fake_app(config)
    url = await stack.enter(serve_app(app))
    return Upstream(name, app, url)


async def gateway(stack: Stack, *upstreams: Upstream) -> Gateway:
    deployments = [
        {
            "model_name": "claude",
            "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_base": u.url,
                "api_key": f"key-{u.name}",
                "order": rank,  # the first upstream is always tried first
            },
            "model_info": {"id": u.name},
        }
        for rank, u in enumerate(upstreams, start=1)
    ]
    return await stack.gateway(
        {"model_list": deployments, "general_settings": {"master_key": MASTER_KEY}}
    )


async def one_upstream(stack: Stack) -> tuple[Upstream, openai.AsyncOpenAI]:
    claude = await upstream(stack, "a")
    front = await gateway(stack, claude)
    client = openai.AsyncOpenAI(base_url=front.v1, api_key=MASTER_KEY, max_retries=0)
    await stack.enter(client)
    return claude, client


async def test_plain_chat(stack: Stack):
    claude, client = await one_upstream(stack)
    raw = await client.chat.completions.with_raw_response.create(
        model="claude", messages=MESSAGES, temperature=0.2
    )
    completion = raw.parse()
    assert raw.headers["x-quotaflow-deployment"] == "a"
    assert completion.id.startswith("msg_")
    assert completion.model == "claude-sonnet-4-5"
    choice = completion.choices[0]
    assert choice.message.content == "This is a fake answer to: Hello there"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 8)
    request = claude.app.stats.recent[-1]
    assert request.path == "/v1/messages"
    assert request.header(b"x-api-key") == b"key-a"
    assert request.header(b"anthropic-version") == b"2023-06-01"
    assert claude.sent() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hello there"}],
        "system": "Be terse.",
        "temperature": 0.2,
    }


async def test_streaming_text_with_usage(stack: Stack):
    _, client = await one_upstream(stack)
    stream = await client.chat.completions.create(
        model="claude",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == "This is a fake answer to: Hello there"
    assert len([p for p in pieces if p]) == 3
    assert finish == "stop"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 8, 19)


async def test_streaming_tool_call(stack: Stack):
    claude, client = await one_upstream(stack)
    stream = await client.chat.completions.create(
        model="claude",
        messages=MESSAGES,
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict[str, str]] = {}
    finish, usage = None, None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("toolu_")
    assert calls[0]["name"] == "get_weather"
    assert orjson.loads(calls[0]["arguments"])["days"] == 3
    assert finish == "tool_calls"
    assert usage is not None
    assert usage.completion_tokens > 0
    assert claude.sent()["tool_choice"] == {"type": "any"}
    assert claude.sent()["stream"] is True


async def test_manual_tool_calling_round_trip(stack: Stack):
    claude, client = await one_upstream(stack)
    first = await client.chat.completions.create(
        model="claude", messages=MESSAGES, tools=[WEATHER], parallel_tool_calls=False
    )
    assert claude.sent()["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls
    call = message.tool_calls[0]
    assert call.type == "function"
    history: list[ChatCompletionMessageParam] = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18 C, sunny"},
    ]
    second = await client.chat.completions.create(model="claude", messages=history, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "This is a fake answer to: Hello there"
    assistant, results = claude.sent()["messages"][1:]
    assert assistant["content"][0]["type"] == "tool_use"
    assert assistant["content"][0]["input"] == orjson.loads(call.function.arguments)
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": call.id, "content": "18 C, sunny"}
    ]


class LineItem(BaseModel):
    description: str
    quantity: int


class Invoice(BaseModel):
    supplier: str
    issued: date
    items: list[LineItem]
    notes: str | None = None


async def test_instructor_through_tool_calls(stack: Stack):
    claude, client = await one_upstream(stack)
    patched = instructor.from_openai(client)
    invoice = await patched.chat.completions.create(
        model="claude", response_model=Invoice, messages=MESSAGES, max_retries=0
    )
    assert isinstance(invoice, Invoice)
    assert invoice.items
    assert claude.sent()["tool_choice"] == {"type": "tool", "name": "Invoice"}


async def test_structured_output_through_the_response_format_tool(stack: Stack):
    claude, client = await one_upstream(stack)
    completion = await client.chat.completions.parse(
        model="claude", messages=MESSAGES, response_format=Invoice
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.parsed, Invoice)
    assert claude.sent()["tool_choice"] == {"type": "tool", "name": "json_response"}


async def test_overloaded_deployment_fails_over_to_the_other(stack: Stack):
    busy, spare = await upstream(stack, "busy"), await upstream(stack, "spare")
    front = await gateway(stack, busy, spare)
    busy.app.add_faults(FakeFault(FaultKind.STATUS, status=529, times=100))
    async with openai.AsyncOpenAI(base_url=front.v1, api_key=MASTER_KEY, max_retries=0) as client:
        for _ in range(6):
            raw = await client.chat.completions.with_raw_response.create(
                model="claude", messages=MESSAGES
            )
            assert raw.headers["x-quotaflow-deployment"] == "spare"
            assert raw.parse().choices[0].message.content
    assert busy.app.stats.faults["status"] == 1  # tried once, then cooled down
    assert spare.app.stats.requests["chat"] == 6


async def test_n_above_one_is_a_400_naming_the_parameter(stack: Stack):
    claude, client = await one_upstream(stack)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="claude", messages=MESSAGES, n=2)
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": "anthropic does not support 'n' > 1",
        "type": "invalid_request_error",
        "param": "n",
        "code": "unsupported_parameter",
    }
    assert not claude.app.stats.recent


async def test_an_error_event_mid_stream_reaches_the_client(stack: Stack):
    claude, client = await one_upstream(stack)
    claude.app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=4))
    stream = await client.chat.completions.create(model="claude", messages=MESSAGES, stream=True)
    pieces: list[str | None] = []

    async def read() -> None:
        async for chunk in stream:
            pieces.extend(choice.delta.content for choice in chunk.choices)

    with pytest.raises(openai.APIError, match="overloaded"):
        await read()
    assert pieces == ["", "This is a"]

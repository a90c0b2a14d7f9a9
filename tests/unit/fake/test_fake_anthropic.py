"""The Anthropic flavor, in-process: checks, bodies, event streams, quota, faults, and the SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import anthropic
import httpx2
import orjson
import pytest

from quotaflow.fake import FakeFault, FaultKind

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from anthropic.types import MessageParam, ToolParam

    from quotaflow.clock import ManualClock
    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]

MESSAGES = "/v1/messages"
KEY = "sk-ant-fake"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
HELLO = [{"role": "user", "content": "Hello there"}]
BODY: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": HELLO}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 3}},
        "required": ["city"],
    },
}


def events(text: str) -> list[tuple[str, Any]]:
    """``(event, data)`` per frame; every frame has both lines and the data's type is its name."""
    assert text.endswith("\n\n")
    parsed = []
    for frame in text.removesuffix("\n\n").split("\n\n"):
        event_line, data_line = frame.split("\n")
        name = event_line.removeprefix("event: ")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert event_line.startswith("event: ")
        assert data["type"] == name
        parsed.append((name, data))
    return parsed


async def post(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(MESSAGES, json=body, headers={**HEADERS, **headers})


# --- requests ---------------------------------------------------------------------------------


async def test_message_shape_usage_and_headers(connect: Connect) -> None:
    _, client = connect(flavor="anthropic", api_key=KEY)
    body = {**BODY, "system": "Be terse."}
    response = await post(client, body)
    assert response.status_code == 200
    assert response.headers["request-id"] == "req_fake" + "0" * 19 + "1"
    assert "anthropic-organization-id" in response.headers
    assert response.json() == {
        "id": "msg_fake" + "0" * 19 + "1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "This is a fake answer to: Hello there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        # input: ceil((9 + 11) / 4) + 3 * 2 (system counts as a message); output: 8 words.
        "usage": {
            "input_tokens": 11,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 8,
            "service_tier": "standard",
        },
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be a valid integer greater than"),
        ({"model": None}, "model: Field required"),
        ({"messages": []}, "messages: Field required"),
        ({"n": 2}, "n: Extra inputs are not permitted"),
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        (
            {"messages": [{"role": "system", "content": "x"}, *HELLO]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "x"},
                            {"type": "tool_result", "tool_use_id": "t"},
                        ],
                    }
                ]
            },
            "messages.0: tool_result blocks must come first",
        ),
        ({"tools": [{"name": "f"}]}, "tools.0.custom.input_schema"),
        ({"tool_choice": {"type": "required"}}, "tool_choice: Input tag does not match"),
    ],
)
async def test_bodies_are_checked_like_the_real_api(
    connect: Connect, change: dict[str, Any], message: str
) -> None:
    _, client = connect(flavor="anthropic")
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    response = await post(client, body)
    assert response.status_code == 400
    data = response.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert data["error"]["message"].startswith(message)


async def test_anthropic_version_header_is_required(connect: Connect) -> None:
    _, client = connect(flavor="anthropic")
    response = await client.post(MESSAGES, json=BODY)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required"),
        ({"anthropic-version": "2023-06-01", "x-api-key": "nope"}, 401, "invalid x-api-key"),
        ({"anthropic-version": "2023-06-01", "authorization": f"Bearer {KEY}"}, 200, None),
    ],
)
async def test_x_api_key_auth(
    connect: Connect, headers: dict[str, str], status: int, message: str | None
) -> None:
    _, client = connect(flavor="anthropic", api_key=KEY)
    response = await client.post(MESSAGES, json=BODY, headers=headers)
    assert response.status_code == status
    if message is not None:
        assert response.json()["error"] == {"type": "authentication_error", "message": message}


async def test_unknown_routes_and_strict_models_are_not_found(connect: Connect) -> None:
    _, client = connect(flavor="anthropic", strict_models=True, models=("claude-haiku-4-5",))
    response = await client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    response = await post(client, BODY)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "type": "not_found_error",
        "message": "model: claude-sonnet-4-6",
    }


async def test_count_tokens(connect: Connect) -> None:
    app, client = connect(flavor="anthropic", tpm=1)
    body = {"model": "claude-sonnet-4-6", "messages": HELLO}
    response = await client.post(MESSAGES + "/count_tokens", json=body, headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"input_tokens": 6}  # ceil(11 / 4) + 3; free of quota
    response = await client.post(MESSAGES + "/count_tokens", json=BODY, headers=HEADERS)
    assert response.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"
    assert app.stats.tokens_charged == 0


# --- answers ----------------------------------------------------------------------------------


async def test_tools_give_a_schema_valid_tool_use(connect: Connect) -> None:
    _, client = connect(flavor="anthropic")
    other = {"name": "noop", "input_schema": {"type": "object"}}
    body = {
        **BODY,
        "tools": [other, WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    data = (await post(client, body)).json()
    assert data["stop_reason"] == "tool_use"
    (block,) = data["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert block["name"] == "get_weather"
    assert isinstance(block["input"]["city"], str)
    assert block["input"]["days"] >= 3


async def test_no_tool_use_with_tool_choice_none_or_after_tool_results(connect: Connect) -> None:
    _, client = connect(flavor="anthropic")
    none = await post(client, {**BODY, "tools": [WEATHER], "tool_choice": {"type": "none"}})
    assert none.json()["content"][0]["type"] == "text"
    conversation = [
        *HELLO,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "9"}]},
    ]
    after = (await post(client, {**BODY, "tools": [WEATHER], "messages": conversation})).json()
    assert after["stop_reason"] == "end_turn"
    assert after["content"][0]["text"] == "This is a fake answer to: Hello there"


async def test_max_tokens_stop_sequences_and_structured_output(connect: Connect) -> None:
    _, client = connect(flavor="anthropic")
    cut = (await post(client, {**BODY, "max_tokens": 3})).json()
    assert (cut["content"][0]["text"], cut["stop_reason"]) == ("This is a", "max_tokens")
    stopped = (await post(client, {**BODY, "stop_sequences": ["zzz", " answer"]})).json()
    assert stopped["content"][0]["text"] == "This is a fake"
    assert (stopped["stop_reason"], stopped["stop_sequence"]) == ("stop_sequence", " answer")
    assert stopped["usage"]["output_tokens"] == 4
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    output = {"format": {"type": "json_schema", "schema": schema}}
    structured = (await post(client, {**BODY, "output_config": output})).json()
    assert orjson.loads(structured["content"][0]["text"]) == {"n": 1}


# --- streams ----------------------------------------------------------------------------------


async def test_text_stream_has_the_reference_order(connect: Connect) -> None:
    _, client = connect(flavor="anthropic", stream_chunks=2)
    response = await post(client, {**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = events(response.text)
    assert [name for name, _ in frames] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = frames[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 6
    assert start["usage"]["output_tokens"] == 1
    assert frames[1][1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(data["delta"]["text"] for name, data in frames if name == "content_block_delta")
    assert text == "This is a fake answer to: Hello there"
    assert frames[6][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 8},
    }
    assert response.text.count("event: ping") == 1


async def test_tool_stream_sends_input_json_fragments(connect: Connect) -> None:
    _, client = connect(flavor="anthropic", stream_chunks=3)
    frames = events((await post(client, {**BODY, "stream": True, "tools": [WEATHER]})).text)
    assert frames[1][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_fake" + "0" * 17 + "1",
        "name": "get_weather",
        "input": {},
    }
    fragments = [
        data["delta"]["partial_json"] for name, data in frames if name == "content_block_delta"
    ]
    assert fragments[0] == ""
    assert len(fragments) == 4
    assert orjson.loads("".join(fragments))["days"] == 3
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"


# --- quota and faults -------------------------------------------------------------------------


async def test_quota_429_has_retry_after_and_rfc3339_resets(
    connect: Connect, clock: ManualClock
) -> None:
    _, client = connect(flavor="anthropic", tpm=150, rpm=60)
    ok = await post(client, BODY)
    assert ok.headers["anthropic-ratelimit-tokens-limit"] == "150"
    assert ok.headers["anthropic-ratelimit-tokens-remaining"] == str(150 - 103)
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "9"
    clock.advance(20)
    refused = await post(client, BODY)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "40"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    reset = datetime.fromtimestamp(1_760_000_000 + 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert refused.headers["anthropic-ratelimit-tokens-reset"] == reset
    assert refused.json()["request_id"] == refused.headers["request-id"]


async def test_529_fault_is_overloaded(connect: Connect) -> None:
    app, client = connect(flavor="anthropic")
    app.add_faults(FakeFault(FaultKind.STATUS, status=529))
    response = await post(client, BODY)
    assert response.status_code == 529
    assert response.headers["x-should-retry"] == "true"
    assert response.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=2.5))
    limited = await post(client, BODY)
    assert limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["type"] == "rate_limit_error"


async def test_error_mid_stream_is_an_error_event(connect: Connect) -> None:
    app, client = connect(flavor="anthropic")
    app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=3))
    frames = events((await post(client, {**BODY, "stream": True})).text)
    assert [name for name, _ in frames] == [
        "message_start",
        "content_block_start",
        "ping",
        "error",
    ]
    assert frames[-1][1]["error"] == {"type": "overloaded_error", "message": "Overloaded"}


# --- the official SDK -------------------------------------------------------------------------


SDK_HELLO: list[MessageParam] = [{"role": "user", "content": "Hello there"}]


def sdk(app: FakeProvider, key: str = KEY) -> anthropic.AsyncAnthropic:
    """The SDK talking to ``app`` in-process (it is built on ``httpx2``, not ``httpx``)."""
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(
        api_key=key, base_url="http://fake.test", http_client=client, max_retries=0
    )


async def test_sdk_create_stream_and_count(connect: Connect) -> None:
    app, _ = connect(flavor="anthropic", api_key=KEY, stream_chunks=3)
    async with sdk(app) as claude:
        message = await claude.messages.create(
            model="claude-sonnet-4-6", max_tokens=100, system="Be terse.", messages=SDK_HELLO
        )
        assert message.content[0].type == "text"
        assert message.content[0].text == "This is a fake answer to: Hello there"
        assert message.usage.input_tokens == 11
        async with claude.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, messages=SDK_HELLO
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
        assert len(pieces) == 3
        assert final.content[0].type == "text"
        assert final.content[0].text == "".join(pieces)
        assert final.usage.output_tokens == 8
        assert final.stop_reason == "end_turn"
        count = await claude.messages.count_tokens(model="claude-sonnet-4-6", messages=SDK_HELLO)
        assert count.input_tokens == 6


async def test_sdk_tool_stream(connect: Connect) -> None:
    app, _ = connect(flavor="anthropic", api_key=KEY)
    async with (
        sdk(app) as claude,
        claude.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=SDK_HELLO,
            tools=[cast("ToolParam", WEATHER)],
        ) as stream,
    ):
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use"
    assert isinstance(block.input, dict)
    assert block.input["days"] == 3


async def test_sdk_errors(connect: Connect) -> None:
    app, _ = connect(flavor="anthropic", api_key=KEY)
    async with sdk(app) as claude:
        app.add_faults(FakeFault(FaultKind.STATUS, status=529))
        with pytest.raises(anthropic.OverloadedError):
            await claude.messages.create(model="m", max_tokens=10, messages=SDK_HELLO)
        app.add_faults(FakeFault(FaultKind.STATUS, status=429))
        with pytest.raises(anthropic.RateLimitError):
            await claude.messages.create(model="m", max_tokens=10, messages=SDK_HELLO)
        app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=1))
        with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
            async with claude.messages.stream(
                model="m", max_tokens=10, messages=SDK_HELLO
            ) as stream:
                await stream.get_final_message()
    async with sdk(app, key="wrong") as claude:
        with pytest.raises(anthropic.AuthenticationError):
            await claude.messages.create(model="m", max_tokens=10, messages=SDK_HELLO)

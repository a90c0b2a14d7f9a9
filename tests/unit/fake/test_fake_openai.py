"""The OpenAI flavor, in-process: routes, auth, bodies, streams, embeddings, stats, control API."""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any

import orjson
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from quotaflow.clock import ManualClock
    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]
    ParseSSE = Callable[[str], list[Any]]

CHAT = "/v1/chat/completions"
HELLO = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 3}},
            "required": ["city"],
        },
    },
}
OTHER_TOOL = {"type": "function", "function": {"name": "noop"}}


async def test_chat_completion_shape_usage_and_headers(connect: Connect) -> None:
    _, client = connect()
    response = await client.post(CHAT, json={"model": "gpt-4o-mini", "messages": HELLO})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req_" + "0" * 31 + "1"
    assert response.headers["openai-processing-ms"] == "0"
    assert "x-ratelimit-limit-requests" not in response.headers
    body = response.json()
    assert list(body) == [
        "id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"
    ]  # fmt: skip
    assert body["object"] == "chat.completion"
    assert body["created"] == 1_760_000_000
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "This is a fake answer to: Hello there",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    # prompt: ceil((9 + 11) / 4) + 3 * 2 messages; completion: 8 words.
    assert body["usage"]["prompt_tokens"] == 11
    assert body["usage"]["completion_tokens"] == 8
    assert body["usage"]["total_tokens"] == 19


async def test_max_tokens_truncates_with_length_and_n_repeats_choices(connect: Connect) -> None:
    _, client = connect()
    body = {"model": "m", "messages": HELLO, "max_completion_tokens": 3, "max_tokens": 50, "n": 2}
    data = (await client.post(CHAT, json=body)).json()
    assert [c["index"] for c in data["choices"]] == [0, 1]
    assert {c["message"]["content"] for c in data["choices"]} == {"This is a"}
    assert {c["finish_reason"] for c in data["choices"]} == {"length"}
    assert data["usage"]["completion_tokens"] == 6


async def test_stream_follows_openai_framing(connect: Connect, sse: ParseSSE) -> None:
    _, client = connect()
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
    response = await client.post(CHAT, json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert pieces[:2] == ["This", " is"]
    assert "".join(pieces) == "This is a fake answer to: Hello there"


async def test_stream_include_usage_and_chunk_count(connect: Connect, sse: ParseSSE) -> None:
    _, client = connect(stream_chunks=2)
    body = {
        "model": "m",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = sse((await client.post(CHAT, json=body)).text)
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    assert len(chunks) == 4  # role, two content pieces, finish
    assert all(list(c)[-2:] == ["choices", "usage"] and c["usage"] is None for c in chunks)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] == 19


async def test_tool_call_uses_first_tool_with_schema_valid_arguments(connect: Connect) -> None:
    _, client = connect()
    body = {"model": "m", "messages": HELLO, "tools": [WEATHER_TOOL, OTHER_TOOL]}
    choice = (await client.post(CHAT, json=body)).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "fake", "days": 3}


@pytest.mark.parametrize(
    ("tool_choice", "last_role", "expected"),
    [
        ({"type": "function", "function": {"name": "noop"}}, "user", "noop"),
        ("required", "user", "get_weather"),
        ("auto", "user", "get_weather"),
        ("none", "user", None),
        ("auto", "tool", None),
    ],
)
async def test_tool_choice(
    connect: Connect, tool_choice: object, last_role: str, expected: str | None
) -> None:
    _, client = connect()
    messages = [*HELLO, {"role": last_role, "content": "x", "tool_call_id": "call_1"}]
    body = {
        "model": "m",
        "messages": messages,
        "tools": [WEATHER_TOOL, OTHER_TOOL],
        "tool_choice": tool_choice,
    }
    message = (await client.post(CHAT, json=body)).json()["choices"][0]["message"]
    calls = message.get("tool_calls")
    assert (calls[0]["function"]["name"] if calls else None) == expected
    if expected == "noop":
        assert calls[0]["function"]["arguments"] == "{}"


async def test_tool_call_stream_deltas(connect: Connect, sse: ParseSSE) -> None:
    _, client = connect()
    body = {"model": "m", "messages": HELLO, "tools": [WEATHER_TOOL], "stream": True}
    chunks = sse((await client.post(CHAT, json=body)).text)[:-1]
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant"
    assert first["content"] is None
    [opening] = first["tool_calls"]
    assert opening["index"] == 0
    assert opening["type"] == "function"
    assert opening["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert len(fragments) > 1
    assert all(set(f) == {"index", "function"} for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert orjson.loads(arguments) == {"city": "fake", "days": 3}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_response_format_json_schema_and_json_object(connect: Connect) -> None:
    _, client = connect()
    schema = {
        "type": "object",
        "properties": {"temp_c": {"type": "number"}},
        "required": ["temp_c"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}
    body = {"model": "m", "messages": HELLO, "response_format": response_format}
    content = (await client.post(CHAT, json=body)).json()["choices"][0]["message"]["content"]
    assert orjson.loads(content) == {"temp_c": 1.5}
    body["response_format"] = {"type": "json_object"}
    content = (await client.post(CHAT, json=body)).json()["choices"][0]["message"]["content"]
    assert orjson.loads(content) == {"answer": "This is a fake answer to: Hello there"}


async def test_legacy_completions(connect: Connect, sse: ParseSSE) -> None:
    _, client = connect()
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "n": 2}
    data = (await client.post("/v1/completions", json=body)).json()
    assert data["object"] == "text_completion"
    assert data["choices"][1] == {
        "text": "This is a fake answer to: Say this is a test",
        "index": 1,
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 22, "total_tokens": 27}
    body = {"model": "m", "prompt": ["a b c d e f g h i j k l m n o p q r"], "stream": True}
    events = sse((await client.post("/completions", json=body)).text)
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"][0] == {
        "text": "",
        "index": 0,
        "logprobs": None,
        "finish_reason": "length",
    }
    text = "".join(e["choices"][0]["text"] for e in events[:-2])
    assert len(text.split()) == 16  # the legacy default max_tokens


async def test_embeddings_float_base64_and_dimensions(connect: Connect) -> None:
    _, client = connect()
    body = {"model": "text-embedding-3-small", "input": ["first text", "second"]}
    data = (await client.post("/v1/embeddings", json=body)).json()
    assert data["object"] == "list"
    assert data["model"] == "text-embedding-3-small"
    assert data["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    first, second = (d["embedding"] for d in data["data"])
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert len(first) == 8
    assert first != second
    assert sum(v * v for v in first) == pytest.approx(1.0)
    again = (await client.post("/v1/embeddings", json={**body, "input": "first text"})).json()
    assert again["data"][0]["embedding"] == first
    encoded = await client.post(
        "/v1/embeddings",
        json={**body, "input": "first text", "encoding_format": "base64", "dimensions": 8},
    )
    raw = base64.b64decode(encoded.json()["data"][0]["embedding"])
    assert struct.unpack("<8f", raw) == pytest.approx(first, abs=1e-6)
    short = (await client.post("/v1/embeddings", json={**body, "dimensions": 4})).json()
    assert len(short["data"][0]["embedding"]) == 4


async def test_models(connect: Connect) -> None:
    _, client = connect(models=("gpt-4o", "gpt-4o-mini"))
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["gpt-4o", "gpt-4o-mini"]
    assert (await client.get("/models/gpt-4o")).json()["object"] == "model"
    missing = await client.get("/v1/models/gpt-9")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_api_key(connect: Connect) -> None:
    _, client = connect(api_key="sk-test-1234567890")
    body = {"model": "m", "messages": HELLO}
    ok = await client.post(CHAT, json=body, headers={"authorization": "Bearer sk-test-1234567890"})
    assert ok.status_code == 200
    wrong = await client.post(CHAT, json=body, headers={"authorization": "Bearer sk-wrong-key-1"})
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": {
            "message": "Incorrect API key provided: sk-wr****ey-1.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    missing = await client.post(CHAT, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] is None
    assert (await client.get("/v1/models")).status_code == 401


@pytest.mark.parametrize(
    ("path", "payload", "status", "fragment"),
    [
        ("/v1/nope", b"{}", 404, "Invalid URL (POST /v1/nope)"),
        (CHAT, b"{not json", 400, "could not parse the JSON body"),
        (CHAT, b'{"messages": []}', 400, "must provide a model"),
        (CHAT, b'{"model": "gpt-4o", "messages": []}', 400, "'messages'"),
        ("/v1/embeddings", b'{"model": "gpt-4o"}', 400, "'input'"),
        (CHAT, b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}', 404, "gpt-9"),
    ],
)
async def test_client_errors(
    connect: Connect, path: str, payload: bytes, status: int, fragment: str
) -> None:
    _, client = connect(strict_models=True)
    response = await client.post(path, content=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"]


async def test_stats_record_requests(connect: Connect) -> None:
    app, client = connect()
    await client.post(CHAT, json={"model": "m", "messages": HELLO}, headers={"X-Trace": "t1"})
    await client.post("/v1/embeddings", json={"model": "m", "input": "abcdefgh"})
    await client.get("/v1/models")
    await client.post("/v1/unknown", json={})
    stats = (await client.get("/_fake/stats")).json()
    assert stats["requests"] == {"chat": 1, "embeddings": 1, "models": 1}
    assert stats["statuses"] == {"200": 3, "404": 1}
    assert stats["tokens_charged"] == 5 + 4096 + 2  # chat estimate (default max) + embedding
    first = stats["recent"][0]
    assert (first["method"], first["path"]) == ("POST", CHAT)
    assert first["headers"]["x-trace"] == "t1"
    assert first["body"] == {"model": "m", "messages": HELLO}
    assert len(stats["recent"]) == 4
    assert app.stats.requests["chat"] == 1
    assert (await client.post("/_fake/reset")).status_code == 200
    assert (await client.get("/_fake/stats")).json()["recent"] == []


async def test_history_size_bounds_recent(connect: Connect) -> None:
    app, client = connect(history_size=2)
    for _ in range(3):
        await client.get("/v1/models")
    assert len(app.stats.recent) == 2


async def test_latency_and_per_model_override(connect: Connect, clock: ManualClock) -> None:
    _, client = connect(latency_ms=100, model_latency_ms={"quick": 0})
    started = clock.monotonic()  # the fake waits on its clock
    slow = await client.post(CHAT, json={"model": "m", "messages": HELLO})
    assert clock.monotonic() - started == pytest.approx(0.1)
    assert slow.headers["openai-processing-ms"] == "100"
    started = clock.monotonic()
    await client.post(CHAT, json={"model": "quick", "messages": HELLO})
    assert clock.monotonic() == started

"""Anthropic Messages ⇄ OpenAI chat: requests, replies, stream events, errors, token estimate."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from quotaflow.errors import InvalidRequest, UpstreamUnavailable
from quotaflow.inbound.anthropic_messages import (
    MessageStream,
    count_input_tokens,
    error_body,
    error_type,
    to_chat,
    to_message,
)
from tests.unit.inbound.sse import TEXT_CHUNKS, TOOL_CHUNKS, chunk, parse_events, usage

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def request(**fields: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4-preview",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
        **fields,
    }


# --- request ----------------------------------------------------------------------------------


def test_plain_request():
    payload = to_chat(
        request(
            system="Be brief.",
            temperature=0.5,
            top_p=0.9,
            stop_sequences=["END"],
            metadata={"user_id": "u-1"},
        )
    )
    assert payload == {
        "model": "gpt-4-preview",
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "u-1",
    }


def test_stream_asks_for_usage():
    payload = to_chat(request(stream=True))
    assert payload["stream"] is True
    assert payload["stream_options"] == {"include_usage": True}


def test_system_blocks_are_joined():
    system = [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]
    assert to_chat(request(system=system))["messages"][0] == {
        "role": "system",
        "content": "One.\nTwo.",
    }


def test_images_become_image_url_parts():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
    ]
    messages = to_chat(request(messages=[{"role": "user", "content": content}]))["messages"]
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]


def test_tool_use_and_tool_result_round_trip():
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "…", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "P"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    chat = to_chat(request(messages=messages))["messages"]
    assert chat[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"P"}'},
            }
        ],
    }
    assert chat[2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "a\nb"},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]


def test_assistant_with_only_tool_use_has_null_content():
    turn = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
    }
    chat = to_chat(request(messages=[{"role": "user", "content": "x"}, turn]))["messages"]
    assert chat[1]["content"] is None


def test_tools_become_functions():
    payload = to_chat(request(tools=[WEATHER_TOOL]))
    assert payload["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER_TOOL["input_schema"],
                "description": "Current weather for a city",
            },
        }
    ]
    assert "tool_choice" not in payload


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
            None,
        ),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ],
)
def test_tool_choice(choice, expected, parallel):
    payload = to_chat(request(tools=[WEATHER_TOOL], tool_choice=choice))
    assert payload["tool_choice"] == expected
    assert payload.get("parallel_tool_calls") is parallel


def test_output_config_format_becomes_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    config = {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}
    assert to_chat(request(output_config=config))["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def test_harmless_fields_are_ignored():
    payload = to_chat(
        request(
            thinking={"type": "enabled", "budget_tokens": 1024},
            top_k=5,
            service_tier="auto",
            cache_control={"type": "ephemeral"},
        )
    )
    assert set(payload) == {"model", "max_tokens", "messages"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (request(max_tokens=0), "max_tokens"),
        (request(model=None), "model"),
        (request(messages=[]), "messages"),
        (request(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (request(temperature=1.5), "temperature"),
        (request(stop_sequences="END"), "stop_sequences"),
        (request(mcp_servers=[]), "mcp_servers"),
        (request(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools.0.type"),
        (request(tools=[{"name": "f"}]), "tools.0.input_schema"),
        (request(tools=[WEATHER_TOOL], tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (
            request(messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
            "messages.0.content.0.type",
        ),
        (
            request(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "document", "source": {"type": "base64", "data": "x"}}
                        ],
                    }
                ]
            ),
            "messages.0.content.0.source",
        ),
    ],
)
def test_refused_requests_name_the_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        to_chat(body)
    assert caught.value.param == param
    assert caught.value.message.startswith(param + ": ")


# --- count_tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "tokens"), [("1234", 3), ("12345", 4)])
def test_count_tokens_is_chars_over_four(text, tokens):
    body = {
        "model": "gpt-4-preview",
        "system": "12345678",
        "messages": [{"role": "user", "content": text}],
    }
    assert count_input_tokens(body) == tokens  # ceil((8 + len(text)) / 4)


def test_count_tokens_includes_tools_and_needs_no_max_tokens():
    plain = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    with_tools = {**plain, "tools": [WEATHER_TOOL]}
    assert count_input_tokens(with_tools) > count_input_tokens(plain) + 10


# --- reply ------------------------------------------------------------------------------------


def completion(message: dict[str, Any], finish: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        **extra,
    }


def test_reply_with_text_and_tool_call():
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    reply = completion(message, "tool_calls", usage=usage(20, 7, cached=5))
    assert to_message(reply, model="gpt-4-preview", message_id="msg_1") == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4-preview",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 15,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 5,
        },
    }


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reasons(finish, stop_reason):
    reply = completion({"role": "assistant", "content": "x"}, finish)
    assert to_message(reply, model="m", message_id="msg_1")["stop_reason"] == stop_reason


def test_unparseable_tool_arguments_become_empty_input():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    reply = completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
    content = to_message(reply, model="m", message_id="msg_1")["content"]
    assert content == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


def test_reply_without_choices_is_an_empty_message():
    message = to_message({"choices": []}, model="m", message_id="msg_1")
    assert message["content"] == []
    assert message["stop_reason"] == "end_turn"


# --- stream -----------------------------------------------------------------------------------


def run_stream(chunks: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    stream = MessageStream(model="gpt-4-preview", message_id="msg_1")
    data = b"".join(stream.chunk(c) for c in chunks) + stream.end()
    return parse_events(data)


def test_text_stream_events_in_order():
    events = run_stream(TEXT_CHUNKS)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["id"] == "msg_1"
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [e[1]["delta"]["text"] for e in events[2:4]] == ["Hello", " world"]
    assert events[5][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 8,
            "output_tokens": 2,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 4,
        },
    }


def test_tool_stream_opens_a_tool_use_block_after_the_text():
    events = run_stream(TOOL_CHUNKS)
    assert [(name, data.get("index")) for name, data in events] == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert events[4][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    fragments = [data["delta"]["partial_json"] for _, data in events[5:7]]
    assert orjson.loads("".join(fragments)) == {"city": "Paris"}
    assert events[8][1]["delta"]["stop_reason"] == "tool_use"
    assert events[8][1]["usage"]["output_tokens"] == 9


def test_two_tool_calls_are_two_blocks():
    opening = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    chunks = [
        chunk({"tool_calls": [{"index": 0, "id": "a", **opening}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", **opening}]}),
        chunk({}, "tool_calls"),
    ]
    starts = [data for name, data in run_stream(chunks) if name == "content_block_start"]
    assert [(s["index"], s["content_block"]["id"]) for s in starts] == [(0, "a"), (1, "b")]


def test_error_event():
    stream = MessageStream(model="m", message_id="msg_1")
    stream.chunk(TEXT_CHUNKS[1])
    [(name, data)] = parse_events(stream.error(UpstreamUnavailable("upstream went away")))
    assert name == "error"
    assert data == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream went away"},
    }


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (415, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_types(status, kind):
    assert error_type(status) == kind
    assert error_body(status, "m") == {"type": "error", "error": {"type": kind, "message": "m"}}

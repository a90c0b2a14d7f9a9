"""The Anthropic adapter as pure translation: requests, answers, streams and errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from quotaflow.errors import (
    Fault,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers.anthropic import RESPONSE_TOOL, AnthropicAdapter, messages_url
from quotaflow.providers.base import Operation, ServerSentEvent, Usage
from quotaflow.providers.registry import PROVIDERS
from quotaflow.routing.deployment import Deployment

JSON = dict[str, Any]
CLAUDE = Deployment(
    id="claude",
    model_group="claude",
    provider="anthropic",
    upstream_model="claude-sonnet-4-5",
    api_key="sk-ant-test",
)
HI: list[JSON] = [{"role": "user", "content": "Hi"}]
WEATHER_TOOL: JSON = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def adapter(**changes: Any) -> AnthropicAdapter:
    return AnthropicAdapter(dataclasses.replace(CLAUDE, **changes), now=lambda: 1_700_000_000.5)


def translate(payload: JSON, **changes: Any) -> JSON:
    request = adapter(**changes).build_request(
        Operation.CHAT, {"model": "claude", **payload}, stream=False
    )
    body: JSON = orjson.loads(request.body)
    return body


# --- requests ---------------------------------------------------------------------------------


def test_request_url_headers_and_defaults():
    request = adapter(extra_headers={"anthropic-beta": "x"}).build_request(
        Operation.CHAT, {"model": "claude", "messages": HI}, stream=True
    )
    assert request.method == "POST"
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-test",
        "anthropic-beta": "x",
    }
    assert orjson.loads(request.body) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9/v1/messages"),
        ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/messages"),
        ("http://127.0.0.1:9/v1/messages", "http://127.0.0.1:9/v1/messages"),
    ],
)
def test_messages_url(api_base, url):
    assert messages_url(api_base) == url


def test_registered_under_anthropic():
    assert PROVIDERS["anthropic"] is AnthropicAdapter


def test_system_and_developer_messages_become_the_system_prompt():
    body = translate(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            ]
        }
    )
    assert body["system"] == "Be brief.\n\nUse French."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_consecutive_turns_of_one_role_are_merged_and_names_dropped():
    body = translate(
        {
            "messages": [
                {"role": "user", "content": "One", "name": "ann"},
                {"role": "user", "content": [{"type": "text", "text": "Two"}]},
                {"role": "assistant", "content": "Three"},
                {"role": "assistant", "content": None},
            ]
        }
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}],
        },
        {"role": "assistant", "content": "Three"},
    ]


def test_images_from_data_urls_and_http_urls():
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]
    body = translate({"messages": [{"role": "user", "content": parts}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
    ]


def test_an_image_url_that_is_neither_data_nor_http_is_refused():
    parts = [{"type": "image_url", "image_url": {"url": "ftp://example.com/cat.png"}}]
    with pytest.raises(InvalidRequest) as caught:
        translate({"messages": [{"role": "user", "content": parts}]})
    assert caught.value.param == "messages[0].content[0].image_url.url"


def test_tool_calls_and_tool_results():
    body = translate(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "toolu_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "not json"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18 C"},
                {
                    "role": "tool",
                    "tool_call_id": "toolu_2",
                    "content": [{"type": "text", "text": "21 C"}],
                },
                {"role": "user", "content": "Thanks. Which is warmer?"},
            ]
        }
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "21 C"}],
                },
                {"type": "text", "text": "Thanks. Which is warmer?"},
            ],
        },
    ]


def test_tool_results_come_before_user_text_in_their_turn():
    body = translate(
        {
            "messages": [
                {"role": "user", "content": "Look at this"},
                {"role": "tool", "tool_call_id": "toolu_1", "content": ""},
            ]
        }
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1"},
                {"type": "text", "text": "Look at this"},
            ],
        }
    ]


def test_tools_map_to_input_schemas():
    bare = {"type": "function", "function": {"name": "ping"}}
    body = translate({"messages": HI, "tools": [WEATHER_TOOL, bare]})
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        },
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice(tool_choice, parallel, expected):
    payload: JSON = {"messages": HI, "tools": [WEATHER_TOOL]}
    if tool_choice is not None:
        payload["tool_choice"] = tool_choice
    if parallel is not None:
        payload["parallel_tool_calls"] = parallel
    assert translate(payload).get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent():
    assert "tool_choice" not in translate({"messages": HI, "tool_choice": "auto"})


def test_response_format_json_schema_becomes_a_forced_tool():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "Person", "schema": schema}}
    body = translate({"messages": HI, "response_format": response_format})
    assert body["tools"] == [
        {
            "name": RESPONSE_TOOL,
            "description": "Give your whole answer as this tool's input.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": RESPONSE_TOOL}


def test_response_format_json_object_is_an_open_object_tool():
    body = translate({"messages": HI, "response_format": {"type": "json_object"}})
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": RESPONSE_TOOL}


def test_response_format_next_to_tools_lets_the_model_choose():
    body = translate(
        {"messages": HI, "tools": [WEATHER_TOOL], "response_format": {"type": "json_object"}}
    )
    assert [tool["name"] for tool in body["tools"]] == ["get_weather", RESPONSE_TOOL]
    assert "tool_choice" not in body
    assert "tools" not in translate({"messages": HI, "response_format": {"type": "text"}})


def test_sampling_stop_user_and_max_tokens():
    body = translate(
        {
            "messages": HI,
            "max_tokens": 50,
            "max_completion_tokens": 70,
            "stop": "\n\n",
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 5,
            "user": "user-42",
            "n": 1,
            "logprobs": False,
            "stream_options": {"include_usage": True},
        }
    )
    del body["messages"]
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 70,
        "stop_sequences": ["\n\n"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 5,
        "metadata": {"user_id": "user-42"},
    }
    assert translate({"messages": HI, "stop": ["a", "b"], "max_tokens": 9})["stop_sequences"] == [
        "a",
        "b",
    ]
    assert translate({"messages": HI, "max_tokens": 9})["max_tokens"] == 9


@pytest.mark.parametrize(
    ("payload", "param", "message"),
    [
        ({"n": 2}, "n", "anthropic does not support 'n' > 1"),
        ({"logprobs": True}, "logprobs", "anthropic does not support 'logprobs'"),
        ({"logit_bias": {"1": 2}}, "logit_bias", "anthropic does not support 'logit_bias'"),
        ({"seed": 7}, "seed", "anthropic does not support 'seed'"),
        ({"presence_penalty": 0.5}, "presence_penalty", "anthropic does not support"),
        ({"frequency_penalty": 0.5}, "frequency_penalty", "anthropic does not support"),
        ({"temperature": 1.5}, "temperature", "anthropic does not support 'temperature' > 1"),
        ({"store": True}, "store", "anthropic does not support 'store'"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
            "anthropic does not support 'input_audio' content parts",
        ),
        (
            {"messages": [{"role": "function", "name": "f", "content": "x"}]},
            "messages[0].role",
            "anthropic does not support messages with role 'function'",
        ),
    ],
)
def test_parameters_without_an_equivalent_are_refused(payload, param, message):
    with pytest.raises(InvalidRequest) as caught:
        translate({"messages": HI, **payload})
    assert caught.value.param == param
    assert caught.value.message.startswith(message)
    assert caught.value.status == 400
    assert caught.value.code == "unsupported_parameter"


def test_drop_params_drops_them_and_clamps_temperature():
    body = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "input_audio"}, {"type": "text", "text": "Hi"}],
                }
            ],
            "n": 2,
            "seed": 7,
            "logprobs": True,
            "temperature": 1.7,
            "frequency_penalty": 1,
        },
        drop_params=True,
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 1.0,
    }


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (Operation.EMBEDDING, "anthropic does not serve embeddings"),
        (Operation.COMPLETION, "anthropic does not serve legacy completions"),
    ],
)
def test_embeddings_and_completions_are_refused(op, message):
    with pytest.raises(InvalidRequest, match=message) as caught:
        adapter().build_request(op, {"model": "claude", "input": "x"}, stream=False)
    assert caught.value.param == "model"


# --- answers ----------------------------------------------------------------------------------


def message(content: list[JSON], stop_reason: str = "end_turn", **usage: int) -> bytes:
    counts = {"input_tokens": 412, "output_tokens": 57, **usage}
    return orjson.dumps(
        {
            "id": "msg_01XyZ",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": counts,
        }
    )


def parse(body: bytes, payload: JSON | None = None) -> tuple[JSON, Usage | None]:
    reply = adapter().parse_reply(Operation.CHAT, payload or {"messages": HI}, body, {})
    completion: JSON = orjson.loads(reply.body)
    return completion, reply.usage


def test_text_answer():
    completion, usage = parse(
        message(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Hello"},
                {"type": "text", "text": " there."},
            ]
        )
    )
    assert completion == {
        "id": "msg_01XyZ",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 412,
            "completion_tokens": 57,
            "total_tokens": 469,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    assert usage == Usage(prompt_tokens=412, completion_tokens=57)


def test_tool_use_answer():
    completion, _ = parse(
        message(
            [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_A",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}},
            ],
            stop_reason="tool_use",
        )
    )
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "toolu_A",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "toolu_B",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }


def test_tool_calls_alone_have_null_content():
    completion, _ = parse(
        message([{"type": "tool_use", "id": "t", "name": "f", "input": {}}], "tool_use")
    )
    assert completion["choices"][0]["message"]["content"] is None


def test_cache_counts_are_part_of_the_prompt():
    _, usage = parse(
        message(
            [{"type": "text", "text": "Hi"}],
            input_tokens=10,
            cache_read_input_tokens=300,
            cache_creation_input_tokens=50,
            output_tokens=5,
        )
    )
    assert usage == Usage(prompt_tokens=360, completion_tokens=5, cached_tokens=300)


def test_response_format_tool_input_is_the_content():
    payload = {"messages": HI, "response_format": {"type": "json_object"}}
    answer = [{"type": "tool_use", "id": "t", "name": RESPONSE_TOOL, "input": {"name": "Ada"}}]
    completion, _ = parse(message(answer, "tool_use"), payload)
    choice = completion["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": '{"name":"Ada"}'}
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "stop"),  # without tool calls (a response_format answer)
    ],
)
def test_finish_reasons(stop_reason, finish_reason):
    completion, _ = parse(message([{"type": "text", "text": "x"}], stop_reason))
    assert completion["choices"][0]["finish_reason"] == finish_reason


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"type":"error"}', b'{"type":"message"}'])
def test_garbage_answers(body):
    with pytest.raises(UpstreamBadResponse):
        parse(body)


# --- streams ----------------------------------------------------------------------------------

# The text + tool-use stream of the reference's §3.5, event for event.
REFERENCE_STREAM = [
    (
        "message_start",
        '{"type":"message_start","message":{"id":"msg_01Str","type":"message","role":"assistant",'
        '"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,'
        '"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,'
        '"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}',
    ),
    (
        "content_block_start",
        '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    ),
    ("ping", '{"type": "ping"}'),
    (
        "content_block_delta",
        '{"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"Checking the weather"}}',
    ),
    (
        "content_block_delta",
        '{"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":" in Paris."}}',
    ),
    ("content_block_stop", '{"type":"content_block_stop","index":0}'),
    (
        "content_block_start",
        '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use",'
        '"id":"toolu_01Xyz","name":"get_weather","input":{}}}',
    ),
    (
        "content_block_delta",
        '{"type":"content_block_delta","index":1,'
        '"delta":{"type":"input_json_delta","partial_json":""}}',
    ),
    (
        "content_block_delta",
        '{"type":"content_block_delta","index":1,'
        '"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Pa"}}',
    ),
    (
        "content_block_delta",
        '{"type":"content_block_delta","index":1,'
        '"delta":{"type":"input_json_delta","partial_json":"ris\\"}"}}',
    ),
    ("content_block_stop", '{"type":"content_block_stop","index":1}'),
    (
        "message_delta",
        '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
        '"usage":{"output_tokens":61}}',
    ),
    ("message_stop", '{"type":"message_stop"}'),
]


def run_stream(
    events: list[tuple[str, str]], payload: JSON | None = None
) -> tuple[list[JSON], Usage | None, bool]:
    translator = adapter().open_stream(Operation.CHAT, payload or {"messages": HI, "stream": True})
    chunks: list[JSON] = []
    for name, data in events:
        chunks += [orjson.loads(c) for c in translator.feed(ServerSentEvent(data.encode(), name))]
    return chunks, translator.usage, translator.done


def deltas(chunks: list[JSON]) -> list[tuple[JSON, str | None]]:
    return [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]


def test_reference_stream_translation():
    chunks, usage, done = run_stream(REFERENCE_STREAM)
    assert done
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in chunks} == {
        ("msg_01Str", "chat.completion.chunk", 1_700_000_000, "claude-sonnet-4-5-20250929")
    }
    opening = {"index": 0, "id": "toolu_01Xyz", "type": "function"}
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Checking the weather"}, None),
        ({"content": " in Paris."}, None),
        ({"tool_calls": [{**opening, "function": {"name": "get_weather", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}, None),
        ({}, "tool_calls"),
    ]
    assert usage == Usage(prompt_tokens=377, completion_tokens=61)


def test_stream_usage_chunk_only_when_asked():
    payload = {"messages": HI, "stream": True, "stream_options": {"include_usage": True}}
    chunks, _, _ = run_stream(REFERENCE_STREAM, payload)
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": 377,
        "completion_tokens": 61,
        "total_tokens": 438,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert len(chunks) == 8


def test_stream_numbers_tool_calls_per_message_not_per_block():
    def tool_block(index: int, name: str) -> list[tuple[str, str]]:
        block = {"type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": "{}"}
        return [
            (
                "content_block_start",
                _json(type="content_block_start", index=index, content_block=block),
            ),
            ("content_block_delta", _json(type="content_block_delta", index=index, delta=delta)),
            ("content_block_stop", _json(type="content_block_stop", index=index)),
        ]

    thinking = {"type": "thinking", "thinking": ""}
    thought = {"type": "thinking_delta", "thinking": "hmm"}
    events = [
        REFERENCE_STREAM[0],
        ("content_block_start", _json(type="content_block_start", index=0, content_block=thinking)),
        ("content_block_delta", _json(type="content_block_delta", index=0, delta=thought)),
        *tool_block(1, "a"),
        *tool_block(2, "b"),
    ]
    chunks, _, done = run_stream(events)
    assert not done
    calls = [d["tool_calls"][0] for d, _ in deltas(chunks) if "tool_calls" in d]
    assert [(c["index"], c.get("id")) for c in calls] == [
        (0, "toolu_1"),
        (0, None),
        (1, "toolu_2"),
        (1, None),
    ]


def test_stream_response_format_tool_streams_as_content():
    block = {"type": "tool_use", "id": "toolu_1", "name": RESPONSE_TOOL, "input": {}}
    events = [
        REFERENCE_STREAM[0],
        ("content_block_start", _json(type="content_block_start", index=0, content_block=block)),
        *[
            (
                "content_block_delta",
                _json(
                    type="content_block_delta",
                    index=0,
                    delta={"type": "input_json_delta", "partial_json": piece},
                ),
            )
            for piece in ("", '{"a":', "1}")
        ],
        ("content_block_stop", _json(type="content_block_stop", index=0)),
        REFERENCE_STREAM[-2],
        REFERENCE_STREAM[-1],
    ]
    payload = {"messages": HI, "stream": True, "response_format": {"type": "json_object"}}
    chunks, _, done = run_stream(events, payload)
    assert done
    assert deltas(chunks)[1:] == [
        ({"content": '{"a":'}, None),
        ({"content": "1}"}, None),
        ({}, "stop"),
    ]


def test_stream_message_delta_may_repeat_input_counts():
    final = _json(
        type="message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},
        usage={"input_tokens": 377, "cache_read_input_tokens": 100, "output_tokens": 9},
    )
    _, usage, _ = run_stream([REFERENCE_STREAM[0], ("message_delta", final)])
    assert usage == Usage(prompt_tokens=477, completion_tokens=9, cached_tokens=100)


@pytest.mark.parametrize(
    ("kind", "error_class", "fault"),
    [
        ("overloaded_error", UpstreamUnavailable, Fault.TRANSIENT),
        ("api_error", UpstreamUnavailable, Fault.TRANSIENT),
        ("rate_limit_error", UpstreamRateLimited, Fault.TRANSIENT),
        ("invalid_request_error", UpstreamRejected, Fault.REQUEST),
        ("something_new", UpstreamUnavailable, Fault.TRANSIENT),
    ],
)
def test_stream_error_events_raise(kind, error_class, fault):
    error = _json(type="error", error={"type": kind, "message": "Overloaded"})
    with pytest.raises(error_class) as caught:
        run_stream([REFERENCE_STREAM[0], ("error", error)])
    assert caught.value.fault is fault


def test_stream_garbage_is_a_bad_response():
    with pytest.raises(UpstreamBadResponse):
        run_stream([("message_start", "<html>")])


def _json(**fields: Any) -> str:
    return orjson.dumps(fields).decode()


# --- errors -----------------------------------------------------------------------------------


def error_body(kind: str, message: str = "Something.") -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}
    )


def classify(status: int, body: bytes, headers: dict[str, str] | None = None) -> UpstreamError:
    return adapter().classify_error(status, headers or {}, body)


def test_429_is_rate_limited_with_retry_after():
    error = classify(429, error_body("rate_limit_error"), {"retry-after": "7"})
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after_s == 7.0
    assert error.upstream_status == 429
    assert error.fault is Fault.TRANSIENT


@pytest.mark.parametrize(
    ("status", "kind"),
    [(529, "overloaded_error"), (500, "api_error"), (504, "timeout_error"), (503, "x"), (408, "x")],
)
def test_overloaded_and_5xx_are_transient(status, kind):
    error = classify(status, error_body(kind), {"retry-after": "3"})
    assert isinstance(error, UpstreamUnavailable)
    assert error.fault is Fault.TRANSIENT
    assert error.status == 503
    assert error.retry_after_s == 3.0
    assert error.upstream_status == status


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "authentication_error"), (403, "permission_error"), (402, "billing_error")],
)
def test_credentials_and_billing_are_the_deployments_fault(status, kind):
    error = classify(status, error_body(kind))
    assert isinstance(error, UpstreamAuthFailed)
    assert error.fault is Fault.DEPLOYMENT


def test_an_unknown_model_is_the_deployments_fault():
    error = classify(404, error_body("not_found_error"))
    assert isinstance(error, UpstreamMisconfigured)
    assert error.fault is Fault.DEPLOYMENT


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (413, "request_too_large")],
)
def test_request_errors_are_returned_in_openai_shape(status, kind):
    error = classify(status, error_body(kind, "messages: Field required"))
    assert isinstance(error, UpstreamRejected)
    assert error.fault is Fault.REQUEST
    assert error.status == status
    assert error.body() == {
        "error": {
            "message": "messages: Field required",
            "type": "invalid_request_error",
            "param": None,
            "code": kind,
        }
    }


def test_an_error_body_that_is_not_json_still_classifies():
    error = classify(413, b"<html>413 Request Entity Too Large</html>")
    assert isinstance(error, UpstreamRejected)
    assert error.body()["error"]["message"] == "Upstream answered HTTP 413."
    assert error.body()["error"]["code"] is None


def test_rate_limit_headers_become_a_hint_for_routing():
    adapter = PROVIDERS["anthropic"](CLAUDE)
    hint = adapter.rate_limit_hint(
        {
            "anthropic-ratelimit-requests-remaining": "7",
            "anthropic-ratelimit-tokens-remaining": "12000",
        }
    )
    assert hint is not None
    assert (hint.remaining_requests, hint.remaining_tokens) == (7, 12_000)
    assert adapter.rate_limit_hint({}) is None

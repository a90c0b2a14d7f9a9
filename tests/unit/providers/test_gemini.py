"""The Gemini adapter as pure translation: requests, replies, streams and errors."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel, Field

from quotaflow.errors import (
    Fault,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers.base import Operation, ServerSentEvent, Usage
from quotaflow.providers.gemini import GeminiAdapter, GeminiStreamTranslator
from quotaflow.providers.registry import PROVIDERS
from quotaflow.routing.deployment import Deployment

NOW = 1_700_000_000.0
DEPLOYMENT = Deployment(
    id="gem",
    model_group="gemini",
    provider="gemini",
    upstream_model="gemini-2.5-flash",
    api_key="AIza-test",
)
HELLO = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
# The two events of the reference's §4.4, byte for byte.
STREAM_EXAMPLE = [
    b'{"candidates": [{"content": {"parts": [{"text": "It is 18 C"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 42,"candidatesTokenCount": 5,"totalTokenCount": 91,'
    b'"promptTokensDetails": [{"modality": "TEXT","tokenCount": 42}],"thoughtsTokenCount": 44},'
    b'"modelVersion": "gemini-2.5-flash","responseId": "q7xKaPq3Lo6vnvgPk8ibsQ0"}',
    b'{"candidates": [{"content": {"parts": [{"text": " and sunny in Paris."}],"role": "model"},'
    b'"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 42,'
    b'"candidatesTokenCount": 11,"totalTokenCount": 97,"promptTokensDetails": [{"modality": "TEXT",'
    b'"tokenCount": 42}],"thoughtsTokenCount": 44},"modelVersion": "gemini-2.5-flash",'
    b'"responseId": "q7xKaPq3Lo6vnvgPk8ibsQ0"}',
]
# The 429 of the reference's §4.5.
RESOURCE_EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_input_token_count",
                        "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more", "url": "https://ai.google.dev/"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"},
        ],
    }
}
API_KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}


def _adapter(**overrides: Any) -> GeminiAdapter:
    fields = {
        "id": "gem",
        "model_group": "gemini",
        "provider": "gemini",
        "upstream_model": "gemini-2.5-flash",
        "api_key": "AIza-test",
        **overrides,
    }
    return GeminiAdapter(Deployment(**fields), now=lambda: NOW)


def _body(payload: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    request = _adapter(**overrides).build_request(
        Operation.CHAT, {"model": "gemini", **payload}, stream=False
    )
    body: dict[str, Any] = orjson.loads(request.body)
    return body


def _reply(data: dict[str, Any], payload: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = payload or {"model": "gemini", "messages": HELLO}
    reply = _adapter().parse_reply(Operation.CHAT, payload, orjson.dumps(data), {})
    completion: dict[str, Any] = orjson.loads(reply.body)
    return completion


def _candidate(*parts: dict[str, Any], finish: str = "STOP", index: int = 0) -> dict[str, Any]:
    content = {"role": "model", "parts": list(parts)}
    return {"content": content, "finishReason": finish, "index": index}


def _response(*candidates: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "candidates": list(candidates),
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
        **extra,
    }


def _feed(translator: GeminiStreamTranslator, *events: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(c) for e in events for c in translator.feed(ServerSentEvent(e))]


def _translator(**payload: Any) -> GeminiStreamTranslator:
    return _adapter().open_stream(Operation.CHAT, {"model": "gemini", **payload})


# --- URLs and headers --------------------------------------------------------------------------


def test_is_registered_as_gemini():
    assert PROVIDERS["gemini"] is GeminiAdapter


def test_urls_and_the_api_key_header():
    adapter = GeminiAdapter(DEPLOYMENT)
    plain = adapter.build_request(Operation.CHAT, {"messages": HELLO}, stream=False)
    stream = adapter.build_request(Operation.CHAT, {"messages": HELLO}, stream=True)
    base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
    assert (plain.method, plain.url) == ("POST", f"{base}:generateContent")
    assert stream.url == f"{base}:streamGenerateContent?alt=sse"
    assert plain.headers["x-goog-api-key"] == "AIza-test"
    assert "authorization" not in plain.headers


@pytest.mark.parametrize(
    ("api_base", "model"),
    [
        ("http://127.0.0.1:9/", "gemini-2.5-flash"),
        ("http://127.0.0.1:9/v1beta", "models/gemini-2.5-flash"),
    ],
)
def test_api_base_with_or_without_v1beta(api_base, model):
    adapter = _adapter(api_base=api_base, upstream_model=model, extra_headers={"x-extra": "1"})
    request = adapter.build_request(Operation.CHAT, {"messages": HELLO}, stream=False)
    assert request.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-extra"] == "1"


@pytest.mark.parametrize("op", [Operation.EMBEDDING, Operation.COMPLETION])
def test_only_chat_is_served(op):
    with pytest.raises(InvalidRequest, match="only /v1/chat/completions") as caught:
        _adapter().build_request(op, {"input": "x", "prompt": "x"}, stream=False)
    assert caught.value.status == 400


# --- request ----------------------------------------------------------------------------------


def test_system_and_developer_become_the_system_instruction_and_roles_map():
    body = _body(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            ]
        }
    )
    assert body == {
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Use metric."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Weather?"}]},
        ],
    }


def test_generation_config():
    body = _body(
        {
            "messages": HELLO,
            "max_tokens": 10,
            "max_completion_tokens": 256,
            "temperature": 0.2,
            "top_p": 0.95,
            "stop": "END",
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "logprobs": True,
            "top_logprobs": 3,
            "response_format": {"type": "json_object"},
            "user": "end-user-1",
            "stream_options": None,
        }
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 256,
        "temperature": 0.2,
        "topP": 0.95,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "responseLogprobs": True,
        "logprobs": 3,
        "responseMimeType": "application/json",
    }
    assert "end-user-1" not in orjson.dumps(body).decode()


def test_json_schema_response_format_and_stop_lists():
    schema = {"type": "object", "properties": {"temp_c": {"type": "number"}}}
    body = _body(
        {
            "messages": HELLO,
            "max_tokens": 5,
            "stop": ["END", "STOP"],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": schema, "strict": True},
            },
        }
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 5,
        "stopSequences": ["END", "STOP"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert "generationConfig" not in _body({"messages": HELLO, "response_format": {"type": "text"}})


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tools_and_tool_choice(choice, config):
    body = _body({"messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": choice})
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_a_function_without_parameters_is_declared_without_them():
    tool = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    body = _body({"messages": HELLO, "tools": [tool]})
    assert body["tools"] == [{"functionDeclarations": [{"name": "now"}]}]


def test_tool_round_trip_names_results_by_the_earlier_call_id():
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    body = _body(
        {
            "messages": [
                *HELLO,
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 18}'},
                {"role": "user", "content": "And tomorrow?"},
                {"role": "tool", "tool_call_id": "call_a", "content": "[1, 2]"},
            ],
            "tools": [WEATHER_TOOL],
        }
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
            ],
        },
        {"role": "user", "parts": [{"text": "And tomorrow?"}]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "[1, 2]"}}}
            ],
        },
    ]


def test_a_tool_result_for_an_unknown_call_id_is_a_400():
    messages = [*HELLO, {"role": "tool", "tool_call_id": "call_x", "content": "18"}]
    with pytest.raises(InvalidRequest, match="call_x") as caught:
        _body({"messages": messages})
    assert caught.value.param == "messages[1].tool_call_id"


def test_tool_call_arguments_must_be_a_json_object():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    messages = [*HELLO, {"role": "assistant", "tool_calls": [call]}]
    with pytest.raises(InvalidRequest) as caught:
        _body({"messages": messages})
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


class Unit(StrEnum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str = Field(description="City name")
    zip_code: str | None = None


class Person(BaseModel):
    """A person."""

    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1)
    email: str = Field(json_schema_extra={"format": "email"})
    age: int = Field(ge=0, lt=150)
    address: Address
    previous: list[Address] = []
    unit: Unit = Unit.CELSIUS
    kind: Literal["adult", "child"]
    scores: dict[str, int] = {}
    backup: Address | None = None


class Node(BaseModel):
    value: int
    children: list[Node] = []


ADDRESS = {
    "type": "OBJECT",
    "title": "Address",
    "properties": {
        "street": {"title": "Street", "type": "STRING"},
        "city": {"description": "City name", "title": "City", "type": "STRING"},
        "zip_code": {"type": "STRING", "default": None, "title": "Zip Code", "nullable": True},
    },
    "required": ["street", "city"],
}


def test_a_pydantic_schema_is_cleaned_to_the_subset_gemini_accepts():
    tool = {
        "type": "function",
        "function": {"name": "save", "parameters": Person.model_json_schema(), "strict": True},
    }
    parameters = _body({"messages": HELLO, "tools": [tool]})["tools"][0]["functionDeclarations"][0][
        "parameters"
    ]
    assert parameters == {
        "type": "OBJECT",
        "title": "Person",
        "description": "A person.",
        "properties": {
            "name": {"minLength": 1, "title": "Name", "type": "STRING"},
            "email": {"title": "Email", "type": "STRING"},  # format "email" is not Gemini's
            "age": {"minimum": 0, "title": "Age", "type": "INTEGER"},
            "address": ADDRESS,
            "previous": {"default": [], "items": ADDRESS, "title": "Previous", "type": "ARRAY"},
            "unit": {
                "enum": ["celsius", "fahrenheit"],
                "title": "Unit",
                "type": "STRING",
                "default": "celsius",
            },
            "kind": {"enum": ["adult", "child"], "title": "Kind", "type": "STRING"},
            "scores": {"default": {}, "title": "Scores", "type": "OBJECT"},
            "backup": {**ADDRESS, "default": None, "nullable": True},
        },
        "required": ["name", "email", "age", "address", "kind"],
    }


def test_schema_keywords_outside_the_subset_are_translated_or_dropped():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "mode": {"const": "fast"},
            "size": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "label": {"type": ["string", "null"], "examples": ["a"]},
            "level": {"type": "integer", "enum": [1, 2], "format": "int32"},
            "when": {"type": "string", "format": "date-time"},
            "both": {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}]},
        },
        "required": ["mode", "missing"],
    }
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    parameters = _body({"messages": HELLO, "tools": [tool]})["tools"][0]["functionDeclarations"][0][
        "parameters"
    ]
    assert parameters == {
        "type": "OBJECT",
        "properties": {
            "mode": {"enum": ["fast"], "type": "STRING"},
            "size": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
            "label": {"type": "STRING", "nullable": True},
            "level": {"type": "INTEGER", "format": "int32"},
            "when": {"type": "STRING", "format": "date-time"},
            "both": {"properties": {"a": {"type": "STRING"}}, "required": ["a"]},
        },
        "required": ["mode"],
    }


def test_a_recursive_schema_cannot_be_inlined():
    tool = {
        "type": "function",
        "function": {"name": "tree", "parameters": Node.model_json_schema()},
    }
    with pytest.raises(InvalidRequest, match="recursive") as caught:
        _body({"messages": HELLO, "tools": [tool]})
    assert caught.value.param == "tools[0].function.parameters"


def test_inline_images_audio_and_files():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
    ]
    body = _body({"messages": [{"role": "user", "content": content}]})
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


def test_an_http_image_url_is_a_400_naming_the_part():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    with pytest.raises(InvalidRequest, match="inline data") as caught:
        _body({"messages": [{"role": "user", "content": content}]})
    assert caught.value.param == "messages[0].content[1].image_url"
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "ftp://x"}},
            "messages[0].content[0].image_url",
        ),
        ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[0]"),
        ({"type": "video", "video": {}}, "messages[0].content[0]"),
    ],
)
def test_other_content_parts_are_400s(part, param):
    with pytest.raises(InvalidRequest) as caught:
        _body({"messages": [{"role": "user", "content": [part]}]})
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("logit_bias", {"50256": -100}),
        ("parallel_tool_calls", False),
        ("reasoning_effort", "low"),
        ("store", True),
        ("functions", [{"name": "f"}]),
    ],
)
def test_parameters_without_an_equivalent_are_400s_unless_dropped(name, value):
    payload = {"messages": HELLO, name: value}
    with pytest.raises(InvalidRequest, match=f"'{name}' is not supported by gemini") as caught:
        _body(payload)
    assert (caught.value.param, caught.value.code) == (name, "unsupported_parameter")
    assert caught.value.status == 400
    assert _body(payload, drop_params=True) == _body({"messages": HELLO})


def test_values_that_ask_for_nothing_pass():
    payload = {
        "messages": HELLO,
        "parallel_tool_calls": True,
        "service_tier": "auto",
        "store": False,
        "logit_bias": {},
        "reasoning_effort": None,
    }
    assert _body(payload) == {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]
    }


def test_only_system_messages_is_a_400():
    with pytest.raises(InvalidRequest) as caught:
        _body({"messages": [{"role": "system", "content": "x"}]})
    assert caught.value.param == "messages"


# --- reply ------------------------------------------------------------------------------------


def test_text_reply_skips_thoughts_and_maps_usage():
    data = _response(
        _candidate(
            {"text": "Let me think…", "thought": True}, {"text": "It is 18 C"}, {"text": "."}
        ),
        usageMetadata={
            "promptTokenCount": 42,
            "cachedContentTokenCount": 10,
            "candidatesTokenCount": 11,
            "thoughtsTokenCount": 44,
            "toolUsePromptTokenCount": 3,
            "totalTokenCount": 100,
        },
        modelVersion="models/gemini-2.5-flash",
    )
    reply = _adapter().parse_reply(Operation.CHAT, {"messages": HELLO}, orjson.dumps(data), {})
    assert reply.usage == Usage(
        prompt_tokens=45, completion_tokens=55, cached_tokens=10, reasoning_tokens=44
    )
    assert orjson.loads(reply.body) == {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "It is 18 C.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 45,
            "completion_tokens": 55,
            "total_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 44},
        },
    }


def test_function_calls_get_minted_ids_and_finish_as_tool_calls():
    data = _response(
        _candidate(
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time"}},
        )
    )
    choice = _reply(data)["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"name": "get_time", "arguments": "{}"},
    ]
    assert all(c["id"].startswith("call_") and len(c["id"]) == 29 for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    assert _reply(data)["choices"][0]["message"]["tool_calls"] == calls  # deterministic


def test_a_thought_signature_rides_in_the_tool_call_id_and_goes_back():
    part = {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
        "thoughtSignature": "CiQB0e2Kb+sig/==",
    }
    message = _reply(_response(_candidate(part)))["choices"][0]["message"]
    call_id = message["tool_calls"][0]["id"]
    assert call_id.endswith(".ts.CiQB0e2Kb+sig/==")
    messages = [
        *HELLO,
        message,
        {"role": "tool", "tool_call_id": call_id, "content": "18"},
    ]
    contents = _body({"messages": messages})["contents"]
    assert contents[1]["parts"] == [part]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_ids_from_elsewhere_carry_no_signature():
    call = {"id": "call_abc.ts.x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    contents = _body({"messages": [*HELLO, {"role": "assistant", "tool_calls": [call]}]})[
        "contents"
    ]
    assert contents[1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reasons(reason, finish):
    data = _response(_candidate({"text": "x"}, finish=reason))
    assert _reply(data)["choices"][0]["finish_reason"] == finish


def test_candidates_without_content_and_several_candidates():
    data = _response(
        {"finishReason": "SAFETY", "index": 1},
        {"finishReason": "MAX_TOKENS", "index": 0},
    )
    choices = _reply(data, {"messages": HELLO, "n": 2})["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, None, "length"),
        (1, None, "content_filter"),
    ]


def test_a_blocked_prompt_is_a_200_with_content_filter():
    data = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "blocked",
    }
    completion = _reply(data, {"messages": HELLO, "n": 2})
    assert [c["finish_reason"] for c in completion["choices"]] == ["content_filter"] * 2
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
    }
    assert completion["usage"]["prompt_tokens"] == 8


def test_logprobs_are_mapped():
    candidate = _candidate({"text": "Hi"})
    candidate["logprobsResult"] = {
        "topCandidates": [
            {
                "candidates": [
                    {"token": "Hi", "logProbability": -0.1},
                    {"token": "Yo", "logProbability": -2.5},
                ]
            }
        ],
        "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
    }
    logprobs = _reply(_response(candidate))["choices"][0]["logprobs"]
    assert logprobs == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Yo", "logprob": -2.5, "bytes": [89, 111]},
                ],
            }
        ],
        "refusal": None,
    }


def test_a_missing_response_id_gets_a_stable_one():
    data = _response(_candidate({"text": "x"}))
    del data["responseId"]
    first, second = _reply(data), _reply(data)
    assert first["id"].startswith("chatcmpl-")
    assert first["id"] == second["id"]
    assert "usage" not in first


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"modelVersion": "x"}', "neither candidates nor a promptFeedback.blockReason"),
        (b'{"candidates": {"0": {}}}', "not an array"),
        (b'{"candidates": [3]}', "candidate that is not an object"),
        (b'{"candidates": [{"content": {"parts": "x"}}]}', "not an array"),
        (b'{"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}', "functionCall"),
    ],
)
def test_unexpected_shapes_are_bad_responses(body, what):
    with pytest.raises(UpstreamBadResponse, match=what) as caught:
        _adapter().parse_reply(Operation.CHAT, {"messages": HELLO}, body, {})
    assert "gemini" in caught.value.message
    assert caught.value.fault is Fault.DEPLOYMENT


# --- stream -----------------------------------------------------------------------------------


def test_the_reference_stream_example_with_usage():
    translator = _translator(stream=True, stream_options={"include_usage": True})
    head = {
        "id": "chatcmpl-q7xKaPq3Lo6vnvgPk8ibsQ0",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gemini-2.5-flash",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    assert _feed(translator, STREAM_EXAMPLE[0]) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "It is 18 C"}),
    ]
    done_after_first = translator.done
    assert _feed(translator, STREAM_EXAMPLE[1]) == [
        chunk({"content": " and sunny in Paris."}),
        chunk({}, "stop"),
        {
            **head,
            "choices": [],
            "usage": {
                "prompt_tokens": 42,
                "completion_tokens": 55,
                "total_tokens": 97,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 44},
            },
        },
    ]
    assert (done_after_first, translator.done) == (False, True)
    assert translator.usage == Usage(prompt_tokens=42, completion_tokens=55, reasoning_tokens=44)


def test_without_include_usage_there_is_no_usage_chunk_but_usage_is_known():
    translator = _translator(stream=True)
    chunks = _feed(translator, *STREAM_EXAMPLE)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert translator.done
    assert translator.usage is not None
    assert translator.usage.completion_tokens == 55


def test_a_streamed_function_call_is_one_delta_with_id_name_and_arguments():
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    event = orjson.dumps(_response(_candidate(call)))
    chunks = _feed(_translator(stream=True), event)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    (tool_call,) = deltas[1]["tool_calls"]
    assert tool_call["index"] == 0
    assert tool_call["type"] == "function"
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    reply = _reply(_response(_candidate(call)))  # same ids streamed or not
    assert tool_call["id"] == reply["choices"][0]["message"]["tool_calls"][0]["id"]


def test_a_stream_is_done_when_every_candidate_finished():
    first = _response(
        _candidate({"text": "a"}, index=0), {"content": {"parts": [{"text": "b"}]}, "index": 1}
    )
    second = _response(_candidate({"text": "!"}, index=1))
    del first["candidates"][0]["finishReason"]
    third = _response(_candidate({"text": "?"}, index=0))
    translator = _translator(stream=True, n=2)
    _feed(translator, orjson.dumps(first), orjson.dumps(second))
    done_before = translator.done
    chunks = _feed(translator, orjson.dumps(third))
    assert (done_before, translator.done) == (False, True)
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_a_blocked_prompt_in_a_stream_ends_it_with_content_filter():
    event = orjson.dumps({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    translator = _translator(stream=True)
    chunks = _feed(translator, event)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "content_filter"]
    assert translator.done


def test_usage_only_events_are_absorbed():
    translator = _translator(stream=True, stream_options={"include_usage": True})
    assert _feed(translator, b'{"usageMetadata": {"promptTokenCount": 3}}') == []
    assert translator.usage == Usage(prompt_tokens=3)


def test_an_error_event_in_a_stream_is_classified():
    event = orjson.dumps(RESOURCE_EXHAUSTED)
    with pytest.raises(UpstreamRateLimited) as caught:
        _translator(stream=True).feed(ServerSentEvent(event))
    assert caught.value.retry_after_s == 36.0


@pytest.mark.parametrize("event", [b"<html>", b"[DONE]", b'"text"'])
def test_garbage_events_are_bad_responses(event):
    with pytest.raises(UpstreamBadResponse, match="gemini"):
        _translator(stream=True).feed(ServerSentEvent(event))


# --- errors -----------------------------------------------------------------------------------


def _classify(status: int, body: object, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return _adapter().classify_error(status, headers or {}, raw)


def _gemini_error(code: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{status} happened", "status": status, **extra}}


@pytest.mark.parametrize(("delay", "seconds"), [("36s", 36.0), ("1.5s", 1.5), ("0s", 0.0)])
def test_resource_exhausted_is_rate_limited_with_the_retry_delay(delay, seconds):
    body = orjson.loads(orjson.dumps(RESOURCE_EXHAUSTED))
    body["error"]["details"][2]["retryDelay"] = delay
    error = _classify(429, body)
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after_s == seconds
    assert error.fault is Fault.TRANSIENT
    assert error.upstream_status == 429


def test_resource_exhausted_without_retry_info_falls_back_to_headers():
    error = _classify(429, _gemini_error(429, "RESOURCE_EXHAUSTED"), {"retry-after": "7"})
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after_s == 7.0
    assert _classify(429, b"").retry_after_s is None


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, API_KEY_INVALID, UpstreamAuthFailed),
        (400, [API_KEY_INVALID], UpstreamAuthFailed),  # the SDK also accepts a list wrapper
        (403, _gemini_error(403, "PERMISSION_DENIED"), UpstreamAuthFailed),
        (401, _gemini_error(401, "UNAUTHENTICATED"), UpstreamAuthFailed),
        (404, _gemini_error(404, "NOT_FOUND"), UpstreamMisconfigured),
        (400, _gemini_error(400, "FAILED_PRECONDITION"), UpstreamMisconfigured),
        (500, _gemini_error(500, "INTERNAL"), UpstreamUnavailable),
        (503, _gemini_error(503, "UNAVAILABLE"), UpstreamUnavailable),
        (504, _gemini_error(504, "DEADLINE_EXCEEDED"), UpstreamUnavailable),
        (502, b"<html>bad gateway</html>", UpstreamUnavailable),
    ],
)
def test_error_classes(status, body, kind):
    error = _classify(status, body)
    assert type(error) is kind
    assert error.upstream_status == status
    assert "gemini" in error.message


def test_other_4xx_are_rejected_with_an_openai_shaped_body():
    error = _classify(400, _gemini_error(400, "INVALID_ARGUMENT", details=[{"@type": "x"}]))
    assert isinstance(error, UpstreamRejected)
    assert error.fault is Fault.REQUEST
    assert error.status == 400
    assert error.body() == {
        "error": {
            "message": "INVALID_ARGUMENT happened",
            "type": "invalid_request_error",
            "param": None,
            "code": "INVALID_ARGUMENT",
        }
    }
    bare = _classify(413, b"")
    assert isinstance(bare, UpstreamRejected)
    assert bare.status == 413
    assert bare.body()["error"]["code"] is None

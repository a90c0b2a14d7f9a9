"""Responses API ⇄ OpenAI chat: requests, response objects, stream events."""

from __future__ import annotations

from typing import Any

import pytest

from quotaflow.errors import InvalidRequest, UpstreamUnavailable
from quotaflow.inbound.responses import ResponseStream, to_chat, to_response
from tests.unit.inbound.sse import TEXT_CHUNKS, TOOL_CHUNKS, chunk, parse_events, usage

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4-preview", "input": "Hi", **fields}


# --- request ----------------------------------------------------------------------------------


def test_plain_request():
    payload = to_chat(
        request(
            instructions="Be brief.",
            max_output_tokens=50,
            temperature=0.2,
            top_p=0.5,
            user="u-1",
            store=True,
            metadata={"k": "v"},
            reasoning={"effort": "low"},
        )
    )
    assert payload == {
        "model": "gpt-4-preview",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.5,
        "user": "u-1",
    }


def test_stream_asks_for_usage():
    payload = to_chat(request(stream=True))
    assert payload["stream"] is True
    assert payload["stream_options"] == {"include_usage": True}


def test_input_items():
    items = [
        {"role": "developer", "content": "Rules."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": "https://x/p.png", "detail": "low"},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": "20 C"}],
        },
    ]
    call = {"type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    assert to_chat(request(input=items))["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "https://x/p.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [{"id": "call_1", **call}, {"id": "call_2", **call}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "20 C"},
    ]


def test_a_lone_function_call_is_an_assistant_message():
    items = [
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    ]
    assert to_chat(request(input=items))["messages"][1]["content"] is None


def test_tools_and_choices():
    payload = to_chat(
        request(
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
        )
    )
    assert payload["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert payload["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert payload["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True},
            {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
            },
        ),
    ],
)
def test_text_format(fmt, expected):
    assert to_chat(request(text={"format": fmt})).get("response_format") == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (request(previous_response_id="resp_1"), "previous_response_id"),
        (request(background=True), "background"),
        (request(input=None), "input"),
        (request(input=[]), "input"),
        (request(model=""), "model"),
        (request(tools=[{"type": "web_search"}]), "tools[0].type"),
        (request(tools=[WEATHER], tool_choice={"type": "file_search"}), "tool_choice"),
        (request(input=[{"type": "item_reference", "id": "x"}]), "input[0].type"),
        (request(input=[{"role": "tool", "content": "x"}]), "input[0].role"),
        (
            request(input=[{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]),
            "input[0].content[0].type",
        ),
        (request(max_output_tokens=0), "max_output_tokens"),
        (request(temperature=3), "temperature"),
        (request(text={"format": {"type": "yaml"}}), "text.format.type"),
        (request(prompt={"id": "pmpt_1"}), "prompt"),
    ],
)
def test_refused_requests_name_the_parameter(body, param):
    with pytest.raises(InvalidRequest) as caught:
        to_chat(body)
    assert caught.value.param == param


def test_previous_response_id_message_explains():
    with pytest.raises(InvalidRequest, match="stores no responses"):
        to_chat(request(previous_response_id="resp_1"))


# --- response ---------------------------------------------------------------------------------


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage(20, 9, cached=3),
    }


def respond(reply: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return to_response(reply, request(**fields), response_id="resp_abc", created_at=1760000000)


def test_text_response():
    response = respond(completion({"role": "assistant", "content": "Hello!"}, "stop"), user="u")
    assert response["id"] == "resp_abc"
    assert response["object"] == "response"
    assert response["created_at"] == 1760000000
    assert response["status"] == "completed"
    assert response["incomplete_details"] is None
    assert response["model"] == "gpt-4-preview"
    assert response["user"] == "u"
    assert response["store"] is False
    assert response["output"] == [
        {
            "id": "msg_abc_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}
            ],
        }
    ]
    assert response["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 3},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 29,
    }


def test_function_call_response():
    call = {
        "id": "call_X1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    response = respond(completion(message, "tool_calls"), tools=[WEATHER])
    assert response["output"] == [
        {
            "id": "fc_abc_0",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_X1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        }
    ]
    assert response["tools"] == [WEATHER]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete_response(finish, reason):
    response = respond(completion({"role": "assistant", "content": "Hel"}, finish))
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["status"] == "incomplete"


def test_refusal_is_a_refusal_part():
    message = {"role": "assistant", "content": None, "refusal": "I can't."}
    content = respond(completion(message, "stop"))["output"][0]["content"]
    assert content == [{"type": "refusal", "refusal": "I can't."}]


# --- stream -----------------------------------------------------------------------------------


def run_stream(chunks: list[bytes], **fields: Any) -> list[tuple[str, dict[str, Any]]]:
    stream = ResponseStream(request(**fields), response_id="resp_abc", created_at=1760000000)
    return parse_events(b"".join(stream.chunk(c) for c in chunks) + stream.end())


def test_text_stream_events_in_order():
    events = run_stream(TEXT_CHUNKS)
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert all(data["type"] == name for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert events[0][1]["response"]["status"] == "in_progress"
    assert events[4][1]["delta"] == "Hello"
    assert events[4][1]["item_id"] == "msg_abc_0"
    assert events[6][1]["text"] == "Hello world"
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed"
    assert completed["output"][0]["content"][0]["text"] == "Hello world"
    assert completed["output"][0]["status"] == "completed"
    assert completed["usage"]["input_tokens"] == 12
    assert completed["usage"]["output_tokens"] == 2


def test_function_call_stream():
    events = run_stream(TOOL_CHUNKS, tools=[WEATHER])
    names = [name for name, _ in events]
    assert names[names.index("response.output_item.done") + 1 :] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = next(data for name, data in events if name == "response.function_call_arguments.done")
    assert done["arguments"] == '{"city": "Paris"}'
    assert done["output_index"] == 1
    output = events[-1][1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call"]
    assert output[1]["call_id"] == "call_1"
    assert output[1]["arguments"] == '{"city": "Paris"}'


def test_truncated_stream_is_incomplete():
    events = run_stream([chunk({"content": "Hel"}), chunk({}, "length")])
    name, data = events[-1]
    assert name == "response.incomplete"
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data["response"]["output"][0]["status"] == "incomplete"


def test_error_event_continues_the_sequence():
    stream = ResponseStream(request(), response_id="resp_abc", created_at=0)
    stream.chunk(TEXT_CHUNKS[2])
    [(name, data)] = parse_events(stream.error(UpstreamUnavailable("gone", code="x")))
    assert name == "error"
    assert data == {
        "type": "error",
        "code": "x",
        "message": "gone",
        "param": None,
        "sequence_number": 5,
    }

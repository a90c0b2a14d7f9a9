"""The Gemini flavor, in-process: routes, key auth, camel/snake requests, SSE, tools, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import pytest

from quotaflow.fake import FakeFault, FakeProviderConfig, FaultKind
from quotaflow.fake.__main__ import config_from_args

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from quotaflow.fake import FakeProvider

    Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]

KEY = "AIza-fake"
BASE = "/v1beta/models/gemini-2.5-flash"
GENERATE = f"{BASE}:generateContent"
STREAM = f"{BASE}:streamGenerateContent?alt=sse"
AUTH = {"x-goog-api-key": KEY}
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING"},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 3},
            "where": {
                "type": "OBJECT",
                "properties": {"lat": {"type": "NUMBER"}, "lon": {"type": "NUMBER"}},
                "nullable": True,
            },
        },
        "required": ["city"],
    },
}


def _gemini(connect: Connect, **config: Any) -> tuple[FakeProvider, httpx.AsyncClient]:
    return connect(flavor="gemini", api_key=KEY, **config)


def _events(text: str) -> list[dict[str, Any]]:
    """SSE data payloads; Gemini ends each event with a blank CRLF line."""
    assert text.endswith("\r\n\r\n")
    frames = text.removesuffix("\r\n\r\n").split("\r\n\r\n")
    assert all(frame.startswith("data: ") for frame in frames)
    return [orjson.loads(frame.removeprefix("data: ")) for frame in frames]


async def test_generate_content_is_camel_case_with_usage(connect: Connect) -> None:
    _, client = _gemini(connect)
    response = await client.post(GENERATE, json=HELLO, headers=AUTH)
    assert response.status_code == 200
    assert not [h for h in response.headers if "ratelimit" in h or h == "retry-after"]
    assert response.json() == {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "This is a fake answer to: Hello there"}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 6,
            "candidatesTokenCount": 8,
            "totalTokenCount": 14,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "fakeResponse000000000001",
    }


async def test_snake_case_requests_and_the_key_in_the_query(connect: Connect) -> None:
    _, client = _gemini(connect)
    body = {
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "contents": HELLO["contents"],
        "generation_config": {"max_output_tokens": 3, "candidate_count": 2},
    }
    response = await client.post(f"{GENERATE}?key={KEY}", json=body)
    assert response.status_code == 200
    data = response.json()
    assert [c["finishReason"] for c in data["candidates"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert data["candidates"][1]["content"]["parts"] == [{"text": "This is a"}]
    assert data["usageMetadata"]["candidatesTokenCount"] == 6


async def test_a_wrong_key_is_400_api_key_invalid_and_none_is_403(connect: Connect) -> None:
    _, client = _gemini(connect)
    wrong = await client.post(GENERATE, json=HELLO, headers={"x-goog-api-key": "nope"})
    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    missing = await client.post(GENERATE, json=HELLO)
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_sse_stream_has_cumulative_usage_and_no_done(connect: Connect) -> None:
    _, client = _gemini(connect, stream_chunks=3)
    response = await client.post(STREAM, json=HELLO, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in response.text
    events = _events(response.text)
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    assert "".join(texts) == "This is a fake answer to: Hello there"
    assert len(events) == 3
    assert [e["candidates"][0].get("finishReason") for e in events] == [None, None, "STOP"]
    counts = [e["usageMetadata"]["candidatesTokenCount"] for e in events]
    assert counts == sorted(counts)
    assert counts[-1] == 8
    assert {e["responseId"] for e in events} == {"fakeResponse000000000001"}


async def test_stream_without_alt_sse_is_one_json_array(connect: Connect) -> None:
    _, client = _gemini(connect, stream_chunks=2)
    response = await client.post(f"{BASE}:streamGenerateContent", json=HELLO, headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    events = response.json()
    assert isinstance(events, list)
    assert len(events) == 2


async def test_function_calls_have_no_id_and_args_valid_for_the_schema(connect: Connect) -> None:
    _, client = _gemini(connect)
    body = {**HELLO, "tools": [{"functionDeclarations": [WEATHER]}]}
    data = (await client.post(GENERATE, json=body, headers=AUTH)).json()
    (candidate,) = data["candidates"]
    (part,) = candidate["content"]["parts"]
    assert candidate["finishReason"] == "STOP"
    assert set(part) == {"functionCall", "thoughtSignature"}
    call = part["functionCall"]
    assert "id" not in call
    assert call["name"] == "get_weather"
    args = call["args"]
    assert isinstance(args["city"], str)
    assert args["unit"] in ("celsius", "fahrenheit")
    assert 1 <= args["days"] <= 3
    assert set(args["where"]) == {"lat", "lon"}


async def test_tool_config_and_function_responses(connect: Connect) -> None:
    _, client = _gemini(connect)
    other = {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {}}}
    tools = [{"functionDeclarations": [WEATHER, other]}]
    forced = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    body = {**HELLO, "tools": tools, "toolConfig": forced}
    data = (await client.post(GENERATE, json=body, headers=AUTH)).json()
    assert data["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "get_time"
    body = {**HELLO, "tools": tools, "tool_config": {"function_calling_config": {"mode": "NONE"}}}
    data = (await client.post(GENERATE, json=body, headers=AUTH)).json()
    assert "text" in data["candidates"][0]["content"]["parts"][0]
    answered = [
        *HELLO["contents"],
        {"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": {}}}]},
    ]
    data = (
        await client.post(GENERATE, json={"contents": answered, "tools": tools}, headers=AUTH)
    ).json()
    assert data["candidates"][0]["content"]["parts"] == [
        {"text": "This is a fake answer to: Hello there"}
    ]


async def test_a_streamed_function_call_arrives_whole(connect: Connect) -> None:
    _, client = _gemini(connect, stream_chunks=5)
    body = {**HELLO, "tools": [{"functionDeclarations": [WEATHER]}]}
    (event,) = _events((await client.post(STREAM, json=body, headers=AUTH)).text)
    assert event["candidates"][0]["finishReason"] == "STOP"
    assert "functionCall" in event["candidates"][0]["content"]["parts"][0]


async def test_json_mode_answers_the_response_schema(connect: Connect) -> None:
    _, client = _gemini(connect)
    schema = {"type": "object", "properties": {"temp_c": {"type": "number"}}}
    config = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    data = (
        await client.post(GENERATE, json={**HELLO, "generationConfig": config}, headers=AUTH)
    ).json()
    text = data["candidates"][0]["content"]["parts"][0]["text"]
    assert orjson.loads(text) == {"temp_c": 1.5}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "contents is not specified"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"parts": [{"text": "x", "inlineData": {}}]}]}, "oneof field"),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "OBJECT",
                                    "properties": {"a": {"type": "STRING", "const": "x"}},
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "const" at \'tools[0].function_declarations[0].parameters'
            ".properties[a].value'",
        ),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "function_declarations": [
                            {"name": "f", "parameters": {"additionalProperties": False}}
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
    ],
)
async def test_requests_gemini_refuses_are_400_invalid_argument(
    connect: Connect, body: dict[str, Any], needle: str
) -> None:
    _, client = _gemini(connect)
    response = await client.post(GENERATE, json=body, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]


async def test_a_blocked_prompt_has_no_candidates(connect: Connect) -> None:
    _, client = _gemini(connect)
    body = {"contents": [{"parts": [{"text": "please __content_filter__"}]}]}
    data = (await client.post(GENERATE, json=body, headers=AUTH)).json()
    assert "candidates" not in data
    assert data["promptFeedback"]["blockReason"] == "SAFETY"
    (event,) = _events((await client.post(STREAM, json=body, headers=AUTH)).text)
    assert event["promptFeedback"]["blockReason"] == "SAFETY"


async def test_429_is_resource_exhausted_with_retry_info_and_no_headers(connect: Connect) -> None:
    app, client = _gemini(connect)
    app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=35.2))
    response = await client.post(GENERATE, json=HELLO, headers=AUTH)
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert not [h for h in response.headers if "ratelimit" in h]
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    kinds = [d["@type"].rsplit(".", 1)[1] for d in error["details"]]
    assert kinds == ["QuotaFailure", "Help", "RetryInfo"]
    assert error["details"][2]["retryDelay"] == "36s"


async def test_quota_refusals_name_the_quota(connect: Connect) -> None:
    _, client = _gemini(connect, rpm=6)
    assert (await client.post(GENERATE, json=HELLO, headers=AUTH)).status_code == 200
    response = await client.post(GENERATE, json=HELLO, headers=AUTH)
    assert response.status_code == 429
    error = response.json()["error"]
    violation = error["details"][0]["violations"][0]
    assert violation["quotaValue"] == "6"
    assert violation["quotaDimensions"]["model"] == "gemini-2.5-flash"
    assert error["details"][-1]["retryDelay"] == "10s"


@pytest.mark.parametrize(
    ("status", "grpc"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")]
)
async def test_model_name_scripts(connect: Connect, status: int, grpc: str) -> None:
    _, client = _gemini(connect)
    path = f"/v1beta/models/fake-error-{status}:generateContent"
    response = await client.post(path, json=HELLO, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["status"] == grpc


async def test_an_error_mid_stream_is_an_error_event(connect: Connect) -> None:
    app, client = _gemini(connect, stream_chunks=4)
    app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, status=503, after_chunks=1))
    text = (await client.post(STREAM, json=HELLO, headers=AUTH)).text
    last = orjson.loads(text.rstrip().rsplit("data: ", 1)[1])
    assert last["error"]["status"] == "UNAVAILABLE"


async def test_models_and_unknown_routes(connect: Connect) -> None:
    _, client = _gemini(connect, models=("gemini-2.5-flash",), strict_models=True)
    listed = (await client.get("/v1beta/models", headers=AUTH)).json()
    assert [m["name"] for m in listed["models"]] == ["models/gemini-2.5-flash"]
    one = await client.get("/v1beta/models/gemini-2.5-flash", headers=AUTH)
    assert one.json()["supportedGenerationMethods"][0] == "generateContent"
    unknown = await client.post("/v1beta/models/gemini-0:generateContent", json=HELLO, headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    nowhere = await client.post("/v1/chat/completions", json=HELLO, headers=AUTH)
    assert nowhere.status_code == 404


def test_the_flavor_is_registered() -> None:
    assert FakeProviderConfig(flavor="gemini").flavor == "gemini"
    config, _, _ = config_from_args(["--flavor", "gemini"])
    assert config.flavor == "gemini"

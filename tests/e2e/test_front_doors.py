"""Other SDKs through the gateway: ``anthropic`` on /v1/messages, ``openai`` on /v1/responses.

Behind the gateway are two fake Azure regions speaking chat completions only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from quotaflow.fake import FakeFault, FaultKind
from tests.support import MASTER_KEY, Stack, two_region_settings

if TYPE_CHECKING:
    from anthropic.types import MessageParam, ToolParam
    from openai.types.responses import FunctionToolParam

    from tests.support import Gateway, Region

pytestmark = pytest.mark.e2e

MODEL = "gpt-4-preview"
QUESTION: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
CITY_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": CITY_SCHEMA,
}
WEATHER_FUNCTION: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": CITY_SCHEMA,
    "strict": False,
}


async def _two_regions(stack: Stack) -> tuple[Region, Region, Gateway]:
    sweden = await stack.region("sweden")
    france = await stack.region("france")
    return sweden, france, await stack.gateway(two_region_settings([sweden, france]))


def _chat_calls(*regions: Region) -> int:
    return sum(region.app.stats.requests["chat"] for region in regions)


async def _anthropic(stack: Stack) -> tuple[anthropic.AsyncAnthropic, Region, Region]:
    sweden, france, gateway = await _two_regions(stack)
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    await stack.enter(client)
    return client, sweden, france


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"content-type": "application/json", **headers}) as r,
    ):
        return r.status, orjson.loads(await r.read())


# --- Anthropic Messages -----------------------------------------------------------------------


async def test_messages_create(stack: Stack):
    client, sweden, france = await _anthropic(stack)
    message = await client.messages.create(
        model=MODEL, max_tokens=100, system="Be brief.", messages=QUESTION
    )
    assert message.id.startswith("msg_")
    assert message.model == MODEL
    assert message.role == "assistant"
    [block] = message.content
    assert block.type == "text"
    assert "fake answer to: What is the weather in Paris?" in block.text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens == len(block.text.split())
    assert _chat_calls(sweden, france) == 1


async def test_messages_tool_use_and_result(stack: Stack):
    client, _, _ = await _anthropic(stack)
    first = await client.messages.create(
        model=MODEL, max_tokens=100, messages=QUESTION, tools=[WEATHER]
    )
    assert first.stop_reason == "tool_use"
    [tool_use] = [block for block in first.content if block.type == "tool_use"]
    assert tool_use.name == "get_weather"
    assert isinstance(tool_use.input, dict)
    assert isinstance(tool_use.input["city"], str)

    second = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            *QUESTION,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "18 C, sunny"}
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"


async def test_messages_stream(stack: Stack):
    client, _, _ = await _anthropic(stack)
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=QUESTION) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1
    [block] = final.content
    assert block.type == "text"
    assert block.text == "".join(pieces)
    assert "fake answer" in block.text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(block.text.split())
    assert final.usage.input_tokens > 0


async def test_messages_stream_with_a_tool(stack: Stack):
    client, _, _ = await _anthropic(stack)
    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=QUESTION, tools=[WEATHER]
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [tool_use] = final.content
    assert tool_use.type == "tool_use"
    assert tool_use.name == "get_weather"
    assert isinstance(tool_use.input, dict)
    assert "city" in tool_use.input


async def _stream_text(client: anthropic.AsyncAnthropic, pieces: list[str]) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=QUESTION) as stream:
        async for text in stream.text_stream:
            pieces.append(text)


async def test_messages_stream_failing_midway_ends_with_an_error_event(stack: Stack):
    client, sweden, france = await _anthropic(stack)
    for region in (sweden, france):
        region.app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=4))
    pieces: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await _stream_text(client, pieces)
    assert pieces
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"


async def test_count_tokens_calls_no_upstream(stack: Stack):
    client, sweden, france = await _anthropic(stack)
    counted = await client.messages.count_tokens(
        model=MODEL,
        system="12345678",
        messages=[{"role": "user", "content": "1234"}],
    )
    assert counted.input_tokens == 3
    with_tools = await client.messages.count_tokens(model=MODEL, messages=QUESTION, tools=[WEATHER])
    assert with_tools.input_tokens > 30
    assert _chat_calls(sweden, france) == 0


async def test_messages_unknown_model_is_an_anthropic_not_found(stack: Stack):
    client, _, _ = await _anthropic(stack)
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.create(model="claude-nope", max_tokens=10, messages=QUESTION)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert "claude-nope" in body["error"]["message"]


async def test_messages_wrong_key_is_an_anthropic_authentication_error(stack: Stack):
    _, _, gateway = await _two_regions(stack)
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0)
    await stack.enter(client)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=QUESTION)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
    }


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (orjson.dumps({"model": MODEL, "messages": QUESTION}), "max_tokens: Field required"),
        (b"{not json", "not valid JSON"),
        (orjson.dumps({"model": MODEL, "max_tokens": 5, "messages": QUESTION, "n": 2}), "n: "),
    ],
)
async def test_messages_bad_request_is_anthropic_shaped(stack: Stack, body: bytes, needle: str):
    sweden, france, gateway = await _two_regions(stack)
    status, error = await _post(gateway.url + "/v1/messages", body, {"x-api-key": MASTER_KEY})
    assert status == 400
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]
    assert _chat_calls(sweden, france) == 0


async def test_messages_accepts_a_bearer_token(stack: Stack):
    _, _, gateway = await _two_regions(stack)
    body = orjson.dumps({"model": MODEL, "max_tokens": 20, "messages": QUESTION})
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    status, message = await _post(gateway.url + "/messages", body, auth)
    assert status == 200
    assert message["type"] == "message"


# --- OpenAI Responses -------------------------------------------------------------------------


async def _openai(stack: Stack) -> openai.AsyncOpenAI:
    _, _, gateway = await _two_regions(stack)
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    await stack.enter(client)
    return client


async def test_responses_create(stack: Stack):
    client = await _openai(stack)
    response = await client.responses.create(
        model=MODEL, input="Say hello.", instructions="Be brief.", max_output_tokens=100
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert "fake answer to: Say hello." in response.output_text
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + (
        response.usage.output_tokens
    )


async def test_responses_function_call_and_output(stack: Stack):
    client = await _openai(stack)
    first = await client.responses.create(
        model=MODEL, input="Weather in Paris?", tools=[WEATHER_FUNCTION]
    )
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert "city" in orjson.loads(call.arguments)

    second = await client.responses.create(
        model=MODEL,
        tools=[WEATHER_FUNCTION],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
        ],
    )
    assert second.output[0].type == "message"
    assert second.output_text


async def test_responses_stream(stack: Stack):
    client = await _openai(stack)
    stream = await client.responses.create(model=MODEL, input="Say hello.", stream=True)
    deltas: list[str] = []
    sequence: list[int] = []
    completed = None
    async for event in stream:
        sequence.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.completed":
            completed = event.response
    assert sequence == list(range(len(sequence)))
    assert len(deltas) > 1
    assert completed is not None
    assert completed.output_text == "".join(deltas)
    assert completed.usage is not None
    assert completed.usage.output_tokens > 0


async def test_responses_stream_failing_midway_ends_with_an_error_event(stack: Stack):
    sweden, france, gateway = await _two_regions(stack)
    for region in (sweden, france):
        region.app.add_faults(FakeFault(FaultKind.ERROR_MID_STREAM, after_chunks=4))
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key=MASTER_KEY, max_retries=0)
    await stack.enter(client)
    stream = await client.responses.create(model=MODEL, input="Say hello.", stream=True)
    types = [event.type async for event in stream]
    assert "response.output_text.delta" in types
    assert types[-1] == "error"
    assert "response.completed" not in types


async def test_responses_refuse_previous_response_id(stack: Stack):
    client = await _openai(stack)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=MODEL, input="Hi", previous_response_id="resp_1")
    assert "previous_response_id" in caught.value.message


async def test_responses_unknown_model(stack: Stack):
    client = await _openai(stack)
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="gpt-nope", input="Hi")


async def test_front_door_answers_carry_the_routing_and_cost_headers(stack: Stack):
    region = await stack.region("sweden")
    settings = two_region_settings([region])
    settings["model_list"][0]["model_info"]["base_model"] = "azure/gpt-4o"
    gateway = await stack.gateway(settings)
    body = {
        "model": "gpt-4-preview",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }

    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.v1 + "/messages", json=body, headers={"x-api-key": MASTER_KEY}) as r,
    ):
        reply = orjson.loads(await r.read())
        headers = r.headers

    usage = reply["usage"]
    expected = usage["input_tokens"] * 2.5e-06 + usage["output_tokens"] * 1e-05
    assert headers["x-quotaflow-deployment"] == "sweden"
    assert float(headers["x-quotaflow-response-cost"]) == pytest.approx(expected)

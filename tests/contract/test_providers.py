"""The provider contract: the same cases, through the official ``openai`` SDK, over every adapter.

Each test gets two new fake upstreams of the provider (``a`` with ``order: 1``, so it serves every
call while healthy, and ``b``) and a new gateway with one model group ``m`` over them, behind
addresses served for the whole module. What differs between providers lives in
``tests.contract.providers.CASES``; the tests never branch on a provider's name (known bugs are
strict xfails, named with their reason).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import openai
import orjson
import pytest
import pytest_asyncio
from pydantic import BaseModel, ConfigDict, Field

from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.fake import FakeFault, FakeProvider, FakeProviderConfig, FaultKind, create_fake_app
from quotaflow.serving import serve_app
from tests.contract.providers import (
    CASES,
    IMAGE_LINK,
    ProviderCase,
    Unsupported,
    image_message,
    refusals,
)
from tests.support import MASTER_KEY, Gateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

    from openai.types import CompletionUsage
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessageParam,
        ChatCompletionToolParam,
    )

    from quotaflow.fake.wire import ASGIApp, Receive, Scope, Send

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

MODEL = "m"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "What is the weather in Paris?"},
]
# A one-pixel transparent PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
    "mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class WeatherQuery(BaseModel):
    """The weather tool's arguments; its JSON schema is the tool's ``parameters``."""

    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1)
    days: int = Field(ge=1, le=7)
    unit: Literal["celsius", "fahrenheit"]


class Forecast(BaseModel):
    """The structured answer asked for with ``response_format``."""

    model_config = ConfigDict(extra="forbid")

    city: str
    high_c: float
    conditions: list[str] = Field(min_length=1)


WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "parameters": WeatherQuery.model_json_schema(),
    },
}
FORCE_WEATHER: dict[str, Any] = {"type": "function", "function": {"name": "get_weather"}}
FORECAST_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "forecast", "schema": Forecast.model_json_schema(), "strict": True},
}
# The same request as plain and as streamed call, for usage and cost parity.
PARITY_REQUESTS: dict[str, dict[str, Any]] = {
    "text": {},
    "tools": {"tools": [WEATHER_TOOL], "tool_choice": FORCE_WEATHER},
    "json": {"response_format": FORECAST_FORMAT},
}


# --- the rig ------------------------------------------------------------------------------------


class Slot:
    """An address served for the whole module; each test puts its own fresh app behind it.

    Stopping a uvicorn server takes a few hundred milliseconds, so the servers outlive the tests
    while every fake upstream and gateway is new: no state is shared between tests.
    """

    def __init__(self) -> None:
        self.url = ""
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app behind this address"
        await self.app(scope, receive, send)


@dataclass
class Upstream:
    """One fake upstream of the case's provider."""

    name: str
    app: FakeProvider
    url: str


@dataclass
class Rig:
    """Two fake upstreams, the gateway in front of them, and an SDK client of the gateway."""

    case: ProviderCase
    primary: Upstream
    secondary: Upstream
    gateway: Gateway
    client: openai.AsyncOpenAI

    @property
    def upstreams(self) -> tuple[Upstream, Upstream]:
        return self.primary, self.secondary

    def fail(self, *upstreams: Upstream, kind: FaultKind, **fault: Any) -> None:
        """Make each of ``upstreams`` misbehave on every call."""
        for upstream in upstreams:
            upstream.app.add_faults(FakeFault(kind, times=100, **fault))

    def upstream_calls(self) -> int:
        return sum(len(upstream.app.stats.recent) for upstream in self.upstreams)


def over(cases: Iterable[ProviderCase], **xfail: str) -> list[Any]:
    """``cases`` as pytest params named after the provider; ``xfail`` maps a name to a reason."""
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(strict=True, reason=xfail[case.name])]
            if case.name in xfail
            else [],
        )
        for case in cases
    ]


def settings(case: ProviderCase, upstreams: Iterable[Upstream], *, key: str | None) -> Any:
    """One model group ``m`` with a deployment per upstream, ``a`` preferred."""
    deployments = []
    for order, upstream in enumerate(upstreams, start=1):
        params = {
            "model": case.model,
            "api_base": upstream.url + case.api_path,
            "api_key": key or f"key-{upstream.name}",
            "order": order,
            **case.extra_params,
        }
        info = {"id": upstream.name}
        if case.base_model is not None:
            info["base_model"] = case.base_model
        deployments.append({"model_name": MODEL, "litellm_params": params, "model_info": info})
    return {
        "model_list": deployments,
        # One retry: exactly one attempt per deployment.
        "router_settings": {"num_retries": 1},
        "general_settings": {"master_key": MASTER_KEY},
    }


@dataclass
class Servers:
    """Upstream ``a``, upstream ``b`` and the gateway, served for the whole module, and one SDK
    client of the gateway (building a client costs tens of milliseconds: its TLS context)."""

    a: Slot
    b: Slot
    gateway: Slot
    client: openai.AsyncOpenAI


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers() -> AsyncIterator[Servers]:
    async with contextlib.AsyncExitStack() as exits:
        a, b, gateway = Slot(), Slot(), Slot()
        for slot in (a, b, gateway):
            slot.url = await exits.enter_async_context(serve_app(slot))
        client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
        await exits.enter_async_context(client)
        yield Servers(a, b, gateway, client)


@pytest_asyncio.fixture(loop_scope="module")
async def rig(servers: Servers, case: ProviderCase) -> AsyncIterator[Rig]:
    async with start(servers, case) as started:
        yield started


@contextlib.asynccontextmanager
async def start(
    servers: Servers, case: ProviderCase, *, key: str | None = None
) -> AsyncIterator[Rig]:
    """A new rig for ``case``; ``key`` replaces the right upstream keys in the gateway's config."""
    upstreams = []
    for name, slot in (("a", servers.a), ("b", servers.b)):
        fake = create_fake_app(FakeProviderConfig(flavor=case.flavor, api_key=f"key-{name}"))
        slot.app = fake
        upstreams.append(Upstream(name, fake, slot.url))
    loaded = load_settings(data=settings(case, upstreams, key=key), environ={})
    app = create_app(loaded.settings)
    servers.gateway.app = app
    await app.startup()
    try:
        gateway = Gateway(app, servers.gateway.url)
        yield Rig(case, upstreams[0], upstreams[1], gateway, servers.client)
    finally:
        await app.shutdown()


# --- helpers ------------------------------------------------------------------------------------


async def create(rig: Rig, **options: Any) -> ChatCompletion:
    completion: ChatCompletion = await rig.client.chat.completions.create(
        model=MODEL, messages=options.pop("messages", MESSAGES), **options
    )
    return completion


async def stream(rig: Rig, **options: Any) -> list[ChatCompletionChunk]:
    """Every chunk of a streamed call that asked for the usage chunk."""
    chunks = await rig.client.chat.completions.create(
        model=MODEL,
        messages=options.pop("messages", MESSAGES),
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    return [chunk async for chunk in chunks]


def text_of(chunks: Iterable[ChatCompletionChunk]) -> str:
    return "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)


def finishes(chunks: Iterable[ChatCompletionChunk]) -> list[str]:
    return [
        choice.finish_reason
        for chunk in chunks
        for choice in chunk.choices
        if choice.finish_reason is not None
    ]


def usage_of(chunks: list[ChatCompletionChunk]) -> CompletionUsage:
    """The one usage chunk, which must be the last and carry no choices."""
    with_usage = [chunk for chunk in chunks if chunk.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    assert with_usage[0].choices == []
    usage = with_usage[0].usage
    assert usage is not None
    return usage


def assert_consistent(usage: CompletionUsage | None) -> CompletionUsage:
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    return usage


def cost(case: ProviderCase, usage: CompletionUsage) -> Decimal:
    """What ``usage`` costs at the case's prices (the fakes report no cached tokens)."""
    return usage.prompt_tokens * case.input_cost + usage.completion_tokens * case.output_cost


def tool_history(call_id: str, name: str, arguments: str) -> list[ChatCompletionMessageParam]:
    """``MESSAGES``, the assistant's tool call, and the tool's result."""
    return [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"high_c": 18, "sky": "sunny"}'},
    ]


async def status_error(rig: Rig, **options: Any) -> openai.APIStatusError:
    """The error the SDK raises for a call the gateway refuses."""
    call = stream(rig, **options) if options.pop("streamed", False) else create(rig, **options)
    with pytest.raises(openai.APIStatusError) as caught:
        await call
    return caught.value


def error_body(error: openai.APIStatusError) -> dict[str, Any]:
    """The whole error body, checked to be OpenAI's shape."""
    body = error.response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["type"], str)
    inner: dict[str, Any] = body["error"]
    return inner


async def served(rig: Rig, *, streamed: bool) -> tuple[Mapping[str, str], str]:
    """The routing headers and the answer's text of a plain or streamed call."""
    if streamed:
        raw_chunks = await rig.client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        return raw_chunks.headers, text_of([chunk async for chunk in raw_chunks.parse()])
    raw = await rig.client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    return raw.headers, raw.parse().choices[0].message.content or ""


async def raw_stream(rig: Rig) -> bytes:
    """A streamed call's body as sent on the wire."""
    body = {
        "model": MODEL,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(rig.gateway.v1 + "/chat/completions", json=body, headers=headers) as reply,
    ):
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        return await reply.read()


# --- 1. plain chat ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", over(CASES))
async def test_plain_chat(rig: Rig):
    raw = await rig.client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.id
    (choice,) = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    assert_consistent(completion.usage)
    assert raw.headers["x-quotaflow-deployment"] == "a"
    assert raw.headers["x-quotaflow-attempts"] == "1"


# --- 2. streaming -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", over(CASES))
async def test_streaming_with_usage(rig: Rig):
    raw = await rig.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-quotaflow-deployment"] == "a"
    chunks = [chunk async for chunk in raw.parse()]
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert all(choice.index == 0 for chunk in with_choices for choice in chunk.choices)
    assert text_of(chunks)
    assert finishes(chunks) == ["stop"]
    assert_consistent(usage_of(chunks))


@pytest.mark.parametrize("case", over(CASES))
async def test_a_stream_is_framed_as_openai_sse_and_ends_with_done(rig: Rig):
    events = (await raw_stream(rig)).split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    for event in events[:-2]:
        assert event.startswith(b"data: {")
        assert isinstance(orjson.loads(event.removeprefix(b"data: ")), dict)


@pytest.mark.parametrize("case", over(CASES))
async def test_a_stream_without_include_usage_has_no_usage_chunk(rig: Rig):
    chunks = await rig.client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    received = [chunk async for chunk in chunks]
    assert text_of(received)
    assert all(chunk.choices for chunk in received)
    assert all(chunk.usage is None for chunk in received)
    assert finishes(received) == ["stop"]


@pytest.mark.parametrize("case", over(CASES))
async def test_max_tokens_cuts_the_answer_with_finish_reason_length(rig: Rig):
    completion = await create(rig, max_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    usage = assert_consistent(completion.usage)
    assert usage.completion_tokens <= 3
    chunks = await stream(rig, max_tokens=3)
    assert finishes(chunks) == ["length"]
    assert text_of(chunks) == completion.choices[0].message.content


@pytest.mark.parametrize("case", over(c for c in CASES if c.several_choices is None))
async def test_several_choices(rig: Rig):
    completion = await create(rig, n=2)
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert all(choice.message.content for choice in completion.choices)
    assert all(choice.finish_reason == "stop" for choice in completion.choices)
    usage = assert_consistent(completion.usage)
    chunks = await stream(rig, n=2)
    indexes = {choice.index for chunk in chunks for choice in chunk.choices}
    assert indexes == {0, 1}
    assert finishes(chunks) == ["stop", "stop"]
    assert usage_of(chunks).completion_tokens == usage.completion_tokens


# --- 3. tools -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", over(CASES))
async def test_forced_tool_call_and_its_result(rig: Rig):
    first = await create(rig, tools=[WEATHER_TOOL], tool_choice=FORCE_WEATHER)
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    WeatherQuery.model_validate_json(call.function.arguments, strict=True)
    assert_consistent(first.usage)

    second = await create(
        rig,
        messages=tool_history(call.id, call.function.name, call.function.arguments),
        tools=[WEATHER_TOOL],
    )
    (answer,) = second.choices
    assert answer.finish_reason == "stop"
    assert answer.message.content
    assert not answer.message.tool_calls


# --- 4. streaming tool call ---------------------------------------------------------------------


@pytest.mark.parametrize("case", over(CASES))
async def test_streamed_tool_call(rig: Rig):
    chunks = await stream(rig, tools=[WEATHER_TOOL], tool_choice=FORCE_WEATHER)
    fragments = [
        fragment
        for chunk in chunks
        for choice in chunk.choices
        for fragment in choice.delta.tool_calls or []
    ]
    assert fragments
    assert {fragment.index for fragment in fragments} == {0}
    head = fragments[0]
    assert head.id
    assert head.function is not None
    assert head.function.name == "get_weather"
    assert all(fragment.id in (None, head.id) for fragment in fragments[1:])
    arguments = "".join((f.function.arguments or "") if f.function else "" for f in fragments)
    WeatherQuery.model_validate_json(arguments, strict=True)
    assert finishes(chunks) == ["tool_calls"]
    assert_consistent(usage_of(chunks))


# --- 5. images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", over(CASES))
async def test_an_inline_image_reaches_the_upstream(rig: Rig):
    completion = await create(rig, messages=image_message(f"data:image/png;base64,{PNG_BASE64}"))
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert PNG_BASE64.encode() in rig.primary.app.stats.recent[-1].body


@pytest.mark.parametrize("case", over(c for c in CASES if c.image_links is None))
async def test_an_image_link_reaches_the_upstream(rig: Rig):
    completion = await create(rig, messages=image_message(IMAGE_LINK))
    assert completion.choices[0].message.content
    assert IMAGE_LINK.encode() in rig.primary.app.stats.recent[-1].body


# --- 6. JSON mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", over(c for c in CASES if c.json_schema is None))
async def test_json_schema_response_format(rig: Rig):
    completion = await create(rig, response_format=FORECAST_FORMAT)
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert choice.message.content
    Forecast.model_validate_json(choice.message.content, strict=True)


# --- 7. usage and cost --------------------------------------------------------------------------


@pytest.mark.parametrize("request_kind", list(PARITY_REQUESTS))
@pytest.mark.parametrize("case", over(CASES))
async def test_cost_is_price_times_usage_and_a_stream_uses_the_same(rig: Rig, request_kind: str):
    options = PARITY_REQUESTS[request_kind]
    raw = await rig.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, **options
    )
    plain = raw.parse()
    usage = assert_consistent(plain.usage)
    assert Decimal(raw.headers["x-quotaflow-response-cost"]) == cost(rig.case, usage)

    chunks = await stream(rig, **options)
    streamed = usage_of(chunks)
    assert (streamed.prompt_tokens, streamed.completion_tokens, streamed.total_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    assert text_of(chunks) == (plain.choices[0].message.content or "")
    assert cost(rig.case, streamed) == cost(rig.case, usage)


# --- 8. upstream errors -------------------------------------------------------------------------

STREAMED = pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])


@STREAMED
@pytest.mark.parametrize("case", over(CASES))
async def test_a_rate_limited_deployment_fails_over_to_the_other(rig: Rig, streamed: bool):
    rig.primary.app.add_faults(FakeFault(FaultKind.STATUS, status=429, retry_after_s=30))
    headers, text = await served(rig, streamed=streamed)
    assert text
    assert headers["x-quotaflow-deployment"] == "b"
    assert headers["x-quotaflow-attempts"] == "2"
    assert rig.primary.app.stats.faults == {"status": 1}
    assert rig.secondary.app.stats.requests["chat"] == 1


@STREAMED
@pytest.mark.parametrize("case", over(CASES))
async def test_every_deployment_rate_limited_is_a_429_with_retry_after(rig: Rig, streamed: bool):
    rig.fail(*rig.upstreams, kind=FaultKind.STATUS, status=429, retry_after_s=30)
    error = await status_error(rig, streamed=streamed)
    assert error.status_code == 429
    assert isinstance(error, openai.RateLimitError)
    assert error_body(error)["type"] == "rate_limit_error"
    assert 25 <= int(error.response.headers["retry-after"]) <= 30
    assert error.response.headers["x-quotaflow-attempts"] == "2"


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param(case, status, id=f"{case.name}-{status}")
        for case in CASES
        for status in case.server_errors
    ],
)
@STREAMED
async def test_every_deployment_failing_is_a_503(rig: Rig, status: int, streamed: bool):
    rig.fail(*rig.upstreams, kind=FaultKind.STATUS, status=status)
    error = await status_error(rig, streamed=streamed)
    assert error.status_code == 503
    assert error_body(error)["type"] == "service_unavailable_error"
    assert error.response.headers["x-quotaflow-attempts"] == "2"


@STREAMED
@pytest.mark.parametrize("case", over(CASES))
async def test_refused_upstream_credentials_are_a_502(rig: Rig, streamed: bool):
    rig.fail(*rig.upstreams, kind=FaultKind.STATUS, status=401)
    error = await status_error(rig, streamed=streamed)
    assert error.status_code == 502
    body = error_body(error)
    assert body["code"] == "upstream_auth_failed"
    assert rig.case.provider in body["message"]
    assert error.response.headers["x-quotaflow-attempts"] == "2"


@pytest.mark.parametrize("case", over(CASES))
async def test_a_wrong_configured_key_is_a_502_that_shows_no_key(
    servers: Servers, case: ProviderCase
):
    async with start(servers, case, key="sk-wrong-key-0123456789") as rig:
        error = await status_error(rig)
        assert error.response.headers["x-quotaflow-attempts"] == "2"
    assert error.status_code == 502
    assert error_body(error)["code"] == "upstream_auth_failed"
    # Not even the upstream's masked echo of it ("sk-wr****6789").
    assert b"sk-wr" not in error.response.content
    assert b"6789" not in error.response.content


@STREAMED
@pytest.mark.parametrize("case", over(CASES))
async def test_an_upstream_400_is_passed_back_in_openai_shape(rig: Rig, streamed: bool):
    rig.fail(rig.primary, kind=FaultKind.STATUS, status=400)
    error = await status_error(rig, streamed=streamed)
    assert error.status_code == 400
    assert isinstance(error, openai.BadRequestError)
    assert set(error_body(error)) == {"message", "type", "param", "code"}
    assert len(rig.primary.app.stats.recent) == 1
    assert not rig.secondary.app.stats.recent  # the request's fault: not retried elsewhere


@pytest.mark.parametrize("case", over(CASES))
async def test_a_deployment_whose_model_is_unknown_upstream_fails_over(rig: Rig):
    rig.fail(rig.primary, kind=FaultKind.STATUS, status=404)
    raw = await rig.client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers["x-quotaflow-deployment"] == "b"
    assert raw.headers["x-quotaflow-attempts"] == "2"


@pytest.mark.parametrize(
    ("kind", "streamed"),
    [(FaultKind.GARBAGE, False), (FaultKind.GARBAGE_STREAM, True)],
    ids=["plain", "stream"],
)
@pytest.mark.parametrize("case", over(CASES))
async def test_an_upstream_answering_garbage_is_a_502(rig: Rig, kind: FaultKind, streamed: bool):
    rig.fail(*rig.upstreams, kind=kind)
    error = await status_error(rig, streamed=streamed)
    assert error.status_code == 502
    assert error_body(error)["code"] == "bad_upstream_response"
    assert error.response.headers["x-quotaflow-attempts"] == "2"


@pytest.mark.parametrize("case", over(CASES))
async def test_an_error_event_mid_stream_ends_the_stream_in_an_error(rig: Rig):
    rig.fail(rig.primary, kind=FaultKind.ERROR_MID_STREAM, status=500, after_chunks=3)
    chunks = await rig.client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    received: list[ChatCompletionChunk] = []

    async def read() -> None:
        async for chunk in chunks:
            received.append(chunk)

    with pytest.raises(openai.APIError) as caught:
        await read()
    assert not isinstance(caught.value, openai.APIStatusError)  # after the 200, in the stream
    assert received
    assert not finishes(received)


# --- 9. capabilities an adapter declares unsupported -------------------------------------------


def _refused(
    case: ProviderCase, body: Mapping[str, Any], param: str | None, code: str | None
) -> None:
    error = body["error"]
    assert case.provider in error["message"].lower()
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)


@pytest.mark.parametrize(
    ("case", "unsupported"),
    [
        pytest.param(case, unsupported, id=f"{case.name}-{unsupported.name}")
        for case in CASES
        for unsupported in refusals(case)
    ],
)
async def test_an_unsupported_option_is_a_400_naming_it(rig: Rig, unsupported: Unsupported):
    error = await status_error(rig, **unsupported.kwargs)
    assert error.status_code == 400
    refusal = unsupported.refusal
    _refused(rig.case, error.response.json(), refusal.param, refusal.code)
    assert rig.upstream_calls() == 0


@pytest.mark.parametrize("case", over(c for c in CASES if c.embeddings is None))
async def test_embeddings(rig: Rig):
    embeddings = await rig.client.embeddings.create(model=MODEL, input=["one", "two"])
    assert [item.index for item in embeddings.data] == [0, 1]
    assert all(item.embedding for item in embeddings.data)


@pytest.mark.parametrize("case", over(c for c in CASES if c.embeddings is not None))
async def test_embeddings_refused_by_a_chat_only_provider(rig: Rig):
    with pytest.raises(openai.BadRequestError) as caught:
        await rig.client.embeddings.create(model=MODEL, input="one")
    refusal = rig.case.embeddings
    assert refusal is not None
    _refused(rig.case, caught.value.response.json(), refusal.param, refusal.code)
    assert rig.upstream_calls() == 0

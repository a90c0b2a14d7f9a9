"""Streams are accounted from the upstream's usage chunk, asked for even when the client did not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from quotaflow.providers._openai_wire import OpenAIStreamTranslator, with_stream_usage
from quotaflow.providers.azure_openai import AzureOpenAIAdapter
from quotaflow.providers.base import Operation, ServerSentEvent
from quotaflow.providers.openai import OpenAIAdapter
from quotaflow.routing.deployment import Deployment

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hi"}], "stream": True}
ASKED = {**CHAT, "stream_options": {"include_usage": True}}

OPENAI = Deployment(
    id="oa", model_group="public", provider="openai", upstream_model="gpt-4o", api_key="k"
)

CONTENT = b'{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}'
FINISH = b'{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}'
USAGE = (
    b'{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,'
    b'"total_tokens":12,"completion_tokens_details":{"reasoning_tokens":1}}}'
)


def azure(api_version: str | None) -> AzureOpenAIAdapter:
    return AzureOpenAIAdapter(
        Deployment(
            id="az",
            model_group="public",
            provider="azure",
            upstream_model="gpt-4o",
            api_base="https://az.example.test",
            api_version=api_version,
        )
    )


def sent(adapter: Any, payload: dict[str, Any], op: Operation = Operation.CHAT, **kw: Any) -> Any:
    stream = kw.get("stream", True)
    return orjson.loads(adapter.build_request(op, payload, stream=stream).body)


def feed_all(translator: OpenAIStreamTranslator) -> list[bytes]:
    events = [CONTENT, FINISH, USAGE, b"[DONE]"]
    return [chunk for data in events for chunk in translator.feed(ServerSentEvent(data))]


# --- the request -----------------------------------------------------------------------------


def test_openai_stream_asks_for_usage_when_the_client_did_not():
    assert sent(OpenAIAdapter(OPENAI), CHAT)["stream_options"] == {"include_usage": True}


def test_other_stream_options_are_kept_and_an_explicit_false_is_overridden():
    payload = {**CHAT, "stream_options": {"include_obfuscation": False, "include_usage": False}}
    assert sent(OpenAIAdapter(OPENAI), payload)["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }


def test_a_client_that_asked_is_sent_unchanged():
    assert sent(OpenAIAdapter(OPENAI), ASKED) == {**ASKED, "model": "gpt-4o"}
    assert with_stream_usage(ASKED) is ASKED


@pytest.mark.parametrize(
    ("op", "stream"),
    [(Operation.CHAT, False), (Operation.COMPLETION, True), (Operation.EMBEDDING, False)],
)
def test_only_streamed_chats_ask(op: Operation, stream: bool):
    payload = {"model": "public", "prompt": "x", "input": "x"}
    assert "stream_options" not in sent(OpenAIAdapter(OPENAI), payload, op, stream=stream)


@pytest.mark.parametrize(
    "api_version", [None, "2024-09-01-preview", "2024-10-21", "2025-04-01-preview", "v1"]
)
def test_azure_asks_when_the_api_version_accepts_stream_options(api_version: str | None):
    assert sent(azure(api_version), CHAT)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api_version", ["2024-02-15-preview", "2024-06-01", "2024-08-01-preview"])
def test_azure_does_not_ask_with_an_older_api_version(api_version: str):
    assert "stream_options" not in sent(azure(api_version), CHAT)
    assert sent(azure(api_version), ASKED)["stream_options"] == {"include_usage": True}


# --- the stream ------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [OpenAIAdapter(OPENAI), azure(None)])
def test_usage_is_recorded_but_not_forwarded_to_a_client_that_did_not_ask(adapter: Any):
    translator = adapter.open_stream(Operation.CHAT, CHAT)
    assert feed_all(translator) == [CONTENT, FINISH]  # bytes untouched, "usage": null included
    assert translator.done
    assert translator.usage is not None
    assert (translator.usage.prompt_tokens, translator.usage.completion_tokens) == (9, 3)
    assert translator.usage.reasoning_tokens == 1


@pytest.mark.parametrize("adapter", [OpenAIAdapter(OPENAI), azure(None)])
def test_usage_is_forwarded_to_a_client_that_asked(adapter: Any):
    translator = adapter.open_stream(Operation.CHAT, ASKED)
    assert feed_all(translator) == [CONTENT, FINISH, USAGE]
    assert translator.usage is not None
    assert translator.usage.completion_tokens == 3


def test_usage_on_a_chunk_with_choices_is_forwarded_either_way():
    last = (
        b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":2}}'
    )
    translator = OpenAIStreamTranslator("groq", forward_usage=False)
    assert translator.feed(ServerSentEvent(last)) == [last]
    assert translator.usage is not None
    assert translator.usage.prompt_tokens == 2

"""Read SSE bytes back into events, and build OpenAI chunks, for the translation tests."""

from __future__ import annotations

from typing import Any

import orjson


def parse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` for every ``event:``/``data:`` pair."""
    events = []
    for frame in data.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        events.append((name_line[7:], orjson.loads(data_line[6:])))
    return events


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One ``chat.completion.chunk``; ``delta=None`` gives a chunk with empty ``choices``."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}
    return orjson.dumps(body)


def usage(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


TEXT_CHUNKS = [
    chunk(delta=None, prompt_filter_results=[]),
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hello"}),
    chunk({"content": " world"}),
    chunk({}, "stop"),
    chunk(delta=None, usage=usage(12, 2, cached=4)),
]

TOOL_CHUNKS = [
    chunk({"role": "assistant", "content": "Let me check."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}),
    chunk({}, "tool_calls"),
    chunk(delta=None, usage=usage(30, 9)),
]

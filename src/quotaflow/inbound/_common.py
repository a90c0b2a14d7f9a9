"""Helpers both client protocols use: SSE events with ``event:`` lines, reading OpenAI answers."""

from __future__ import annotations

from typing import Any

import orjson

from quotaflow.errors import InvalidRequest

__all__ = ["JSON", "first_choice", "invalid", "sse_event", "text_of"]

JSON = dict[str, Any]


def sse_event(name: str, data: JSON) -> bytes:
    """One server-sent event: ``event: <name>`` and ``data: <json>``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def first_choice(reply: JSON) -> JSON:
    """``choices[0]`` of a chat completion, or an empty dict when there is none."""
    choices = reply.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def text_of(content: object) -> str:
    """The text of an OpenAI ``content`` value: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def invalid(param: str, problem: str) -> InvalidRequest:
    """A 400 naming the offending field."""
    return InvalidRequest(f"{param}: {problem}", param=param)

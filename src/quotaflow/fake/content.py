"""Deterministic answers, token counts and embeddings, independent of any wire format.

Token rules (documented so tests can compute them):

* estimate of a text: ``ceil(chars / 4)``;
* chat ``prompt_tokens``: ``ceil(chars / 4) + 3 * messages``, chars summed over all message texts;
* ``completion_tokens`` of a text answer: its number of words; of JSON content or tool-call
  arguments: ``ceil(chars / 4)``; with ``n`` choices, per choice times ``n``;
* TPM charge on arrival: ``ceil(chars / 4) + (max_completion_tokens or max_tokens or
  default_max_tokens) * max(n, 1)``; embeddings ``ceil(chars / 4)``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.fake.schema_instance import instance_from_schema

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ANSWER_PREFIX",
    "ChatAnswer",
    "ChatPrompt",
    "ToolSpec",
    "answer_chat",
    "answer_text",
    "embedding",
    "estimate_tokens",
    "split_chars",
    "split_words",
]

ANSWER_PREFIX = "This is a fake answer to: "
_SNIPPET_CHARS = 40


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name and JSON-schema parameters."""

    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatPrompt:
    """A chat request reduced to what the fake's answer depends on."""

    texts: tuple[str, ...]
    message_count: int
    last_user_text: str
    max_tokens: int | None = None
    n: int = 1
    tool: ToolSpec | None = None
    response_schema: Mapping[str, Any] | None = None
    json_mode: bool = False

    @property
    def prompt_tokens(self) -> int:
        """``ceil(chars / 4) + 3`` per message."""
        return estimate_tokens(self.texts) + 3 * self.message_count


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """One choice's answer (repeated for every choice) and the usage of all choices."""

    content: str | None
    tool: ToolSpec | None
    arguments: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def estimate_tokens(texts: Sequence[str]) -> int:
    """``ceil(chars / 4)`` over all ``texts``."""
    return (sum(map(len, texts)) + 3) // 4


def answer_text(prompt_text: str, max_tokens: int | None) -> tuple[str, str]:
    """The fake answer to ``prompt_text`` and its finish reason, cut to ``max_tokens`` words."""
    text = (ANSWER_PREFIX + " ".join(prompt_text[:_SNIPPET_CHARS].split())).rstrip()
    if max_tokens is not None:
        words = text.split(" ")
        if len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
    return text, "stop"


def answer_chat(prompt: ChatPrompt) -> ChatAnswer:
    """The deterministic answer to a chat prompt: a tool call, JSON content, or text."""
    n = prompt.n
    if prompt.tool is not None:
        arguments = orjson.dumps(instance_from_schema(prompt.tool.parameters)).decode()
        used = estimate_tokens((prompt.tool.name, arguments))
        return ChatAnswer(
            None, prompt.tool, arguments, "tool_calls", prompt.prompt_tokens, used * n
        )
    if prompt.response_schema is not None or prompt.json_mode:
        value = (
            instance_from_schema(prompt.response_schema)
            if prompt.response_schema is not None
            else {"answer": answer_text(prompt.last_user_text, None)[0]}
        )
        content = orjson.dumps(value).decode()
        used = estimate_tokens((content,))
        return ChatAnswer(content, None, "", "stop", prompt.prompt_tokens, used * n)
    content, finish = answer_text(prompt.last_user_text, prompt.max_tokens)
    return ChatAnswer(content, None, "", finish, prompt.prompt_tokens, len(content.split()) * n)


def split_words(text: str, pieces: int | None) -> list[str]:
    """``text`` as at most ``pieces`` runs of whole words (one per word when ``None``)."""
    words = text.split(" ")
    runs = _runs(len(words), pieces or len(words))
    return [(" " if start else "") + " ".join(words[start:end]) for start, end in runs]


def split_chars(text: str, pieces: int) -> list[str]:
    """``text`` cut into at most ``pieces`` non-empty runs of near-equal length."""
    return [text[start:end] for start, end in _runs(len(text), pieces)]


def _runs(length: int, pieces: int) -> list[tuple[int, int]]:
    pieces = max(1, min(pieces, length))
    size, extra = divmod(length, pieces)
    runs, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        runs.append((start, end))
        start = end
    return runs


def embedding(text: str, dimensions: int, *, as_base64: bool) -> list[float] | str:
    """A unit vector derived from a hash of ``text``; base64 of little-endian float32 if asked."""
    raw = struct.unpack(f"<{dimensions}H", hashlib.shake_128(text.encode()).digest(2 * dimensions))
    values = [v / 32767.5 - 1.0 for v in raw]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    vector = [v / norm for v in values]
    if as_base64:
        return base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
    return vector

"""Prompt token counts: exact with OpenAI's tokenizers, or a fast four-characters-a-token estimate.

Two ways to count, for two jobs:

* ``estimate_*`` functions need no tokenizer and cost a few microseconds. Quota checks on the
  hot path use them (providers only estimate at admission too), and so does every model that is
  not an OpenAI model: Anthropic and Gemini tokenizers are not public.
* ``Tokenizer`` counts exactly with ``o200k_base`` or ``cl100k_base`` (bundled by ``bpe-openai``;
  no network). Chat prompts are counted by the OpenAI cookbook method — 3 tokens to prime the
  reply, 3 per message, 1 more for a ``name`` — which matches the API's ``prompt_tokens`` for
  text messages. Images, tool calls and tool definitions are the cookbook's or the vision docs'
  constants, so those counts are close, not exact.

Loading an encoding takes about half a second; a ``Tokenizer`` does it once, on first use or in
``warm()``, and keeps it. The composition root owns the one ``Tokenizer`` of a process.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

__all__ = [
    "CL100K_BASE",
    "ESTIMATE",
    "O200K_BASE",
    "Tokenizer",
    "encoding_for_model",
    "estimate_chat_prompt",
    "estimate_embedding_input",
    "estimate_text",
]

O200K_BASE = "o200k_base"
CL100K_BASE = "cl100k_base"
ESTIMATE = "estimate"  # not a tokenizer: four characters a token
_EXACT_ENCODINGS = (O200K_BASE, CL100K_BASE)  # what bpe-openai bundles and we have constants for

# Which encoding an OpenAI model uses (tiktoken's table, first match wins).
_ENCODING_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K_BASE),
    ("chatgpt-4o", O200K_BASE),
    ("gpt-4.1", O200K_BASE),
    ("gpt-4.5", O200K_BASE),
    ("gpt-5", O200K_BASE),
    ("gpt-oss", O200K_BASE),  # o200k_harmony only adds special tokens to o200k_base
    ("o1-", O200K_BASE),
    ("o3-", O200K_BASE),
    ("o4-mini", O200K_BASE),
    ("ft:gpt-4o", O200K_BASE),
    ("gpt-4-", CL100K_BASE),
    ("gpt-3.5-turbo", CL100K_BASE),
    ("gpt-35-turbo", CL100K_BASE),
    ("ft:gpt-4", CL100K_BASE),
    ("ft:gpt-3.5-turbo", CL100K_BASE),
    ("text-embedding-", CL100K_BASE),
)
_ENCODING_NAMES: Mapping[str, str] = {
    "gpt-4": CL100K_BASE,
    "o1": O200K_BASE,
    "o3": O200K_BASE,
    "davinci-002": CL100K_BASE,
    "babbage-002": CL100K_BASE,
}

_REPLY_PRIMING = 3  # <|start|>assistant<|message|>
_MESSAGE_FRAMING = 3
_NAME_EXTRA = 1
_IMAGE_LOW = 85  # detail "low": one 512-px tile
_IMAGE_HIGH = 765  # detail "high"/"auto": 85 + 170 per tile, four tiles for a 1024-px image
_CHARS_PER_TOKEN = 4
# bpe-openai refuses a chunk of more than 200,000 tokens; a character is at most four bytes and a
# token at least one, so 50,000 characters always fit.
_MAX_CHUNK_CHARS = 50_000


@dataclass(frozen=True, slots=True)
class _ToolConstants:
    """The cookbook's per-item token costs for tool definitions."""

    func_init: int
    prop_init: int
    prop_key: int
    enum_init: int
    enum_item: int
    func_end: int


_TOOLS_O200K = _ToolConstants(
    func_init=7, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12
)
_TOOLS_CL100K = _ToolConstants(
    func_init=10, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12
)
_TOOL_CONSTANTS: Mapping[str, _ToolConstants] = {
    O200K_BASE: _TOOLS_O200K,
    CL100K_BASE: _TOOLS_CL100K,
}

_Count = Callable[[str], int]


def encoding_for_model(model: str) -> str:
    """The encoding of an OpenAI ``model`` (prefix ``provider/`` ignored), else ``"estimate"``."""
    name = model.rpartition("/")[2]
    if name in _ENCODING_NAMES:
        return _ENCODING_NAMES[name]
    for prefix, encoding in _ENCODING_PREFIXES:
        if name.startswith(prefix):
            return encoding
    return ESTIMATE


def estimate_text(text: str) -> int:
    """Tokens in ``text`` at four characters a token, rounded up."""
    return -(-len(text) // _CHARS_PER_TOKEN)


def estimate_chat_prompt(payload: Mapping[str, object]) -> int:
    """Prompt tokens of a chat completions payload, estimated without a tokenizer."""
    return _chat_tokens(payload, estimate_text, _TOOLS_O200K)


def estimate_embedding_input(payload: Mapping[str, object]) -> int:
    """Tokens of an embeddings payload's ``input``, estimated without a tokenizer."""
    return _embedding_tokens(payload.get("input"), estimate_text)


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


def _load_encoder(encoding: str) -> _Encoder:
    """A bundled ``bpe-openai`` encoding; imported on first use so ``import`` stays cheap."""
    if encoding not in _EXACT_ENCODINGS:
        known = ", ".join([*_EXACT_ENCODINGS, ESTIMATE])
        msg = f"unknown encoding {encoding!r} (known: {known})"
        raise ValueError(msg)
    with warnings.catch_warnings():
        # bpe-openai 0.1.4 reads its bundled data with importlib.resources.open_binary,
        # deprecated on Python 3.11 and 3.12; the data loads fine.
        warnings.filterwarnings(
            "ignore", message="open_binary is deprecated", category=DeprecationWarning
        )
        bpe_openai = importlib.import_module("bpe_openai")
        return cast("_Encoder", bpe_openai.get_encoding(encoding))


class Tokenizer:
    """Exact token counts with OpenAI's encodings, each loaded once and kept.

    Every method takes an encoding name — ``"o200k_base"``, ``"cl100k_base"``, or
    ``"estimate"``, which answers like the ``estimate_*`` functions — usually a
    ``ModelSpec.encoding``.
    """

    def __init__(self) -> None:
        self._encoders: dict[str, _Encoder] = {}

    def warm(self, *encodings: str) -> None:
        """Load ``encodings`` now (about half a second each), not on the first request."""
        for encoding in encodings:
            if encoding != ESTIMATE:
                self._encoder(encoding)

    def encode(self, text: str, encoding: str) -> list[int]:
        """Token ids of ``text`` read as plain text: special-token spellings get no special id."""
        encoder = self._encoder(encoding)
        return [token for piece in _pieces(text) for token in encoder.encode_ordinary(piece)]

    def count_text(self, text: str, encoding: str) -> int:
        """Tokens in ``text``."""
        if encoding == ESTIMATE:
            return estimate_text(text)
        return _exact_count(self._encoder(encoding), text)

    def count_chat_prompt(self, payload: Mapping[str, object], encoding: str) -> int:
        """Prompt tokens of a chat completions payload (messages plus tool definitions)."""
        if encoding == ESTIMATE:
            return estimate_chat_prompt(payload)
        return _chat_tokens(payload, self._counter(encoding), _TOOL_CONSTANTS[encoding])

    def count_embedding_input(self, payload: Mapping[str, object], encoding: str) -> int:
        """Tokens of an embeddings payload's ``input`` (text, texts, or token id arrays)."""
        if encoding == ESTIMATE:
            return estimate_embedding_input(payload)
        return _embedding_tokens(payload.get("input"), self._counter(encoding))

    def _counter(self, encoding: str) -> _Count:
        return functools.partial(_exact_count, self._encoder(encoding))

    def _encoder(self, encoding: str) -> _Encoder:
        encoder = self._encoders.get(encoding)
        if encoder is None:
            encoder = self._encoders[encoding] = _load_encoder(encoding)
        return encoder


def _exact_count(encoder: _Encoder, text: str) -> int:
    return sum(len(encoder.encode_ordinary(piece)) for piece in _pieces(text))


def _pieces(text: str) -> Iterator[str]:
    """``text`` in chunks the encoder accepts, cut before whitespace where there is some."""
    while len(text) > _MAX_CHUNK_CHARS:
        cut = max(text.rfind(" ", 0, _MAX_CHUNK_CHARS), text.rfind("\n", 0, _MAX_CHUNK_CHARS))
        if cut <= 0:
            cut = _MAX_CHUNK_CHARS
        yield text[:cut]
        text = text[cut:]
    yield text


def _chat_tokens(payload: Mapping[str, object], count: _Count, tools: _ToolConstants) -> int:
    total = _REPLY_PRIMING
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += _message_tokens(message, count)
    return total + _definitions_tokens(payload, count, tools)


def _message_tokens(message: Mapping[str, object], count: _Count) -> int:
    """The cookbook's count: every string field, plus content parts and tool calls."""
    total = _MESSAGE_FRAMING
    for key, value in message.items():
        if isinstance(value, str):
            # A tool result's id is routing metadata, not text the model reads.
            if key != "tool_call_id":
                total += count(value)
            if key == "name":
                total += _NAME_EXTRA
        elif key == "content" and isinstance(value, list):
            total += sum(_part_tokens(part, count) for part in value)
        elif key == "tool_calls" and isinstance(value, list):
            total += sum(_call_tokens(call.get("function"), count) for call in _dicts(value))
        elif key == "function_call":
            total += _call_tokens(value, count)
    return total


def _part_tokens(part: object, count: _Count) -> int:
    """One content part: text (or a refusal) is counted, an image is a fixed estimate."""
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, dict) else None
        return _IMAGE_LOW if detail == "low" else _IMAGE_HIGH
    text = part.get(kind) if kind in ("text", "refusal") else None
    return count(text) if isinstance(text, str) else 0


def _call_tokens(function: object, count: _Count) -> int:
    """A tool call (or legacy ``function_call``): its name and its arguments."""
    if not isinstance(function, dict):
        return 0
    texts = (function.get("name"), function.get("arguments"))
    return sum(count(text) for text in texts if isinstance(text, str))


def _definitions_tokens(payload: Mapping[str, object], count: _Count, c: _ToolConstants) -> int:
    """``tools`` (and legacy ``functions``) by the cookbook's method."""
    tools = payload.get("tools")
    functions = [tool.get("function") for tool in _dicts(tools)] if isinstance(tools, list) else []
    legacy = payload.get("functions")
    if isinstance(legacy, list):
        functions.extend(legacy)
    definitions = list(_dicts(functions))
    if not definitions:
        return 0
    return sum(_function_tokens(f, count, c) for f in definitions) + c.func_end


def _function_tokens(function: Mapping[str, object], count: _Count, c: _ToolConstants) -> int:
    name = function.get("name")
    total = c.func_init + count(f"{name if isinstance(name, str) else ''}:{_description(function)}")
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if isinstance(properties, dict) and properties:
        total += c.prop_init
        for key, schema in properties.items():
            prop = schema if isinstance(schema, dict) else {}
            total += c.prop_key + _property_tokens(str(key), prop, count, c)
    return total


def _property_tokens(key: str, prop: Mapping[str, object], count: _Count, c: _ToolConstants) -> int:
    total = 0
    enum = prop.get("enum")
    if isinstance(enum, list):
        total += c.enum_init + sum(c.enum_item + count(str(item)) for item in enum)
    kind = prop.get("type")
    return total + count(f"{key}:{kind if isinstance(kind, str) else ''}:{_description(prop)}")


def _description(schema: Mapping[str, object]) -> str:
    """A ``description`` without its final period, as the cookbook counts it."""
    text = schema.get("description")
    return text.removesuffix(".") if isinstance(text, str) else ""


def _embedding_tokens(value: object, count: _Count) -> int:
    """``input`` is a string, a list of strings, a token id array, or a list of those."""
    if isinstance(value, str):
        return count(value)
    if not isinstance(value, list):
        return 0
    total = 0
    for item in value:
        if isinstance(item, str):
            total += count(item)
        elif isinstance(item, list):
            total += len(item)  # token ids
        elif isinstance(item, int):
            total += 1  # one token id
    return total


def _dicts(items: object) -> Iterator[Mapping[str, object]]:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                yield item

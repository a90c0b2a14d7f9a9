"""Anthropic's Messages API in front of any model group: request in, OpenAI chat out, and back.

* ``to_chat``: a Messages request → an OpenAI chat payload (``InvalidRequest`` for what cannot be
  honoured; fields that change nothing a client relies on — ``thinking``, ``top_k``,
  ``service_tier``, ``cache_control`` — are ignored).
* ``to_message``: a chat completion → a ``message``.
* ``MessageStream``: ``chat.completion.chunk`` bytes → Messages SSE events, in Anthropic's order.
* ``count_input_tokens``: an offline estimate for ``/v1/messages/count_tokens``.
* ``error_body`` / ``error_type``: Anthropic's error shape for a gateway error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from quotaflow.inbound._common import JSON, first_choice, invalid, sse_event, text_of
from quotaflow.providers.base import Usage

if TYPE_CHECKING:
    from quotaflow.errors import GatewayError

__all__ = [
    "MessageStream",
    "count_input_tokens",
    "error_body",
    "error_type",
    "to_chat",
    "to_message",
]

_SUPPORTED = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "output_config",
    }
)
# Accepted and dropped: without them the answer is still a valid answer to the request.
_IGNORED = frozenset({"thinking", "top_k", "service_tier", "cache_control"})
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_IMAGE_PREFIX = "data:"


# --- request ----------------------------------------------------------------------------------


def to_chat(body: JSON, *, counting: bool = False) -> JSON:
    """The OpenAI chat payload for a Messages request (``counting``: for ``count_tokens``)."""
    for name in body:
        if name not in _SUPPORTED and name not in _IGNORED:
            raise invalid(name, "this field is not supported by this gateway's Messages API.")
    payload: JSON = {"model": _model(body.get("model"))}
    if not counting:
        payload["max_tokens"] = _max_tokens(body.get("max_tokens"))
    payload["messages"] = [*_system(body.get("system")), *_messages(body.get("messages"))]
    _copy_sampling(body, payload)
    _copy_tools(body, payload)
    _copy_output_format(body.get("output_config"), payload)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        payload["user"] = metadata["user_id"]
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "Input should be a valid boolean.")
    if stream and not counting:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _model(model: object) -> str:
    if model is None:
        raise invalid("model", "Field required.")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Input should be a non-empty string.")
    return model


def _max_tokens(value: object) -> int:
    if value is None:
        raise invalid("max_tokens", "Field required.")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid("max_tokens", "Input should be a positive integer.")
    return value


def _system(system: object) -> list[JSON]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if not isinstance(system, list):
        raise invalid("system", "Input should be a string or a list of text blocks.")
    texts = _texts(_blocks(system, "system"), "system")
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _messages(messages: object) -> list[JSON]:
    if messages is None:
        raise invalid("messages", "Field required.")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "Input should be a non-empty list.")
    chat: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(where, "Input should be an object.")
        role, content = message.get("role"), message.get("content")
        if role == "user":
            chat.extend(_user_turn(content, where))
        elif role == "assistant":
            chat.append(_assistant_turn(content, where))
        else:
            raise invalid(f"{where}.role", "Input should be 'user' or 'assistant'.")
    return chat


def _blocks(content: object, where: str) -> list[JSON]:
    """Content as a list of blocks; a string is one ``text`` block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(where, "Input should be a string or a list of content blocks.")
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            raise invalid(f"{where}.{i}", "Input should be a content block object.")
    return content


def _kind(block: JSON, where: str, allowed: tuple[str, ...]) -> str:
    kind = block.get("type")
    if kind not in allowed:
        shown = ", ".join(allowed)
        raise invalid(f"{where}.type", f"'{kind}' is not supported here (supported: {shown}).")
    return str(kind)


def _text(block: JSON, where: str, key: str = "text") -> str:
    text = block.get(key)
    if not isinstance(text, str):
        raise invalid(f"{where}.{key}", "Input should be a valid string.")
    return text


def _texts(blocks: list[JSON], where: str) -> list[str]:
    """The texts of blocks that may only be ``text`` blocks."""
    texts = []
    for i, block in enumerate(blocks):
        _kind(block, f"{where}.{i}", ("text",))
        texts.append(_text(block, f"{where}.{i}"))
    return texts


def _user_turn(content: object, where: str) -> list[JSON]:
    """Tool results become ``tool`` messages, placed first; the rest is one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results: list[JSON] = []
    parts: list[JSON] = []
    for i, block in enumerate(_blocks(content, f"{where}.content")):
        at = f"{where}.content.{i}"
        kind = _kind(block, at, ("text", "image", "document", "tool_result"))
        if kind == "tool_result":
            results.append(_tool_message(block, at))
        elif kind == "text":
            parts.append({"type": "text", "text": _text(block, at)})
        elif kind == "image":
            parts.append(_image_part(block.get("source"), f"{at}.source"))
        else:
            parts.append(_document_part(block.get("source"), f"{at}.source"))
    return [*results, {"role": "user", "content": parts}] if parts else results


def _image_part(source: object, where: str) -> JSON:
    if not isinstance(source, dict):
        raise invalid(where, "Field required.")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = _text(source, where, "media_type"), _text(source, where, "data")
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
    if kind == "url":
        return {"type": "image_url", "image_url": {"url": _text(source, where, "url")}}
    raise invalid(f"{where}.type", f"image source '{kind}' is not supported (use base64 or url).")


def _document_part(source: object, where: str) -> JSON:
    if isinstance(source, dict) and source.get("type") == "text":
        return {"type": "text", "text": _text(source, where, "data")}
    raise invalid(where, "only plain-text documents are supported by this gateway.")


def _tool_message(block: JSON, where: str) -> JSON:
    call_id = _text(block, where, "tool_use_id")
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "\n".join(_texts(_blocks(content, f"{where}.content"), f"{where}.content"))
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _assistant_turn(content: object, where: str) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[JSON] = []
    allowed = ("text", "tool_use", "thinking", "redacted_thinking")
    for i, block in enumerate(_blocks(content, f"{where}.content")):
        at = f"{where}.content.{i}"
        kind = _kind(block, at, allowed)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_call(block: JSON, where: str) -> JSON:
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise invalid(f"{where}.input", "Input should be an object.")
    return {
        "id": _text(block, where, "id"),
        "type": "function",
        "function": {"name": _text(block, where, "name"), "arguments": _json(arguments)},
    }


def _copy_sampling(body: JSON, payload: JSON) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise invalid(name, "Input should be a number between 0 and 1.")
        payload[name] = value
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("stop_sequences", "Input should be a list of strings.")
        if stops:
            payload["stop"] = stops


def _copy_tools(body: JSON, payload: JSON) -> None:
    tools = body.get("tools")
    if tools is None or tools == []:
        return
    if not isinstance(tools, list):
        raise invalid("tools", "Input should be a list.")
    payload["tools"] = [_function(tool, f"tools.{i}") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is not None:
        payload["tool_choice"], parallel = _tool_choice(choice)
        if not parallel:
            payload["parallel_tool_calls"] = False


def _function(tool: object, where: str) -> JSON:
    if not isinstance(tool, dict):
        raise invalid(where, "Input should be an object.")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise invalid(f"{where}.type", f"server tool '{kind}' is not supported by this gateway.")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise invalid(f"{where}.input_schema", "Field required (a JSON Schema object).")
    function: JSON = {"name": _text(tool, where, "name"), "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if tool.get("strict") is True:
        function["strict"] = True
    return {"type": "function", "function": function}


def _tool_choice(choice: object) -> tuple[object, bool]:
    """OpenAI's ``tool_choice`` and whether parallel tool calls stay allowed."""
    if not isinstance(choice, dict):
        raise invalid("tool_choice", "Input should be an object.")
    parallel = choice.get("disable_parallel_tool_use") is not True
    kind = choice.get("type")
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", True
    if kind == "tool":
        name = _text(choice, "tool_choice", "name")
        return {"type": "function", "function": {"name": name}}, parallel
    raise invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'.")


def _copy_output_format(config: object, payload: JSON) -> None:
    """``output_config.format`` (JSON schema) → ``response_format``; ``effort`` is ignored."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("output_config", "Input should be an object.")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise invalid("output_config.format.type", "Input should be 'json_schema'.")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.schema", "Field required (a JSON Schema object).")
    json_schema = {"name": "output", "schema": schema, "strict": True}
    payload["response_format"] = {"type": "json_schema", "json_schema": json_schema}


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


# --- count_tokens -----------------------------------------------------------------------------


def count_input_tokens(body: JSON) -> int:
    """An estimate of the prompt's tokens: ``ceil(chars / 4)`` over all of its text.

    Counted: system, message texts, tool calls and results, and each tool's name, description
    and JSON schema. Images are not counted. No tokenizer is involved, so the number is an
    estimate for budgeting, not what any upstream will bill.
    """
    payload = to_chat(body, counting=True)
    chars = sum(_message_chars(message) for message in payload["messages"])
    chars += sum(len(_json(tool["function"])) for tool in payload.get("tools", ()))
    return (chars + 3) // 4


def _message_chars(message: JSON) -> int:
    chars = len(text_of(message.get("content")))
    for call in message.get("tool_calls", ()):
        chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return chars


# --- response ---------------------------------------------------------------------------------


def to_message(reply: JSON, *, model: str, message_id: str) -> JSON:
    """A chat completion as an Anthropic ``message``."""
    choice = first_choice(reply)
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content: list[JSON] = []
    text = text_of(message.get("content"))
    refusal = message.get("refusal")
    if text:
        content.append({"type": "text", "text": text})
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        content.append(_tool_use(call))
    stop = _stop_reason(choice.get("finish_reason"), refused=bool(refusal), called=bool(calls))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(Usage.from_openai(reply.get("usage"))),
    }


def _tool_use(call: JSON) -> JSON:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or "",
        "name": function.get("name") or "",
        "input": _arguments(function.get("arguments")),
    }


def _arguments(arguments: object) -> JSON:
    """Tool-call arguments as an object; ``{}`` when they are empty or not a JSON object."""
    if not isinstance(arguments, str) or not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _stop_reason(finish: object, *, refused: bool, called: bool) -> str:
    if refused:
        return "refusal"
    reason = _STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return "tool_use" if called and reason == "end_turn" else reason


def _usage(usage: Usage | None) -> JSON:
    """Anthropic's usage: ``input_tokens`` excludes the cached part, reported separately."""
    usage = usage or Usage()
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens, 0),
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
    }


# --- stream -----------------------------------------------------------------------------------


class MessageStream:
    """Chat chunks → Messages SSE events; one per streamed answer (a ``Framing``).

    ``message_start`` goes out with the first chunk, with ``input_tokens`` 0: OpenAI reports
    usage only at the end, so the real counts come in ``message_delta``.
    """

    __slots__ = (
        "_blocks",
        "_finish",
        "_id",
        "_model",
        "_open",
        "_refused",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id
        self._started = False
        self._blocks = 0
        self._open: str | None = None
        self._tools: dict[int, int] = {}
        self._finish: object = None
        self._refused = False
        self._usage: Usage | None = None

    def chunk(self, data: bytes) -> bytes:
        """The events for one ``chat.completion.chunk``."""
        chunk = orjson.loads(data)
        events = self._start()
        if usage := chunk.get("usage"):
            self._usage = Usage.from_openai(usage)
        choice = first_choice(chunk)
        delta = choice.get("delta") or {}
        if text := delta.get("content"):
            events += self._text(text)
        if refusal := delta.get("refusal"):
            self._refused = True
            events += self._text(refusal)
        for call in delta.get("tool_calls") or ():
            events += self._tool(call)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return b"".join(events)

    def end(self) -> bytes:
        """Close the open block, then ``message_delta`` and ``message_stop``."""
        events = [*self._start(), *self._close()]
        stop = _stop_reason(self._finish, refused=self._refused, called=bool(self._tools))
        delta = {"stop_reason": stop, "stop_sequence": None}
        usage = _usage(self._usage)
        body = {"type": "message_delta", "delta": delta, "usage": usage}
        events.append(sse_event("message_delta", body))
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return b"".join(events)

    def error(self, error: GatewayError) -> bytes:
        """An ``error`` event; the stream ends after it."""
        return sse_event("error", error_body(error.status, error.message))

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: JSON = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(None),
        }
        return [sse_event("message_start", {"type": "message_start", "message": message})]

    def _text(self, text: str) -> list[bytes]:
        events = [] if self._open == "text" else [*self._close(), self._begin("text", {"text": ""})]
        delta = {"type": "text_delta", "text": text}
        return [*events, self._delta(delta)]

    def _tool(self, call: JSON) -> list[bytes]:
        index = call.get("index", 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        block = self._tools.get(index)
        if block is None:
            events += self._close()
            name = function.get("name") or ""
            fields: JSON = {"id": call.get("id") or "", "name": name, "input": {}}
            events.append(self._begin("tool_use", fields))
            block = self._tools[index] = self._blocks - 1
        if arguments := function.get("arguments"):
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(self._delta(delta, block))
        return events

    def _begin(self, kind: str, fields: JSON) -> bytes:
        self._open = kind
        self._blocks += 1
        block = {"type": kind, **fields}
        start = {"type": "content_block_start", "index": self._blocks - 1, "content_block": block}
        return sse_event("content_block_start", start)

    def _delta(self, delta: JSON, index: int | None = None) -> bytes:
        at = self._blocks - 1 if index is None else index
        return sse_event(
            "content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta}
        )

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        stop = {"type": "content_block_stop", "index": self._blocks - 1}
        return [sse_event("content_block_stop", stop)]


# --- errors -----------------------------------------------------------------------------------


def error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    known = _ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str) -> JSON:
    """``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}

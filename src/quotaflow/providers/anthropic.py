"""Anthropic's Messages API (``anthropic/<model>``), translated to and from OpenAI chat.

Requests: system and developer messages become the top-level ``system``; consecutive turns of
one role are merged; image parts, tool calls and tool results become ``image``, ``tool_use``
and ``tool_result`` blocks; ``response_format`` becomes a tool the model is made to call, whose
input is returned as the message content. Parameters Anthropic has no equivalent for are
refused with a 400 naming them, unless the deployment has ``drop_params``.

Answers, streams and errors come back in OpenAI's shapes. Errors are classified by HTTP status
and by Anthropic's ``error.type``, never by message text.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

import orjson

from quotaflow.errors import (
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers._openai_wire import retry_after_s
from quotaflow.providers.base import (
    Operation,
    RateLimitHint,
    UpstreamReply,
    UpstreamRequest,
    Usage,
    bad_response,
    json_object,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from quotaflow.errors import UpstreamError
    from quotaflow.providers.base import ServerSentEvent
    from quotaflow.routing.deployment import Deployment

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_TOKENS",
    "RESPONSE_TOOL",
    "AnthropicAdapter",
    "AnthropicStreamTranslator",
    "chat_completion",
    "chat_request",
    "classify",
    "finish_reason",
    "messages_url",
    "stream_error",
    "usage_json",
]

JSON = dict[str, Any]

PROVIDER: Final = "anthropic"
DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
API_VERSION: Final = "2023-06-01"
DEFAULT_MAX_TOKENS: Final = 4096
MAX_TEMPERATURE: Final = 1.0
RESPONSE_TOOL: Final = "json_response"
_RESPONSE_TOOL_DESCRIPTION: Final = "Give your whole answer as this tool's input."
_OPEN_OBJECT: Final[JSON] = {"type": "object"}

# Client parameters the translation reads (``stream_options`` is read by the stream translator).
_TRANSLATED: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "response_format",
        "stream",
        "stream_options",
    }
)
# Parameters without an Anthropic equivalent, and the value of each that asks for nothing.
_NEUTRAL: Final[Mapping[str, object]] = {
    "n": 1,
    "logprobs": False,
    "top_logprobs": 0,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logit_bias": {},
    "store": False,
    "metadata": {},
    "service_tier": "auto",
}
_ABSENT: Final = object()

_FINISH_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "length",
    "model_context_window_exceeded": "length",
}
_TOOL_CHOICES: Final[Mapping[str, JSON]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "none": {"type": "none"},
}
# The status each ``error.type`` comes with, to classify errors that arrive inside a stream.
_ERROR_STATUS: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def messages_url(api_base: str | None) -> str:
    """``{api_base}/v1/messages``; a base already ending in ``/v1`` or ``/v1/messages`` is kept."""
    base = (api_base or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


class AnthropicAdapter:
    """Posts OpenAI chat calls to ``{api_base}/v1/messages`` as Anthropic messages.

    ``now`` gives the ``created`` time of translated answers (tests pass a fixed clock).
    """

    provider = PROVIDER

    def __init__(self, deployment: Deployment, *, now: Callable[[], float] = time.time) -> None:
        self._url = messages_url(deployment.api_base)
        self._model = deployment.upstream_model
        self._drop_params = deployment.drop_params
        self._now = now
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if deployment.api_key:
            headers["x-api-key"] = deployment.api_key
        headers.update(deployment.extra_headers)
        self._headers = headers

    def build_request(self, op: Operation, payload: JSON, *, stream: bool) -> UpstreamRequest:
        """The Messages request for a chat payload; ``InvalidRequest`` for what cannot map."""
        _require_chat(op)
        body = chat_request(payload, model=self._model, drop_params=self._drop_params)
        if stream:
            body["stream"] = True
        return UpstreamRequest("POST", self._url, self._headers, orjson.dumps(body))

    def parse_reply(
        self, op: Operation, payload: JSON, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamReply:
        """A ``message`` as a ``chat.completion``."""
        message = json_object(body, PROVIDER, "a body")
        if message.get("type") != "message" or not isinstance(message.get("content"), list):
            raise bad_response(PROVIDER, "JSON that is not a message")
        completion, usage = chat_completion(
            message, json_mode=_json_mode(payload), created=int(self._now())
        )
        return UpstreamReply(body=orjson.dumps(completion), usage=usage)

    def open_stream(self, op: Operation, payload: JSON) -> AnthropicStreamTranslator:
        """A translator from Anthropic's events to ``chat.completion.chunk``s."""
        _require_chat(op)
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return AnthropicStreamTranslator(
            created=int(self._now()), include_usage=include_usage, json_mode=_json_mode(payload)
        )

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """By status and ``error.type``; 529 (overloaded) is transient like any 5xx."""
        return classify(status, headers, _error_fields(body))

    def rate_limit_hint(self, headers: Mapping[str, str]) -> RateLimitHint | None:
        """``anthropic-ratelimit-requests-remaining`` / ``-tokens-remaining``."""
        return RateLimitHint.from_headers(
            headers,
            requests="anthropic-ratelimit-requests-remaining",
            tokens="anthropic-ratelimit-tokens-remaining",
        )


# --- requests -------------------------------------------------------------------------------


def chat_request(payload: JSON, *, model: str, drop_params: bool = False) -> JSON:
    """The Messages API body for an OpenAI chat payload (without ``stream``)."""
    if not drop_params:
        _refuse_unsupported(payload)
    system, messages = _conversation(payload.get("messages"), drop_params=drop_params)
    body: JSON = {"model": model, "max_tokens": _max_tokens(payload), "messages": messages}
    if system:
        body["system"] = system
    stop = _stop_sequences(payload.get("stop"))
    if stop:
        body["stop_sequences"] = stop
    temperature = _temperature(payload.get("temperature"), drop_params=drop_params)
    if temperature is not None:
        body["temperature"] = temperature
    for name in ("top_p", "top_k"):
        if payload.get(name) is not None:
            body[name] = payload[name]
    user = payload.get("safety_identifier") or payload.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    body.update(_tool_fields(payload, drop_params=drop_params))
    return body


def _require_chat(op: Operation) -> None:
    if op is Operation.EMBEDDING:
        raise InvalidRequest(f"{PROVIDER} does not serve embeddings", param="model")
    if op is Operation.COMPLETION:
        raise InvalidRequest(f"{PROVIDER} does not serve legacy completions", param="model")


def _refuse_unsupported(payload: JSON) -> None:
    for name, value in payload.items():
        if name in _TRANSLATED or value is None:
            continue
        neutral = _NEUTRAL.get(name, _ABSENT)
        if neutral is not _ABSENT and value == neutral:
            continue
        what = "'n' > 1" if name == "n" else f"'{name}'"
        raise _unsupported(what, name)


def _unsupported(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{PROVIDER} does not support {what}", param=param, code="unsupported_parameter"
    )


def _invalid(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': expected {expected}.", param=param)


def _max_tokens(payload: JSON) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def _stop_sequences(stop: object) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise _invalid("stop", "a string or an array of strings")


def _temperature(value: object, *, drop_params: bool) -> float | None:
    """Anthropic accepts 0 to 1: above 1 is refused, or clamped to 1 with ``drop_params``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if value <= MAX_TEMPERATURE:
        return value
    if drop_params:
        return MAX_TEMPERATURE
    raise _unsupported("'temperature' > 1", "temperature")


# --- messages -------------------------------------------------------------------------------


def _conversation(raw: object, *, drop_params: bool) -> tuple[str, list[JSON]]:
    """The ``system`` text and the merged user/assistant turns."""
    if not isinstance(raw, list):
        raise _invalid("messages", "an array")
    system: list[str] = []
    turns: list[JSON] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid(where, "an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_plain_text(message.get("content"), f"{where}.content"))
            continue
        role, blocks = _turn(message, where, drop_params=drop_params)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(text for text in system if text), [_tidy(turn) for turn in turns]


def _turn(message: JSON, where: str, *, drop_params: bool) -> tuple[str, list[JSON]]:
    role = message.get("role")
    if role == "user":
        return "user", _user_blocks(
            message.get("content"), f"{where}.content", drop_params=drop_params
        )
    if role == "assistant":
        return "assistant", _assistant_blocks(message, where)
    if role == "tool":
        return "user", [_tool_result(message, where)]
    if drop_params:
        return "user", []
    raise _unsupported(f"messages with role '{role}'", f"{where}.role")


def _tidy(turn: JSON) -> JSON:
    """Tool results first (Anthropic's rule); a lone plain text block as a string."""
    blocks: list[JSON] = turn["content"]
    blocks.sort(key=lambda block: block["type"] != "tool_result")
    if len(blocks) == 1 and blocks[0].keys() == {"type", "text"}:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _plain_text(content: object, where: str) -> str:
    """A string, or the text parts of a content array joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    raise _invalid(where, "a string or an array of content parts")


def _user_blocks(content: object, where: str, *, drop_params: bool) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _invalid(where, "a string or an array of content parts")
    blocks = []
    for index, part in enumerate(content):
        block = _user_part(part, f"{where}[{index}]", drop_params=drop_params)
        if block is not None:
            blocks.append(block)
    return blocks


def _user_part(part: object, where: str, *, drop_params: bool) -> JSON | None:
    if not isinstance(part, dict):
        raise _invalid(where, "an object")
    kind = part.get("type")
    block: JSON
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _invalid(f"{where}.text", "a string")
        if not text:
            return None
        block = {"type": "text", "text": text}
    elif kind == "image_url":
        block = _image(part.get("image_url"), f"{where}.image_url")
    elif drop_params:
        return None
    else:
        raise _unsupported(f"'{kind}' content parts", f"{where}.type")
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _image(value: object, where: str) -> JSON:
    """A data URL as a ``base64`` source, an http(s) URL as a ``url`` source."""
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise _invalid(f"{where}.url", "a string")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    header, comma, data = url.partition(",")
    if url.startswith("data:") and comma and header.endswith(";base64"):
        media_type = header.removeprefix("data:").split(";", 1)[0]
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    raise _invalid(f"{where}.url", "an http(s) URL or a base64 data URL")


def _assistant_blocks(message: JSON, where: str) -> list[JSON]:
    """Optional text, then one ``tool_use`` block per tool call."""
    content = message.get("content")
    if isinstance(content, list):  # text and refusal parts
        text = "".join(
            str(part.get("text") or part.get("refusal") or "")
            for part in content
            if isinstance(part, dict)
        )
    else:
        text = _plain_text(content, f"{where}.content")
    blocks: list[JSON] = [{"type": "text", "text": text}] if text else []
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _invalid(f"{where}.tool_calls", "an array")
    blocks.extend(_tool_use(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(calls))
    return blocks


def _tool_use(call: object, where: str) -> JSON:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or not isinstance(function, dict):
        raise _invalid(where, "a function tool call")
    call_id, name = call.get("id"), function.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise _invalid(where, "a tool call with an 'id' and a function 'name'")
    return {"type": "tool_use", "id": call_id, "name": name, "input": _arguments(function)}


def _arguments(function: JSON) -> JSON:
    """The parsed ``arguments``; ``{}`` when empty or not a JSON object."""
    raw = function.get("arguments")
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_result(message: JSON, where: str) -> JSON:
    tool_use_id = message.get("tool_call_id")
    if not isinstance(tool_use_id, str):
        raise _invalid(f"{where}.tool_call_id", "a string")
    block: JSON = {"type": "tool_result", "tool_use_id": tool_use_id}
    content = message.get("content")
    if isinstance(content, list):
        parts = [
            {"type": "text", "text": part["text"]}
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and part.get("text")
        ]
        if parts:
            block["content"] = parts
    elif content:
        block["content"] = _plain_text(content, f"{where}.content")
    return block


# --- tools ------------------------------------------------------------------------------------


def _tool_fields(payload: JSON, *, drop_params: bool) -> JSON:
    """``tools`` and ``tool_choice``, including the tool that stands for ``response_format``."""
    tools = _tools(payload.get("tools"), drop_params=drop_params)
    choice = _tool_choice(payload.get("tool_choice"), drop_params=drop_params)
    schema = _response_schema(payload.get("response_format"), drop_params=drop_params)
    if schema is not None:
        if not tools:  # with tools of its own the model chooses; otherwise it must answer so
            choice = {"type": "tool", "name": RESPONSE_TOOL}
        tools.append(
            {
                "name": RESPONSE_TOOL,
                "description": _RESPONSE_TOOL_DESCRIPTION,
                "input_schema": schema,
            }
        )
    if not tools:
        return {}
    if payload.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return {"tools": tools, "tool_choice": choice} if choice else {"tools": tools}


def _tools(raw: object, *, drop_params: bool) -> list[JSON]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid("tools", "an array")
    tools = []
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _invalid(where, "an object")
        if tool.get("type", "function") != "function":
            if drop_params:
                continue
            raise _unsupported(f"tools of type '{tool.get('type')}'", f"{where}.type")
        tools.append(_tool(tool.get("function"), f"{where}.function"))
    return tools


def _tool(function: object, where: str) -> JSON:
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _invalid(where, "an object with a 'name'")
    spec: JSON = {"name": function["name"]}
    if function.get("description"):
        spec["description"] = function["description"]
    spec["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return spec


def _tool_choice(raw: object, *, drop_params: bool) -> JSON | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw in _TOOL_CHOICES:
        return dict(_TOOL_CHOICES[raw])
    if isinstance(raw, dict) and raw.get("type") == "function":
        function = raw.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    if drop_params:
        return None
    raise _invalid("tool_choice", "'auto', 'required', 'none' or a named function")


def _response_schema(raw: object, *, drop_params: bool) -> JSON | None:
    """The schema the answer must follow: ``json_schema``'s, or any object for ``json_object``."""
    kind = raw.get("type") if isinstance(raw, dict) else raw
    if raw is None or kind == "text":
        return None
    if kind == "json_object":
        return dict(_OPEN_OBJECT)
    if kind == "json_schema" and isinstance(raw, dict):
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else dict(_OPEN_OBJECT)
    if drop_params:
        return None
    raise _invalid("response_format", "a 'text', 'json_object' or 'json_schema' format")


def _json_mode(payload: JSON) -> bool:
    """True when the answer comes back through the ``response_format`` tool."""
    response_format = payload.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )


# --- answers ----------------------------------------------------------------------------------


def chat_completion(message: JSON, *, json_mode: bool, created: int) -> tuple[JSON, Usage]:
    """A ``message`` as a ``chat.completion`` object, and its usage."""
    texts: list[str] = []
    calls: list[JSON] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use" and json_mode and block.get("name") == RESPONSE_TOOL:
            texts.append(orjson.dumps(block.get("input") or {}).decode())
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        # thinking, redacted_thinking and server-tool blocks have no OpenAI equivalent: dropped
    reply: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        reply["tool_calls"] = calls
    usage = _usage(message.get("usage"))
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(message.get("stop_reason"), has_tool_calls=bool(calls)),
    }
    completion = {
        "id": str(message.get("id") or ""),
        "object": "chat.completion",
        "created": created,
        "model": str(message.get("model") or ""),
        "choices": [choice],
        "usage": usage_json(usage),
    }
    return completion, usage


def _tool_call(block: JSON) -> JSON:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    function = {"name": str(block.get("name") or ""), "arguments": arguments}
    return {"id": str(block.get("id") or ""), "type": "function", "function": function}


def finish_reason(stop_reason: object, *, has_tool_calls: bool) -> str:
    """OpenAI's ``finish_reason`` for a ``stop_reason`` (a ``response_format`` tool is ``stop``)."""
    reason = _FINISH_REASONS.get(str(stop_reason), "stop")
    return "stop" if reason == "tool_calls" and not has_tool_calls else reason


def _usage(raw: object) -> Usage:
    """Prompt tokens are input plus cache reads plus cache writes; reads are the cached ones."""
    counts = raw if isinstance(raw, dict) else {}
    cache_read = _count(counts, "cache_read_input_tokens")
    prompt = _count(counts, "input_tokens") + cache_read
    prompt += _count(counts, "cache_creation_input_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=_count(counts, "output_tokens"),
        cached_tokens=cache_read,
    )


def _count(counts: Mapping[str, object], name: str) -> int:
    value = counts.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_json(usage: Usage) -> JSON:
    """OpenAI's ``usage`` object."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


# --- streams ----------------------------------------------------------------------------------


class AnthropicStreamTranslator:
    """Anthropic's stream events as ``chat.completion.chunk`` bytes.

    Tool calls are numbered per message (0, 1, …), not by Anthropic's block index. A usage chunk
    (``choices: []``) follows the finish chunk when the client asked for ``include_usage``;
    ``usage`` is kept either way.
    """

    __slots__ = (
        "_blocks",
        "_counts",
        "_done",
        "_head",
        "_include_usage",
        "_json_mode",
        "_tool_calls",
        "usage",
    )

    def __init__(self, *, created: int, include_usage: bool, json_mode: bool) -> None:
        self._head: JSON = {
            "id": "",
            "object": "chat.completion.chunk",
            "created": created,
            "model": "",
        }
        self._include_usage = include_usage
        self._json_mode = json_mode
        self._blocks: dict[int, int | None] = {}  # block index → tool call number (None: text)
        self._tool_calls = 0
        self._counts: dict[str, object] = {}
        self._done = False
        self.usage: Usage | None = None

    @property
    def done(self) -> bool:
        """True after ``message_stop``."""
        return self._done

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        """The chunks for one event (``ping`` and unknown events give none)."""
        data = json_object(event.data, PROVIDER, "a stream event")
        kind = data.get("type") or event.event
        if kind == "message_start":
            return self._message_start(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            raise stream_error(data)
        return []  # ping, content_block_stop, and events newer than this code

    def _message_start(self, data: JSON) -> list[bytes]:
        message = data.get("message")
        if not isinstance(message, dict):
            raise bad_response(PROVIDER, "a message_start without a message")
        self._head["id"] = str(message.get("id") or "")
        self._head["model"] = str(message.get("model") or "")
        self._count(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: JSON) -> list[bytes]:
        block, index = data.get("content_block"), data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = None
            text = block.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if kind != "tool_use":
            return []  # thinking and server-tool blocks are dropped
        if self._json_mode and block.get("name") == RESPONSE_TOOL:
            self._blocks[index] = None  # its input is the answer's content
            return []
        number = self._blocks[index] = self._tool_calls
        self._tool_calls += 1
        function = {"name": str(block.get("name") or ""), "arguments": ""}
        call = {"index": number, "id": str(block.get("id") or ""), "type": "function"}
        return [self._chunk({"tool_calls": [{**call, "function": function}]})]

    def _block_delta(self, data: JSON) -> list[bytes]:
        delta, index = data.get("delta"), data.get("index")
        if not isinstance(delta, dict) or not isinstance(index, int) or index not in self._blocks:
            return []
        kind = delta.get("type")
        piece = delta.get("text") if kind == "text_delta" else delta.get("partial_json")
        if (
            kind not in ("text_delta", "input_json_delta")
            or not isinstance(piece, str)
            or not piece
        ):
            return []
        number = self._blocks[index]
        if number is None:
            return [self._chunk({"content": piece})]
        return [self._chunk({"tool_calls": [{"index": number, "function": {"arguments": piece}}]})]

    def _message_delta(self, data: JSON) -> list[bytes]:
        self._count(data.get("usage"))
        delta = data.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        finish = finish_reason(stop_reason, has_tool_calls=self._tool_calls > 0)
        return [self._chunk({}, finish)]

    def _message_stop(self) -> list[bytes]:
        self._done = True
        if not self._include_usage or self.usage is None:
            return []
        return [orjson.dumps({**self._head, "choices": [], "usage": usage_json(self.usage)})]

    def _count(self, usage: object) -> None:
        """Merge reported counts (``message_delta`` repeats some; its output count is final)."""
        if isinstance(usage, dict):
            self._counts.update((k, v) for k, v in usage.items() if v is not None)
            self.usage = _usage(self._counts)

    def _chunk(self, delta: JSON, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return orjson.dumps({**self._head, "choices": [choice]})


# --- errors -----------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], fields: JSON) -> UpstreamError:
    """The gateway error for an Anthropic failure, from its status and ``error.type``."""
    kind = fields.get("type") if isinstance(fields.get("type"), str) else None
    if status == 429:
        return UpstreamRateLimited(
            f"The {PROVIDER} deployment is rate limited.",
            upstream_status=status,
            retry_after_s=retry_after_s(headers),
        )
    if status in (401, 402, 403):
        what = "has a billing problem" if status == 402 else "refused the gateway's credentials"
        return UpstreamAuthFailed(
            f"The {PROVIDER} deployment {what} (HTTP {status}).", upstream_status=status
        )
    if status == 408 or status >= 500:
        what = "is overloaded" if status == 529 else "failed"
        return UpstreamUnavailable(
            f"The {PROVIDER} deployment {what} (HTTP {status}).",
            upstream_status=status,
            retry_after_s=retry_after_s(headers),
        )
    if status == 404:
        # The gateway builds the URL and names the model: a 404 is the deployment's config.
        return UpstreamMisconfigured(
            f"The {PROVIDER} deployment's model does not exist upstream (HTTP 404).",
            upstream_status=status,
        )
    message = fields.get("message")
    if not isinstance(message, str) or not message:
        message = f"Upstream answered HTTP {status}."
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": kind}
    return UpstreamRejected(message, code=kind, upstream_status=status, body=body)


def stream_error(data: JSON) -> UpstreamError:
    """An ``error`` event, classified by its ``error.type`` (unknown types count as 500)."""
    fields = data.get("error")
    fields = fields if isinstance(fields, dict) else {}
    return classify(_ERROR_STATUS.get(str(fields.get("type")), 500), {}, fields)


def _error_fields(body: bytes) -> JSON:
    """The ``error`` object of ``{"type": "error", "error": {…}}``, or ``{}``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}

"""Anthropic's Messages API as the fake speaks it: routes, auth, checks, bodies, SSE, errors.

Routes: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``. Every request needs an
``anthropic-version`` header and, when the fake has an ``api_key``, ``x-api-key`` (or Bearer).
Bodies are checked as the real API checks them: ``max_tokens`` required, only ``user`` and
``assistant`` roles, tool results before anything else in their turn, ``temperature`` within
0 to 1, unknown top-level fields refused. Answers reuse ``content``'s deterministic text and
schema-valid tool inputs; streams are ``event:`` + ``data:`` frames in the reference's order,
with one ``ping``. ``count_tokens`` is answered while parsing: it costs nothing, so quota,
faults and latency do not apply to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

from quotaflow.fake.content import (
    ChatPrompt,
    ToolSpec,
    answer_chat,
    estimate_tokens,
    split_chars,
    split_words,
)
from quotaflow.fake.wire import (
    Call,
    Headers,
    Reply,
    ReplyMeta,
    Request,
    Route,
    StreamReply,
    whole_seconds,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.fake.config import FakeProviderConfig
    from quotaflow.fake.content import ChatAnswer
    from quotaflow.fake.quota import QuotaDecision

__all__ = ["AnthropicFormat", "anthropic_error", "sse_frame"]

JSON = dict[str, Any]

_MESSAGES: Final = Route("chat")
_COUNT_TOKENS: Final = Route("chat", path_model="count_tokens")
_ROUTES: Final = {"/v1/messages": _MESSAGES, "/v1/messages/count_tokens": _COUNT_TOKENS}
_FIELDS: Final = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "output_config",
        "service_tier",
        "cache_control",
    }
)
_COUNT_FIELDS: Final = _FIELDS - {"max_tokens", "stream", "stop_sequences", "temperature"}
_BLOCK_TYPES: Final = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)
_TOOL_CHOICES: Final = frozenset({"auto", "any", "tool", "none"})
_STATUS_ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    409: ("conflict_error", "The request conflicted with another request."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}
_RATE_LIMIT_MESSAGE: Final = (
    "Number of request {unit} has exceeded your per-minute rate limit"
    " (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current"
    " usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
)
_ORGANIZATION: Final = b"00000000-0000-4000-8000-0000000000fa"
_ARGUMENT_PIECE_CHARS: Final = 16
PING: Final = b'event: ping\ndata: {"type": "ping"}\n\n'


def anthropic_error(status: int, kind: str, message: str, request_id: str = "") -> Reply:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    return Reply(status, orjson.dumps(_error_json(kind, message, request_id)))


def _error_json(kind: str, message: str, request_id: str) -> JSON:
    error = {"type": "error", "error": {"type": kind, "message": message}}
    return {**error, "request_id": request_id} if request_id else error


def sse_frame(name: str, data: JSON) -> bytes:
    """One ``event: <name>`` + ``data: <json>`` frame."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _invalid(message: str) -> Reply:
    return anthropic_error(400, "invalid_request_error", message)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The content blocks of an answer, why it stopped, and its output tokens."""

    blocks: list[JSON]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int


class AnthropicFormat:
    """``POST /v1/messages`` and ``POST /v1/messages/count_tokens``."""

    def __init__(self, config: FakeProviderConfig) -> None:
        self.config = config
        self._key = config.api_key.encode() if config.api_key else None

    # --- WireFormat -------------------------------------------------------------------------

    def route(self, request: Request) -> Route | Reply:
        """The two POST routes; anything else is ``not_found_error``."""
        route = _ROUTES.get(request.path.rstrip("/"))
        if request.method == "POST" and route is not None:
            return route
        return anthropic_error(404, "not_found_error", "Not found")

    def parse(self, route: Route, request: Request) -> Call | Reply:
        """Auth, ``anthropic-version``, then the body as the real API validates it."""
        body = self._checked_body(route, request)
        if isinstance(body, Reply):
            return body
        model: str = body["model"]
        if self.config.strict_models and model not in self.config.models:
            return anthropic_error(404, "not_found_error", f"model: {model}")
        prompt = chat_prompt(body)
        if route == _COUNT_TOKENS:
            return Reply(200, orjson.dumps({"input_tokens": prompt.prompt_tokens}))
        estimate = estimate_tokens(prompt.texts) + (prompt.max_tokens or 0)
        stream = body.get("stream") is True
        return Call("chat", model, body, prompt.texts, estimate, stream, prompt=prompt, route=route)

    def answer(self, call: Call, meta: ReplyMeta) -> Reply | StreamReply:
        """A ``message``, or its stream of events."""
        prompt = call.prompt or chat_prompt(call.body)
        outcome = _outcome(answer_chat(prompt), call.body, meta.number)
        message = {
            "id": f"msg_fake{meta.number:020d}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": outcome.blocks,
            "stop_reason": outcome.stop_reason,
            "stop_sequence": outcome.stop_sequence,
            "usage": _usage(prompt.prompt_tokens, outcome.output_tokens),
        }
        if not call.stream:
            return Reply(200, orjson.dumps(message), self._headers(meta))
        return StreamReply(self._events(message, outcome), self._headers(meta))

    def error(self, call: Call, status: int, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        """Anthropic's body for ``status``; 429 always, others when given, carry retry-after."""
        default = ("api_error", "Internal server error") if status >= 500 else _STATUS_ERRORS[400]
        kind, message = _STATUS_ERRORS.get(status, default)
        if status == 429 and retry_after_s is None:
            retry_after_s = 1.0
        headers = self._headers(meta)
        if retry_after_s is not None:
            headers.append((b"retry-after", b"%d" % whole_seconds(retry_after_s)))
        if status == 529:
            headers.append((b"x-should-retry", b"true"))
        body = _error_json(kind, message, _request_id(meta))
        return Reply(status, orjson.dumps(body), headers)

    def rate_limited(self, call: Call, quota: QuotaDecision, meta: ReplyMeta) -> Reply:
        """429 ``rate_limit_error`` with ``retry-after`` and the ``anthropic-ratelimit-*``."""
        unit = "requests" if quota.limited_by == "requests" else "tokens"
        message = _RATE_LIMIT_MESSAGE.format(unit=unit)
        headers = self._headers(meta)
        headers.append((b"retry-after", b"%d" % whole_seconds(quota.retry_after_s)))
        body = _error_json("rate_limit_error", message, _request_id(meta))
        return Reply(429, orjson.dumps(body), headers)

    def error_event(self, error: Reply) -> bytes:
        """The ``event: error`` frame for a failure after the 200 (5xx: ``overloaded_error``)."""
        if error.status < 500:
            return b"event: error\ndata: " + error.body + b"\n\n"
        return sse_frame("error", _error_json("overloaded_error", "Overloaded", ""))

    # --- helpers ------------------------------------------------------------------------------

    def _checked_body(self, route: Route, request: Request) -> JSON | Reply:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        if not request.header(b"anthropic-version"):
            return _invalid("anthropic-version: header is required")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _invalid("There was an error parsing the body of your request.")
        problem = _problem(body, counting=route == _COUNT_TOKENS)
        return body if problem is None else _invalid(problem)

    def _authenticate(self, request: Request) -> Reply | None:
        if self._key is None:
            return None
        sent = request.header(b"x-api-key")
        bearer = request.header(b"authorization")
        if sent == self._key or bearer == b"Bearer " + self._key:
            return None
        message = "x-api-key header is required" if sent is None and bearer is None else None
        return anthropic_error(401, "authentication_error", message or "invalid x-api-key")

    def _headers(self, meta: ReplyMeta) -> Headers:
        headers = [
            (b"request-id", _request_id(meta).encode()),
            (b"anthropic-organization-id", _ORGANIZATION),
        ]
        if meta.quota is not None:
            headers += _rate_limit_headers(meta.quota, meta.created)
        return headers

    def _events(self, message: JSON, outcome: _Outcome) -> list[bytes]:
        """The frames in the reference's order; ``message_delta`` has the final output count."""
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**usage, "output_tokens": min(1, usage["output_tokens"])}
        events = [sse_frame("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(outcome.blocks):
            opening = {**block, "text": ""} if block["type"] == "text" else {**block, "input": {}}
            events.append(_block_event("content_block_start", index, content_block=opening))
            if index == 0:
                events.append(PING)
            events += [
                _block_event("content_block_delta", index, delta=delta)
                for delta in self._deltas(block)
            ]
            events.append(_block_event("content_block_stop", index))
        stop = {"stop_reason": outcome.stop_reason, "stop_sequence": outcome.stop_sequence}
        total = {"output_tokens": usage["output_tokens"]}
        final = {"type": "message_delta", "delta": stop, "usage": total}
        events.append(sse_frame("message_delta", final))
        events.append(sse_frame("message_stop", {"type": "message_stop"}))
        return events

    def _deltas(self, block: JSON) -> list[JSON]:
        if block["type"] == "text":
            pieces = split_words(block["text"], self.config.stream_chunks) if block["text"] else []
            return [{"type": "text_delta", "text": piece} for piece in pieces]
        arguments = orjson.dumps(block["input"]).decode()
        count = self.config.stream_chunks or math.ceil(len(arguments) / _ARGUMENT_PIECE_CHARS)
        pieces = ["", *split_chars(arguments, count)]  # the first fragment is often empty
        return [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]


# --- request checks ---------------------------------------------------------------------------


def _problem(body: Mapping[str, Any], *, counting: bool) -> str | None:
    """The first thing the real API would refuse in ``body``, as its message says it."""
    allowed = _COUNT_FIELDS if counting else _FIELDS
    extra = next((key for key in body if key not in allowed), None)
    if extra is not None:
        return f"{extra}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not counting:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return "max_tokens: Field required"
        if type(max_tokens) is not int or max_tokens < 1:
            return "max_tokens: Input should be a valid integer greater than or equal to 1"
    temperature = body.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and 0 <= temperature <= 1
    ):
        return "temperature: Input should be less than or equal to 1"
    return _messages_problem(body.get("messages")) or _tools_problem(body)


def _messages_problem(messages: object) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"{where}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not all(
            isinstance(block, dict) and block.get("type") in _BLOCK_TYPES for block in content
        ):
            return f"{where}.content: Input should be a valid list of content blocks"
        kinds = [block["type"] for block in content]
        if "tool_result" in kinds[kinds.count("tool_result") :]:
            return f"{where}: tool_result blocks must come first in the message content"
    return None


def _tools_problem(body: Mapping[str, Any]) -> str | None:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for index, tool in enumerate(tools):
        schema = tool.get("input_schema") if isinstance(tool, dict) else None
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{index}.custom.input_schema: Input should be an object schema"
    choice = body.get("tool_choice")
    if choice is not None and (
        not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES
    ):
        return "tool_choice: Input tag does not match any of the expected tags"
    return None


# --- answers ----------------------------------------------------------------------------------


def chat_prompt(body: Mapping[str, Any]) -> ChatPrompt:
    """What the fake's answer depends on, from a (checked) Messages body."""
    messages: list[JSON] = body["messages"]
    texts = [_text(body.get("system"))] if body.get("system") else []
    texts += [_text(message["content"]) for message in messages]
    users = (_text(m["content"], results=False) for m in messages if m["role"] == "user")
    last_user = next((text for text in reversed(list(users)) if text), "")
    answering_results = _has_tool_results(messages[-1])
    output = body.get("output_config")
    output_format = output.get("format") if isinstance(output, dict) else None
    schema = output_format.get("schema") if isinstance(output_format, dict) else None
    return ChatPrompt(
        texts=tuple(texts),
        message_count=len(texts),
        last_user_text=last_user,
        max_tokens=body.get("max_tokens"),
        tool=None if answering_results else _chosen_tool(body),
        response_schema=schema if isinstance(schema, dict) else None,
        json_mode=isinstance(schema, dict),
    )


def _text(content: Any, *, results: bool = True) -> str:
    """The text of a string or of a block list (tool results' text too, if ``results``)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result" and results:
            parts.append(_text(block.get("content")))
    return "".join(parts)


def _has_tool_results(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def _chosen_tool(body: Mapping[str, Any]) -> ToolSpec | None:
    """The named tool, else the first; none without tools or with ``tool_choice: none``."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        tools = [tool for tool in tools if tool.get("name") == choice.get("name")]
    return ToolSpec(str(tools[0]["name"]), tools[0]["input_schema"]) if tools else None


def _outcome(answer: ChatAnswer, body: Mapping[str, Any], number: int) -> _Outcome:
    if answer.tool is not None:
        block = {
            "type": "tool_use",
            "id": f"toolu_fake{number:018d}",
            "name": answer.tool.name,
            "input": orjson.loads(answer.arguments),
        }
        return _Outcome([block], "tool_use", None, answer.completion_tokens)
    text = answer.content or ""
    stop_reason = "max_tokens" if answer.finish_reason == "length" else "end_turn"
    output_tokens = answer.completion_tokens
    hit = _first_stop(text, body.get("stop_sequences"))
    if hit is not None:
        text = text[: text.index(hit)]
        stop_reason, output_tokens = "stop_sequence", len(text.split())
    blocks = [{"type": "text", "text": text}] if text else []
    return _Outcome(blocks, stop_reason, hit, output_tokens)


def _first_stop(text: str, sequences: object) -> str | None:
    """The stop sequence that occurs first in ``text``, if any."""
    if not isinstance(sequences, list):
        return None
    found = [(text.index(s), s) for s in sequences if isinstance(s, str) and s and s in text]
    return min(found)[1] if found else None


def _usage(input_tokens: int, output_tokens: int) -> JSON:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _block_event(name: str, index: int, **fields: Any) -> bytes:
    return sse_frame(name, {"type": name, "index": index, **fields})


def _request_id(meta: ReplyMeta) -> str:
    return f"req_fake{meta.number:020d}"


def _rate_limit_headers(quota: QuotaDecision, now: int) -> Headers:
    """Limits per minute as configured; remaining and RFC 3339 reset of the enforced window."""
    headers: Headers = []
    for unit, limit, remaining, reset_s in (
        (b"requests", quota.rpm, quota.remaining_requests, quota.reset_requests_s),
        (b"tokens", quota.tpm, quota.remaining_tokens, quota.reset_tokens_s),
    ):
        if limit is None or remaining is None or reset_s is None:
            continue
        prefix = b"anthropic-ratelimit-" + unit
        headers += [
            (prefix + b"-limit", b"%d" % limit),
            (prefix + b"-remaining", b"%d" % remaining),
            (prefix + b"-reset", _rfc3339(now + reset_s)),
        ]
    return headers


def _rfc3339(timestamp: float) -> bytes:
    """A whole-second UTC time such as ``2026-05-01T12:00:30Z`` (rounded up)."""
    moment = datetime.fromtimestamp(math.ceil(timestamp), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()

"""OpenAI's Responses API for text and function tools, served by chat completions; no stored state.

* ``to_chat``: a Responses request → an OpenAI chat payload (``InvalidRequest`` for what cannot be
  honoured, e.g. ``previous_response_id``: nothing is stored, so the client sends the whole
  conversation in ``input``).
* ``to_response``: a chat completion → a ``response`` object.
* ``ResponseStream``: ``chat.completion.chunk`` bytes → Responses SSE events, each with an
  ``event:`` line and an increasing ``sequence_number``; no ``[DONE]``.

Item ids are ``msg_<hex>_<n>`` and ``fc_<hex>_<n>``, where ``resp_<hex>`` is the response id and
``n`` the item's output index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from quotaflow.inbound._common import JSON, first_choice, invalid, sse_event, text_of
from quotaflow.providers.base import Usage

if TYPE_CHECKING:
    from quotaflow.errors import GatewayError

__all__ = ["ResponseStream", "to_chat", "to_response"]

_SUPPORTED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "user",
        "stream",
    }
)
# Accepted and dropped: without them the answer is still a valid answer to the request.
_IGNORED = frozenset(
    {
        "store",
        "metadata",
        "truncation",
        "include",
        "reasoning",
        "service_tier",
        "stream_options",
        "prompt_cache_key",
        "safety_identifier",
        "background",
    }
)
_STATEFUL = ("previous_response_id", "conversation", "background")
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_MAX_TEMPERATURE = 2


# --- request ----------------------------------------------------------------------------------


def to_chat(body: JSON) -> JSON:
    """The OpenAI chat payload for a Responses request."""
    _check_fields(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "a non-empty string is required.")
    instructions = body.get("instructions")
    system = [{"role": "system", "content": instructions}] if instructions else []
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("instructions", "expected a string.")
    payload: JSON = {"model": model, "messages": [*system, *_input(body.get("input"))]}
    _copy_sampling(body, payload)
    _copy_tools(body, payload)
    _copy_text_format(body.get("text"), payload)
    if isinstance(body.get("user"), str):
        payload["user"] = body["user"]
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "expected a boolean.")
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _check_fields(body: JSON) -> None:
    for name in _STATEFUL:
        if body.get(name):
            raise invalid(
                name,
                "not supported: this gateway stores no responses; "
                "send the whole conversation in 'input' instead.",
            )
    for name in body:
        if name not in _SUPPORTED and name not in _IGNORED and name not in _STATEFUL:
            raise invalid(name, "this parameter is not supported by this gateway's Responses API.")


def _input(value: object) -> list[JSON]:
    if value is None:
        raise invalid("input", "a string or a list of input items is required.")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise invalid("input", "expected a string or a non-empty list of input items.")
    messages: list[JSON] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "expected an object.")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            _add_call(messages, _call(item, where))
        elif kind == "function_call_output":
            messages.append(_call_output(item, where))
        elif kind != "reasoning":
            raise invalid(f"{where}.type", f"input items of type '{kind}' are not supported.")
    return messages


def _message(item: JSON, where: str) -> JSON:
    given = item.get("role")
    role = _ROLES.get(given) if isinstance(given, str) else None
    if role is None:
        raise invalid(f"{where}.role", "expected 'user', 'assistant', 'system' or 'developer'.")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "expected a string or a list of content parts.")
    parts = [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    if role == "user":
        return {"role": role, "content": parts}
    if any(part["type"] != "text" for part in parts):
        raise invalid(f"{where}.content", f"{role} messages may contain text only.")
    return {"role": role, "content": text_of(parts)}


def _part(part: object, where: str) -> JSON:
    if not isinstance(part, dict):
        raise invalid(where, "expected an object.")
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": _string(part, "text", where)}
    if kind == "refusal":
        return {"type": "text", "text": _string(part, "refusal", where)}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise invalid(f"{where}.image_url", "a URL or data URL is required (no file ids).")
        image: JSON = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise invalid(f"{where}.type", f"content parts of type '{kind}' are not supported.")


def _string(item: JSON, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise invalid(f"{where}.{key}", "expected a string.")
    return value


def _call(item: JSON, where: str) -> JSON:
    name, arguments = _string(item, "name", where), _string(item, "arguments", where)
    call_id = _string(item, "call_id", where)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _add_call(messages: list[JSON], call: JSON) -> None:
    """Calls join the assistant message before them, as chat completions expects."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if not last["content"]:
            last["content"] = None
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: JSON, where: str) -> JSON:
    output = item.get("output")
    if isinstance(output, list):
        parts = [_part(part, f"{where}.output[{j}]") for j, part in enumerate(output)]
        if any(part["type"] != "text" for part in parts):
            raise invalid(f"{where}.output", "function call outputs may contain text only.")
        output = text_of(parts)
    if not isinstance(output, str):
        raise invalid(f"{where}.output", "expected a string or a list of text parts.")
    return {"role": "tool", "tool_call_id": _string(item, "call_id", where), "content": output}


def _copy_sampling(body: JSON, payload: JSON) -> None:
    tokens = body.get("max_output_tokens")
    if tokens is not None:
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            raise invalid("max_output_tokens", "expected a positive integer.")
        payload["max_tokens"] = tokens
    for name, high in (("temperature", _MAX_TEMPERATURE), ("top_p", 1)):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= high:
            raise invalid(name, f"expected a number between 0 and {high}.")
        payload[name] = value


def _copy_tools(body: JSON, payload: JSON) -> None:
    tools = body.get("tools")
    if not tools:
        return
    if not isinstance(tools, list):
        raise invalid("tools", "expected a list.")
    payload["tools"] = [_function(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is not None:
        payload["tool_choice"] = _tool_choice(choice)
    parallel = body.get("parallel_tool_calls")
    if isinstance(parallel, bool):
        payload["parallel_tool_calls"] = parallel


def _function(tool: object, where: str) -> JSON:
    if not isinstance(tool, dict):
        raise invalid(where, "expected an object.")
    if tool.get("type") != "function":
        kind = tool.get("type")
        raise invalid(f"{where}.type", f"tools of type '{kind}' are not supported (only function).")
    function: JSON = {"name": _string(tool, "name", where)}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: object) -> object:
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string(choice, "name", "tool_choice")}}
    raise invalid("tool_choice", "expected 'auto', 'none', 'required' or a function.")


def _copy_text_format(text: object, payload: JSON) -> None:
    """``text.format`` → ``response_format``; ``text.verbosity`` is ignored."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise invalid("text.format", "expected an object.")
    kind = fmt.get("type")
    if kind == "json_object":
        payload["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        payload["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif kind != "text":
        raise invalid("text.format.type", "expected 'text', 'json_object' or 'json_schema'.")


# --- response ---------------------------------------------------------------------------------


def to_response(reply: JSON, body: JSON, *, response_id: str, created_at: int) -> JSON:
    """A chat completion as a ``response`` object for the request ``body``."""
    choice = first_choice(reply)
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    status, incomplete = _status(choice.get("finish_reason"))
    hex_id = response_id.removeprefix("resp_")
    output: list[JSON] = []
    parts = []
    if text := text_of(message.get("content")):
        parts.append(_text_part(text))
    if refusal := message.get("refusal"):
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        item = _message_item(hex_id, 0, "completed" if status == "completed" else "incomplete")
        output.append({**item, "content": parts})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") or {}
        item = _function_item(hex_id, len(output), call.get("id") or "", function.get("name") or "")
        output.append({**item, "status": "completed", "arguments": function.get("arguments") or ""})
    return {
        **_skeleton(body, response_id, created_at),
        "status": status,
        "incomplete_details": incomplete,
        "output": output,
        "usage": _usage(Usage.from_openai(reply.get("usage"))),
    }


def _skeleton(body: JSON, response_id: str, created_at: int) -> JSON:
    """The response object before any output: the request's settings, echoed."""
    text = body.get("text") if isinstance(body.get("text"), dict) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": body.get("model"),
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": body.get("temperature", 1.0),
        "text": text or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
    }


def _status(finish: object) -> tuple[str, JSON | None]:
    reason = _INCOMPLETE.get(finish) if isinstance(finish, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(hex_id: str, index: int, status: str) -> JSON:
    item_id = f"msg_{hex_id}_{index}"
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": []}


def _function_item(hex_id: str, index: int, call_id: str, name: str) -> JSON:
    return {
        "id": f"fc_{hex_id}_{index}",
        "type": "function_call",
        "status": "in_progress",
        "call_id": call_id,
        "name": name,
        "arguments": "",
    }


def _usage(usage: Usage | None) -> JSON | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


# --- stream -----------------------------------------------------------------------------------


class ResponseStream:
    """Chat chunks → Responses SSE events; one per streamed answer (a ``Framing``)."""

    __slots__ = (
        "_finish",
        "_hex",
        "_item",
        "_output",
        "_part",
        "_response",
        "_sequence",
        "_tools",
        "_usage",
    )

    def __init__(self, body: JSON, *, response_id: str, created_at: int) -> None:
        self._response = _skeleton(body, response_id, created_at)
        self._hex = response_id.removeprefix("resp_")
        self._sequence = 0
        self._output: list[JSON] = []
        self._item: JSON | None = None
        self._part: JSON | None = None
        self._tools: dict[int, tuple[int, JSON]] = {}
        self._finish: object = None
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
            events += self._text("output_text", text)
        if refusal := delta.get("refusal"):
            events += self._text("refusal", refusal)
        for call in delta.get("tool_calls") or ():
            events += self._tool(call)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return b"".join(events)

    def end(self) -> bytes:
        """Close the open item, then ``response.completed`` (or ``response.incomplete``)."""
        status, incomplete = _status(self._finish)
        events = [*self._start(), *self._close("completed" if status == "completed" else status)]
        response = {
            **self._response,
            "status": status,
            "incomplete_details": incomplete,
            "output": self._output,
            "usage": _usage(self._usage),
        }
        events.append(self._event(f"response.{status}", {"response": response}))
        return b"".join(events)

    def error(self, error: GatewayError) -> bytes:
        """An ``error`` event; the stream ends after it."""
        fields = {"code": error.code, "message": error.message, "param": error.param}
        return self._event("error", fields)

    def _event(self, name: str, fields: JSON) -> bytes:
        data = {"type": name, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return sse_event(name, data)

    def _start(self) -> list[bytes]:
        """``response.created`` and ``response.in_progress``, before anything else."""
        if self._sequence:
            return []
        response = {"response": self._response}
        return [
            self._event("response.created", response),
            self._event("response.in_progress", response),
        ]

    def _text(self, kind: str, text: str) -> list[bytes]:
        events: list[bytes] = []
        item, part = self._item, self._part
        if item is None or part is None or part["type"] != kind:
            events += self._close("completed")
            item, part = self._open_message(kind, events)
        part[kind if kind == "refusal" else "text"] += text
        where = {"item_id": item["id"], "output_index": len(self._output), "content_index": 0}
        extra: JSON = {"logprobs": []} if kind == "output_text" else {}
        return [*events, self._event(f"response.{kind}.delta", {**where, "delta": text, **extra})]

    def _open_message(self, kind: str, events: list[bytes]) -> tuple[JSON, JSON]:
        """Open a message item with one ``kind`` part; its events are appended to ``events``."""
        index = len(self._output)
        item = self._item = _message_item(self._hex, index, "in_progress")
        part = self._part = _text_part("") if kind == "output_text" else {"type": kind, kind: ""}
        events.append(
            self._event("response.output_item.added", {"output_index": index, "item": item})
        )
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        events.append(self._event("response.content_part.added", {**where, "part": part}))
        return item, part

    def _tool(self, call: JSON) -> list[bytes]:
        function = call.get("function") or {}
        events: list[bytes] = []
        known = self._tools.get(call.get("index", 0))
        if known is None:
            events += self._close("completed")
            index = len(self._output)
            item = _function_item(
                self._hex, index, call.get("id") or "", function.get("name") or ""
            )
            self._item = item
            known = self._tools[call.get("index", 0)] = (index, item)
            events.append(
                self._event("response.output_item.added", {"output_index": index, "item": item})
            )
        index, item = known
        if arguments := function.get("arguments"):
            item["arguments"] += arguments
            where = {"item_id": item["id"], "output_index": index}
            events.append(
                self._event("response.function_call_arguments.delta", {**where, "delta": arguments})
            )
        return events

    def _close(self, status: str) -> list[bytes]:
        item, part = self._item, self._part
        if item is None:
            return []
        index = len(self._output)
        where = {"item_id": item["id"], "output_index": index}
        events: list[bytes] = []
        if part is not None:
            kind = part["type"]
            value = {"text": part["text"], "logprobs": []} if kind == "output_text" else part
            at = {**where, "content_index": 0}
            events.append(self._event(f"response.{kind}.done", {**at, **_without_type(value)}))
            events.append(self._event("response.content_part.done", {**at, "part": part}))
            item["content"] = [part]
        else:
            done = {**where, "name": item["name"], "arguments": item["arguments"]}
            events.append(self._event("response.function_call_arguments.done", done))
        item["status"] = status
        events.append(
            self._event("response.output_item.done", {"output_index": index, "item": item})
        )
        self._output.append(item)
        self._item = self._part = None
        return events


def _without_type(value: JSON) -> JSON:
    return {k: v for k, v in value.items() if k != "type"}

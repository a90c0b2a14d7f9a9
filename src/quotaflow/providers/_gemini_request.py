"""OpenAI chat payload → Gemini ``GenerateContentRequest`` (the request half of ``gemini.py``).

Raises ``InvalidRequest`` naming the parameter for whatever Gemini cannot honour; see the
``gemini`` module docstring for the decisions. Tool-call ids are minted here too, because a
``thoughtSignature`` travels inside them (``call_<24 hex>.ts.<signature>``) and must be read back
from the next request.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from quotaflow.errors import InvalidRequest
from quotaflow.providers._gemini_schema import gemini_schema

__all__ = ["check_parameters", "mint_call_id", "request_body"]

JSON = dict[str, Any]

# OpenAI parameter → ``generationConfig`` field, for values that pass unchanged.
_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "top_logprobs": "logprobs",
}
_HANDLED = frozenset(
    {
        *_GENERATION,
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "user",  # an end-user id for abuse monitoring: nothing to forward it to
    }
)
# Parameters Gemini lacks, with OpenAI's default value, which asks for nothing and so passes.
_NO_OPS: dict[str, object] = {
    "parallel_tool_calls": True,
    "service_tier": "auto",
    "store": False,
    "logit_bias": {},
}
_TOOL_CHOICE_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
_CALL_ID = re.compile(r"call_[0-9a-f]{24}(?:\.ts\.(?P<signature>[A-Za-z0-9+/=_-]+))?")


def mint_call_id(seed: str, signature: object) -> str:
    """A tool-call id derived from ``seed``, carrying the ``thoughtSignature`` if there is one."""
    call_id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
    if isinstance(signature, str) and signature:
        call_id += f".ts.{signature}"
    return call_id


def _signature(call_id: str) -> str | None:
    """The ``thoughtSignature`` inside an id this module minted."""
    match = _CALL_ID.fullmatch(call_id)
    return match["signature"] if match else None


def request_body(payload: JSON) -> JSON:
    """The ``GenerateContentRequest`` for an OpenAI chat payload."""
    system, contents = _conversation(payload.get("messages"))
    if not contents:
        raise InvalidRequest(
            "The gemini provider needs at least one user or assistant message.", param="messages"
        )
    body: JSON = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = _tools(payload.get("tools"))
    if tools:
        body["tools"] = [{"functionDeclarations": tools}]
    tool_choice = payload.get("tool_choice")
    if tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(tool_choice)}
    config = _generation_config(payload)
    if config:
        body["generationConfig"] = config
    return body


def check_parameters(payload: JSON, *, drop: bool) -> None:
    """Refuse a set parameter Gemini has no equivalent for (unless ``drop``: then it is ignored)."""
    if drop:
        return
    for name, value in payload.items():
        if not _supported(name, value):
            raise InvalidRequest(
                f"Unsupported parameter: '{name}' is not supported by gemini. Remove it, or set"
                " drop_params: true on the deployment (or in litellm_settings) to have it dropped.",
                param=name,
                code="unsupported_parameter",
            )


def _supported(name: str, value: object) -> bool:
    if value is None:
        return True
    if name in _NO_OPS:
        default = _NO_OPS[name]
        return value == default and type(value) is type(default)
    return name in _HANDLED


def _generation_config(payload: JSON) -> JSON:
    config: JSON = {}
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for name, field in _GENERATION.items():
        if payload.get(name) is not None:
            config[field] = payload[name]
    stop = payload.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    if payload.get("logprobs") is True:
        config["responseLogprobs"] = True
    config.update(_response_format(payload.get("response_format")))
    return config


def _response_format(value: object) -> JSON:
    if value is None:
        return {}
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema" and isinstance(value, dict):
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _invalid("response_format.json_schema.schema", "a JSON schema object")
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise _invalid("response_format.type", "one of text, json_object, json_schema")


def _tools(tools: object) -> list[JSON]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid("tools", "an array of function tools")
    return [_declaration(tool, f"tools[{i}]") for i, tool in enumerate(tools)]


def _declaration(tool: object, where: str) -> JSON:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise InvalidRequest(
            "The gemini provider supports only function tools.", param=f"{where}.type"
        )
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(function, dict) or not isinstance(name, str) or not name:
        raise _invalid(f"{where}.function.name", "a function name")
    declaration: JSON = {"name": name}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        schema = gemini_schema(parameters, f"{where}.function.parameters")
        if schema.get("properties") or schema.get("type") != "OBJECT":
            declaration["parameters"] = schema  # Gemini refuses an OBJECT without properties
    return declaration


def _calling_config(choice: object) -> JSON:
    if isinstance(choice, str) and choice in _TOOL_CHOICE_MODES:
        return {"mode": _TOOL_CHOICE_MODES[choice]}
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(name, str):
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise _invalid("tool_choice", "auto, required, none or a named function")


def _conversation(messages: object) -> tuple[list[JSON], list[JSON]]:
    """``systemInstruction`` parts and ``contents``; tool calls are named by their id."""
    if not isinstance(messages, list):
        raise _invalid("messages", "an array")
    system: list[JSON] = []
    contents: list[JSON] = []
    names: dict[str, str] = {}  # tool_call_id → function name, from earlier assistant messages
    after_tool = False
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(where, "an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system += [{"text": text} for text in _texts(message.get("content"), where)]
        elif role == "user":
            contents.append({"role": "user", "parts": _user_parts(message.get("content"), where)})
        elif role == "assistant":
            parts = _assistant_parts(message, where, names)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            part = _function_response(message, where, names)
            if after_tool:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise InvalidRequest(
                f"The gemini provider does not support '{role}' messages; use tool messages.",
                param=f"{where}.role",
            )
        after_tool = role == "tool"
    return system, contents


def _texts(content: object, where: str) -> list[str]:
    """The texts of a string or an array of ``text`` (or ``refusal``) parts; empty ones left out."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise _invalid(f"{where}.content", "a string or an array of text parts")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get(kind) if isinstance(part, dict) and kind in ("text", "refusal") else None
        if not isinstance(text, str):
            raise _invalid(f"{where}.content[{j}]", "a text part")
        if text:
            texts.append(text)
    return texts


def _user_parts(content: object, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list) or not content:
        raise _invalid(f"{where}.content", "a string or a non-empty array of content parts")
    return [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _user_part(part: object, where: str) -> JSON:
    kind = part.get("type") if isinstance(part, dict) else None
    value = part.get(kind) if isinstance(part, dict) and isinstance(kind, str) else None
    if kind == "text" and isinstance(value, str):
        return {"text": value}
    if kind == "image_url" and isinstance(value, dict):
        return _inline_data(value.get("url"), f"{where}.image_url")
    if kind == "input_audio" and isinstance(value, dict):
        data, audio_format = value.get("data"), value.get("format")
        if isinstance(data, str) and isinstance(audio_format, str):
            return {"inlineData": {"mimeType": f"audio/{audio_format}", "data": data}}
    if kind == "file" and isinstance(value, dict) and "file_data" in value:
        return _inline_data(value.get("file_data"), f"{where}.file.file_data")
    raise InvalidRequest(
        f"The gemini provider does not support this content part ({kind!r}); send text, inline"
        " images and audio, or files as data URLs.",
        param=where,
    )


def _inline_data(url: object, where: str) -> JSON:
    """A ``data:<mime>;base64,<data>`` URL as an ``inlineData`` part."""
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        raise InvalidRequest(
            f"Invalid '{where}': Gemini needs inline data; the gateway does not download"
            " http(s) URLs. Send a data URL (data:image/png;base64,…) instead.",
            param=where,
            code="invalid_image_url",
        )
    header, comma, data = url.partition(",") if isinstance(url, str) else ("", "", "")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise _invalid(where, "a base64 data URL (data:<mime type>;base64,<data>)")
    mime_type = header.removeprefix("data:").partition(";")[0] or "application/octet-stream"
    return {"inlineData": {"mimeType": mime_type, "data": data}}


def _assistant_parts(message: JSON, where: str, names: dict[str, str]) -> list[JSON]:
    parts: list[JSON] = [{"text": text} for text in _texts(message.get("content"), where)]
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _invalid(f"{where}.tool_calls", "an array")
    for k, call in enumerate(calls):
        parts.append(_function_call(call, f"{where}.tool_calls[{k}]", names))
    return parts


def _function_call(call: object, where: str, names: dict[str, str]) -> JSON:
    function = call.get("function") if isinstance(call, dict) else None
    call_id = call.get("id") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(function, dict) or not isinstance(name, str) or not isinstance(call_id, str):
        raise _invalid(where, "a function tool call with an id and a name")
    try:
        args = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise _invalid(f"{where}.function.arguments", "a JSON object")
    names[call_id] = name
    part: JSON = {"functionCall": {"name": name, "args": args}}
    signature = _signature(call_id)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(message: JSON, where: str, names: dict[str, str]) -> JSON:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise InvalidRequest(
            f"Invalid '{where}.tool_call_id': no earlier assistant tool call has the id"
            f" {call_id!r}; the gemini provider needs it to name the function.",
            param=f"{where}.tool_call_id",
        )
    text = "".join(_texts(message.get("content"), where))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = None
    response = result if isinstance(result, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _invalid(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': expected {expected}.", param=param)

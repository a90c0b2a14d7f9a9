"""Google's Gemini API (``v1beta``) as the fake speaks it: routes, auth, bodies, SSE, errors.

Routes: ``POST /v1beta/models/{model}:generateContent``, ``…:streamGenerateContent`` (SSE with
``?alt=sse``, otherwise one JSON array), ``GET /v1beta/models`` and ``/v1beta/models/{model}``.
The key comes in ``x-goog-api-key`` or ``?key=``: none is a 403 ``PERMISSION_DENIED``, a wrong
one a 400 ``INVALID_ARGUMENT`` with ``ErrorInfo.reason: API_KEY_INVALID``.

Requests are read with proto-JSON rules (``systemInstruction`` or ``system_instruction``);
unknown keys in a function's ``parameters`` schema are refused as Gemini refuses them.
Responses are camelCase; function calls carry no id (but a ``thoughtSignature``, as thinking
models send); stream events are ``data: …\\r\\n\\r\\n`` with cumulative ``usageMetadata`` and no
``[DONE]``. A prompt containing the content-filter trigger is blocked: 200, no candidates,
``promptFeedback.blockReason: SAFETY``. Errors are ``{"error": {code, message, status,
details}}``; a 429 is ``RESOURCE_EXHAUSTED`` with ``RetryInfo.retryDelay`` and never carries
rate-limit headers.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

from quotaflow.fake.content import (
    ChatPrompt,
    ToolSpec,
    answer_chat,
    estimate_tokens,
    split_chars,
    split_words,
)
from quotaflow.fake.wire import Call, Reply, ReplyMeta, Request, Route, StreamReply, whole_seconds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.fake.config import FakeProviderConfig
    from quotaflow.fake.content import ChatAnswer
    from quotaflow.fake.quota import QuotaDecision

__all__ = ["GeminiFormat", "GeminiRoute", "gemini_error"]

JSON = dict[str, Any]

_METHOD = re.compile(r"/v1beta/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)")
_GENERATE = "generateContent"
_STREAM = "streamGenerateContent"
_EVENT_END = b"\r\n\r\n"
_ARGUMENT_PIECE_CHARS = 16
_GRPC_STATUS: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES: Final = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    500: "An internal error has occurred. Please retry or report in"
    " https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_TYPE = "type.googleapis.com/google.rpc."
_HELP: Final = {
    "@type": _TYPE + "Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}
_PART_FIELDS: Final = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
# The keys Gemini's ``Schema`` message has (as sent in camel or snake case).
_SCHEMA_KEYS: Final = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_SAFETY_RATINGS: Final = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


@dataclass(frozen=True, slots=True)
class GeminiRoute(Route):
    """A Gemini route, with the method the path names and whether ``alt=sse`` was asked for."""

    method: str = _GENERATE
    sse: bool = False


def gemini_error(
    status: int, message: str, *, grpc: str | None = None, details: Sequence[JSON] = ()
) -> Reply:
    """An error in Gemini's shape: ``{"error": {code, message, status, details?}}``."""
    error: JSON = {
        "code": status,
        "message": message,
        "status": grpc or _GRPC_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = list(details)
    return Reply(status, orjson.dumps({"error": error}))


def _pick(obj: object, camel: str) -> Any:
    """A field by its camelCase name or, as proto-JSON allows, its snake_case one."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), camel))


def _positive_int(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


class GeminiFormat:
    """``generateContent``, ``streamGenerateContent`` and the model list of ``v1beta``."""

    def __init__(self, config: FakeProviderConfig) -> None:
        self.config = config
        self._key = config.api_key

    # --- WireFormat -------------------------------------------------------------------------

    def route(self, request: Request) -> Route | Reply:
        """``POST …/models/{model}:{method}`` and ``GET …/models[/{model}]``."""
        path = request.path.rstrip("/")
        match = _METHOD.fullmatch(path)
        if match and request.method == "POST" and match["method"] in (_GENERATE, _STREAM):
            sse = _query(request.query, "alt") == "sse"
            return GeminiRoute("chat", match["model"], "v1beta", match["method"], sse)
        if request.method == "GET" and path == "/v1beta/models":
            return Route("models", api_version="v1beta")
        if request.method == "GET" and path.startswith("/v1beta/models/") and not match:
            return Route("models", path.removeprefix("/v1beta/models/"), "v1beta")
        return gemini_error(404, f"Method not found: {request.method} {request.path}")

    def parse(self, route: Route, request: Request) -> Call | Reply:
        """Auth, the JSON body and its contents, tools and generation config."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if route.operation == "models":
            return Call("models", route.path_model or "", {}, route=route)
        model = route.path_model or ""
        strict = self.config.strict_models and not model.startswith("fake-")
        if strict and model not in self.config.models:
            return _model_not_found(model)
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return gemini_error(400, "Invalid JSON payload received. Unexpected token.")
        problem = _contents_problem(_pick(body, "contents")) or _tools_problem(body)
        if problem is not None:
            return gemini_error(400, problem)
        prompt = _prompt(body)
        reserve = prompt.max_tokens or self.config.default_max_tokens
        estimate = estimate_tokens(prompt.texts) + reserve * prompt.n
        stream = isinstance(route, GeminiRoute) and route.method == _STREAM
        return Call("chat", model, body, prompt.texts, estimate, stream, stream, prompt, route)

    def answer(self, call: Call, meta: ReplyMeta) -> Reply | StreamReply:
        """The model list, or the answer as one object, an SSE stream or a JSON array."""
        if call.prompt is None:
            return self._models(call.model)
        events = self._events(call, call.prompt, meta)
        if not call.stream:
            return Reply(200, orjson.dumps(events[0]))
        if isinstance(call.route, GeminiRoute) and call.route.sse:
            return StreamReply([b"data: " + orjson.dumps(e) + _EVENT_END for e in events])
        return Reply(200, b"[" + b",\r\n".join(orjson.dumps(e) for e in events) + b"]")

    def error(self, call: Call, status: int, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        """Gemini's body for ``status``; a 429 says when to retry only if a hint was given."""
        if status == 429:
            return self._exhausted(call, "requests", None, retry_after_s)
        return gemini_error(status, _STATUS_MESSAGES.get(status, "Unknown error."))

    def rate_limited(self, call: Call, quota: QuotaDecision, meta: ReplyMeta) -> Reply:
        """429 ``RESOURCE_EXHAUSTED`` naming the quota, with ``RetryInfo.retryDelay``."""
        kind = quota.limited_by or "requests"
        limit = quota.rpm if kind == "requests" else quota.tpm
        return self._exhausted(call, kind, limit, quota.retry_after_s)

    # --- answers ------------------------------------------------------------------------------

    def _events(self, call: Call, prompt: ChatPrompt, meta: ReplyMeta) -> list[JSON]:
        """The answer as ``GenerateContentResponse``s: one, or one per stream event."""
        tail = {"modelVersion": call.model, "responseId": f"fakeResponse{meta.number:012d}"}
        trigger = self.config.content_filter_trigger
        if trigger and any(trigger in text for text in prompt.texts):
            feedback = {"blockReason": "SAFETY", "safetyRatings": _SAFETY_RATINGS}
            usage = _usage(prompt.prompt_tokens, 0)
            return [{"promptFeedback": feedback, "usageMetadata": usage, **tail}]
        answer = answer_chat(prompt)
        pieces = self._pieces(prompt, answer) if call.stream else [_parts(answer)]
        events = []
        for k, parts in enumerate(pieces):
            last = k == len(pieces) - 1
            candidate: JSON = {"content": {"parts": parts, "role": "model"}}
            if last:
                candidate["finishReason"] = (
                    "MAX_TOKENS" if answer.finish_reason == "length" else "STOP"
                )
            used = answer.completion_tokens * (k + 1) // len(pieces)
            events.append(
                {
                    "candidates": [{**candidate, "index": i} for i in range(prompt.n)],
                    "usageMetadata": _usage(prompt.prompt_tokens, used),
                    **tail,
                }
            )
        return events

    def _pieces(self, prompt: ChatPrompt, answer: ChatAnswer) -> list[list[JSON]]:
        """Each stream event's parts: a function call whole, text in word or character runs."""
        if answer.tool is not None:
            return [_parts(answer)]
        content = answer.content or ""
        if prompt.json_mode:
            count = self.config.stream_chunks or math.ceil(len(content) / _ARGUMENT_PIECE_CHARS)
            pieces = split_chars(content, count) or [""]
        else:
            pieces = split_words(content, self.config.stream_chunks)
        return [[{"text": piece}] for piece in pieces]

    def _models(self, model: str) -> Reply:
        if not model:
            models = [_model_object(m) for m in self.config.models]
            return Reply(200, orjson.dumps({"models": models}))
        if model not in self.config.models:
            return _model_not_found(model)
        return Reply(200, orjson.dumps(_model_object(model)))

    def _exhausted(
        self, call: Call, kind: str, limit: int | None, retry_after_s: float | None
    ) -> Reply:
        unit = "input_token_count" if kind == "tokens" else "requests"
        quota_id = "InputTokensPerModelPerMinute" if kind == "tokens" else "RequestsPerMinute"
        violation: JSON = {
            "quotaMetric": f"generativelanguage.googleapis.com/generate_content_paid_tier_{unit}",
            "quotaId": f"GenerateContent{quota_id}PerProjectPerModel-PaidTier",
            "quotaDimensions": {"location": "global", "model": call.model},
        }
        if limit is not None:
            violation["quotaValue"] = str(limit)
        details: list[JSON] = [
            {"@type": _TYPE + "QuotaFailure", "violations": [violation]},
            _HELP,
        ]
        message = (
            "You exceeded your current quota, please check your plan and billing details. For"
            " more information on this error, head to:"
            " https://ai.google.dev/gemini-api/docs/rate-limits."
        )
        if retry_after_s is not None:
            seconds = whole_seconds(retry_after_s)
            details.append({"@type": _TYPE + "RetryInfo", "retryDelay": f"{seconds}s"})
            message += f" Please retry in {seconds}s."
        return gemini_error(429, message, details=details)

    def _authenticate(self, request: Request) -> Reply | None:
        if self._key is None:
            return None
        header = request.header(b"x-goog-api-key")
        sent = header.decode("latin-1") if header is not None else _query(request.query, "key")
        if sent == self._key:
            return None
        if not sent:
            return gemini_error(
                403,
                "Method doesn't allow unregistered callers (callers without established"
                " identity). Please use API Key or other form of API consumer identity to call"
                " this API.",
            )
        reason = {
            "@type": _TYPE + "ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
        return gemini_error(
            400, "API key not valid. Please pass a valid API key.", details=[reason]
        )


# --- request checks -----------------------------------------------------------------------------


def _contents_problem(contents: Any) -> str | None:
    """What Gemini would refuse in ``contents``, as its message says it."""
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    for i, content in enumerate(contents):
        role = _pick(content, "role")
        if not isinstance(content, dict) or role not in (
            None,
            "",
            "user",
            "model",
            "function",
            "tool",
        ):
            return "Please use a valid role: user, model."
        parts = _pick(content, "parts")
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )
        for j, part in enumerate(parts):
            fields = [name for name in _PART_FIELDS if _pick(part, name) is not None]
            where = f"GenerateContentRequest.contents[{i}].parts[{j}]"
            if len(fields) != 1:
                return (
                    f"* {where}.data: required oneof field 'data' must have one initialized field\n"
                )
            response = _pick(_pick(part, "functionResponse"), "response")
            if fields == ["functionResponse"] and not isinstance(response, dict):
                return f"* {where}.function_response.response: must be an object\n"
    return None


def _tools_problem(body: JSON) -> str | None:
    """An unknown key in a function's ``parameters`` schema, as Gemini reports it."""
    for i, tool in enumerate(_pick(body, "tools") or []):
        for j, declaration in enumerate(_pick(tool, "functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}].parameters"
            unknown = _unknown_schema_key(_pick(declaration, "parameters"), where)
            if unknown is not None:
                name, at = unknown
                return (
                    f"Invalid JSON payload received. Unknown name \"{name}\" at '{at}':"
                    " Cannot find field."
                )
    return None


def _unknown_schema_key(schema: Any, where: str) -> tuple[str, str] | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        camel = re.sub(r"_([a-z])", lambda m: m[1].upper(), key)
        if camel not in _SCHEMA_KEYS:
            return key, where
        subschemas: list[tuple[Any, str]] = []
        if camel == "properties" and isinstance(value, dict):
            subschemas = [(sub, f"{where}.properties[{name}].value") for name, sub in value.items()]
        elif camel == "items":
            subschemas = [(value, f"{where}.items")]
        elif camel == "anyOf" and isinstance(value, list):
            subschemas = [(sub, f"{where}.any_of[{k}]") for k, sub in enumerate(value)]
        for sub, at in subschemas:
            unknown = _unknown_schema_key(sub, at)
            if unknown is not None:
                return unknown
    return None


# --- request → prompt ---------------------------------------------------------------------------


def _prompt(body: JSON) -> ChatPrompt:
    """The answer-relevant part of a ``GenerateContentRequest``."""
    contents: list[Any] = _pick(body, "contents")
    texts = []
    system = _pick(body, "systemInstruction")
    if system is not None:
        texts.append(_text(system))
    last_user = ""
    for content in contents:
        text = _text(content)
        texts.append(text)
        if _pick(content, "role") in (None, "", "user") and text:
            last_user = text
    config = _pick(body, "generationConfig")
    config = config if isinstance(config, dict) else {}
    answered = any(_pick(p, "functionResponse") for p in _pick(contents[-1], "parts"))
    mime_type = _pick(config, "responseMimeType")
    schema = _pick(config, "responseJsonSchema") or _json_schema(_pick(config, "responseSchema"))
    return ChatPrompt(
        texts=tuple(texts),
        message_count=len(texts),
        last_user_text=last_user,
        max_tokens=_positive_int(_pick(config, "maxOutputTokens")),
        n=_positive_int(_pick(config, "candidateCount")) or 1,
        tool=None if answered else _chosen_tool(body),
        response_schema=schema if mime_type == "application/json" and schema else None,
        json_mode=mime_type == "application/json",
    )


def _text(content: Any) -> str:
    parts = _pick(content, "parts")
    if not isinstance(parts, list):
        return ""
    return "".join(t for t in (_pick(p, "text") for p in parts) if isinstance(t, str))


def _chosen_tool(body: JSON) -> ToolSpec | None:
    """The first declared function (of the allowed ones with mode ANY); none with mode NONE."""
    declarations = [
        declaration
        for tool in _pick(body, "tools") or []
        for declaration in _pick(tool, "functionDeclarations") or []
        if isinstance(declaration, dict)
    ]
    config = _pick(_pick(body, "toolConfig"), "functionCallingConfig")
    mode = _pick(config, "mode") or "AUTO"
    allowed = _pick(config, "allowedFunctionNames")
    if mode in ("ANY", "VALIDATED") and isinstance(allowed, list) and allowed:
        declarations = [d for d in declarations if d.get("name") in allowed]
    if mode == "NONE" or not declarations:
        return None
    chosen = declarations[0]
    schema = _pick(chosen, "parametersJsonSchema") or _json_schema(_pick(chosen, "parameters"))
    return ToolSpec(str(chosen.get("name", "")), schema or {"type": "object"})


def _json_schema(schema: Any) -> dict[str, Any] | None:
    """A Gemini ``Schema`` (upper-case types, ``nullable``) as the JSON schema it stands for."""
    if not isinstance(schema, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _json_schema(sub) or {} for name, sub in value.items()}
        elif key == "items":
            out[key] = _json_schema(value) or {}
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            out["anyOf"] = [_json_schema(sub) or {} for sub in value]
        elif key != "nullable":
            out[key] = value
    return out


# --- answer pieces ------------------------------------------------------------------------------


def _parts(answer: ChatAnswer) -> list[JSON]:
    """The whole answer's parts: a function call (no id, with a signature) or its text."""
    if answer.tool is None:
        return [{"text": answer.content or ""}]
    call = {"name": answer.tool.name, "args": orjson.loads(answer.arguments)}
    signature = base64.b64encode(f"fake-signature:{answer.tool.name}".encode()).decode()
    return [{"functionCall": call, "thoughtSignature": signature}]


def _usage(prompt_tokens: int, candidates_tokens: int) -> JSON:
    usage: JSON = {"promptTokenCount": prompt_tokens}
    if candidates_tokens:
        usage["candidatesTokenCount"] = candidates_tokens
    usage["totalTokenCount"] = prompt_tokens + candidates_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    return usage


def _model_object(model: str) -> JSON:
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model,
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": [_GENERATE, "countTokens", _STREAM],
    }


def _model_not_found(model: str) -> Reply:
    return gemini_error(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for"
        " generateContent. Call ListModels to see the list of available models and their"
        " supported methods.",
    )


def _query(query: bytes, name: str) -> str | None:
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == name:
            return value
    return None

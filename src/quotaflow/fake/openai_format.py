"""OpenAI's REST API as the fake speaks it: routes, auth, bodies, SSE, errors, rate-limit headers.

The ``_``-prefixed hooks (auth, model checks, response model, chunk framing, headers, errors)
are what a dialect such as Azure overrides; request parsing and answers are shared.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from quotaflow.fake.content import (
    ChatAnswer,
    ChatPrompt,
    ToolSpec,
    answer_chat,
    answer_text,
    embedding,
    estimate_tokens,
    split_chars,
    split_words,
)
from quotaflow.fake.wire import (
    Call,
    Headers,
    Operation,
    Reply,
    ReplyMeta,
    Request,
    Route,
    StreamReply,
    ceil_millis,
    retry_after_headers,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.fake.config import FakeProviderConfig
    from quotaflow.fake.quota import QuotaDecision

__all__ = ["OpenAIFormat", "chat_prompt", "go_duration", "openai_error"]

DONE = b"data: [DONE]\n\n"
FINGERPRINT = "fp_fake000001"
LEGACY_DEFAULT_MAX_TOKENS = 16
_ARGUMENT_PIECE_CHARS = 16
_MODEL_CREATED = 1715367049

_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: (
        "Country, region, or territory not supported",
        "request_forbidden",
        "unsupported_country_region_territory",
    ),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    408: ("Request timed out.", "timeout", None),
    409: ("The request conflicted with another request.", "conflict", None),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: (
        "The server is overloaded or not ready yet.",
        "service_unavailable_error",
        "server_is_overloaded",
    ),
}


def openai_error(
    status: int,
    message: str,
    error_type: str | None = "invalid_request_error",
    *,
    code: str | None = None,
    param: str | None = None,
) -> Reply:
    """An error in OpenAI's shape: ``{"error": {message, type, param, code}}``."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return Reply(status, orjson.dumps({"error": error}))


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes it in headers and messages: ``20ms``, ``1.4s``, ``6m0s``."""
    millis = ceil_millis(seconds)
    if millis < 1000:
        return f"{millis}ms"
    minutes, rest = divmod(millis, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def chat_prompt(body: Mapping[str, Any]) -> ChatPrompt | None:
    """The answer-relevant part of a chat request body; ``None`` if ``messages`` is unusable."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    texts: list[str] = []
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            return None
        text = _text_of(message.get("content"))
        texts.append(text)
        if message.get("role") == "user":
            last_user = text
    tool = _chosen_tool(body) if messages[-1].get("role") != "tool" else None
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        response_format = {}
    kind, json_schema = response_format.get("type"), response_format.get("json_schema")
    schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
    return ChatPrompt(
        texts=tuple(texts),
        message_count=len(messages),
        last_user_text=last_user,
        max_tokens=_positive_int(body.get("max_completion_tokens"))
        or _positive_int(body.get("max_tokens")),
        n=_positive_int(body.get("n")) or 1,
        tool=tool,
        response_schema=schema if kind == "json_schema" and isinstance(schema, dict) else None,
        json_mode=kind in ("json_object", "json_schema"),
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _chosen_tool(body: Mapping[str, Any]) -> ToolSpec | None:
    """The forced function, else the first; none without tools or with ``tool_choice: none``."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    functions = [t["function"] for t in tools if isinstance(t, dict) and "function" in t]
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name")
        functions = [f for f in functions if f.get("name") == wanted]
    if not functions:
        return None
    chosen = functions[0]
    return ToolSpec(str(chosen.get("name", "")), chosen.get("parameters") or {"type": "object"})


def _positive_int(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def _inputs(value: Any) -> tuple[str, ...] | None:
    """Embedding or completion inputs as texts (token-id arrays become their numbers)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        return None
    if all(type(v) is int for v in value):
        return (" ".join(map(str, value)),)
    if all(isinstance(v, str) for v in value):
        return tuple(value)
    if all(isinstance(v, list) for v in value):
        return tuple(" ".join(map(str, v)) for v in value)
    return None


class OpenAIFormat:
    """``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/models``."""

    _routes: ClassVar[dict[tuple[str, str], Route]] = {
        ("POST", "/chat/completions"): Route("chat"),
        ("POST", "/completions"): Route("completions"),
        ("POST", "/embeddings"): Route("embeddings"),
        ("GET", "/models"): Route("models"),
    }

    def __init__(self, config: FakeProviderConfig) -> None:
        self.config = config
        self._bearer = b"Bearer " + config.api_key.encode() if config.api_key else None
        self._models_body = orjson.dumps(
            {"object": "list", "data": [self._model_object(m) for m in config.models]}
        )

    # --- WireFormat -------------------------------------------------------------------------

    def route(self, request: Request) -> Route | Reply:
        """Match ``/v1/…`` (or the same without ``/v1``)."""
        path = request.path.rstrip("/").removeprefix("/v1")
        route = self._routes.get((request.method, path))
        if route is not None:
            return route
        if request.method == "GET" and path.startswith("/models/"):
            return Route("models", path_model=path.removeprefix("/models/"))
        return openai_error(404, f"Invalid URL ({request.method} {request.path})")

    def parse(self, route: Route, request: Request) -> Call | Reply:
        """Auth, then the JSON body, the model and the operation's fields."""
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if route.operation == "models":
            return Call("models", route.path_model or "", {}, route=route)
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return openai_error(400, "We could not parse the JSON body of your request.")
        model = self._model_of(route, body)
        if not isinstance(model, str) or not model:
            return openai_error(400, "you must provide a model parameter")
        rejected = self._check_model(model)
        if rejected is not None:
            return rejected
        call = self._build(route, model, body)
        return self._screen(call) if isinstance(call, Call) else call

    def answer(self, call: Call, meta: ReplyMeta) -> Reply | StreamReply:
        """Dispatch on the operation."""
        prompt = call.prompt
        if prompt is None:
            if call.operation == "embeddings":
                return self._embeddings(call, meta)
            return self._models(call, meta)
        if call.operation == "chat":
            return self._chat(call, prompt, meta)
        return self._completion(call, prompt, meta)

    def error(self, call: Call, status: int, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        """OpenAI's body for ``status``; 429s (and any given hint) carry retry-after headers."""
        if status == 429:
            retry_after_s = 1.0 if retry_after_s is None else retry_after_s
            message = (
                f"Rate limit reached for {call.model} in organization org-fake on requests per"
                f" min (RPM). Please try again in {go_duration(retry_after_s)}."
            )
            reply = openai_error(429, message, "requests", code="rate_limit_exceeded")
        else:
            message, kind, code = _STATUS_ERRORS.get(
                status,
                (
                    "Upstream error.",
                    "server_error" if status >= 500 else "invalid_request_error",
                    None,
                ),
            )
            reply = openai_error(status, message, kind, code=code)
        return self._with_headers(reply, meta, retry_after_s)

    def rate_limited(self, call: Call, quota: QuotaDecision, meta: ReplyMeta) -> Reply:
        """429 with ``type`` ``tokens``/``requests`` and "Please try again in …"."""
        wait = go_duration(quota.retry_after_s)
        if quota.limited_by == "requests":
            limit = math.ceil((quota.rpm or 0) / 6)
            used, kind, unit = limit - (quota.remaining_requests or 0), "requests", "RPM"
            requested, limit = 1, quota.rpm or 0
        else:
            limit = quota.tpm or 0
            used, kind, unit = limit - (quota.remaining_tokens or 0), "tokens", "TPM"
            requested = call.estimate
        where = f"for {call.model} in organization org-fake on {kind} per min ({unit})"
        if requested > limit:
            message = (
                f"Request too large {where}: Limit {limit}, Requested {requested}."
                " The input or output tokens must be reduced in order to run successfully."
            )
        else:
            message = (
                f"Rate limit reached {where}: Limit {limit}, Used {used}, Requested {requested}."
                f" Please try again in {wait}."
            )
        reply = openai_error(429, message, kind, code="rate_limit_exceeded")
        return self._with_headers(reply, meta, quota.retry_after_s)

    # --- parsing ------------------------------------------------------------------------------

    def _build(self, route: Route, model: str, body: dict[str, Any]) -> Call | Reply:
        operation: Operation = route.operation
        stream = body.get("stream") is True
        options = body.get("stream_options")
        usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        if operation == "embeddings":
            inputs = _inputs(body.get("input"))
            if inputs is None:
                return openai_error(400, "'input' must be a string or a list.", param="input")
            return Call(operation, model, body, inputs, estimate_tokens(inputs), route=route)
        if operation == "chat":
            prompt = chat_prompt(body)
            if prompt is None:
                return openai_error(
                    400,
                    "Missing required parameter: 'messages'.",
                    param="messages",
                    code="missing_required_parameter",
                )
        else:
            texts = _inputs(body.get("prompt"))
            if texts is None:
                return openai_error(400, "'prompt' must be a string or a list.", param="prompt")
            best_of = _positive_int(body.get("best_of")) or 1
            max_tokens = _positive_int(body.get("max_tokens")) or LEGACY_DEFAULT_MAX_TOKENS
            n = max(_positive_int(body.get("n")) or 1, best_of)
            prompt = ChatPrompt(texts, 0, texts[0], max_tokens=max_tokens, n=n)
        reserve = prompt.max_tokens or self.config.default_max_tokens
        estimate = estimate_tokens(prompt.texts) + reserve * prompt.n
        return Call(operation, model, body, prompt.texts, estimate, stream, usage, prompt, route)

    def _authenticate(self, request: Request) -> Reply | None:
        if self._bearer is None:
            return None
        sent = request.header(b"authorization")
        if sent == self._bearer:
            return None
        if not sent:
            return openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an"
                " Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        key = sent.decode("latin-1").removeprefix("Bearer ")
        shown = f"{key[:5]}****{key[-4:]}" if len(key) > 8 else "****"
        return openai_error(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")

    def _model_of(self, route: Route, body: Mapping[str, Any]) -> Any:
        return body.get("model")

    def _check_model(self, model: str) -> Reply | None:
        if not self.config.strict_models or model in self.config.models:
            return None
        if model.startswith("fake-"):
            return None
        return openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )

    def _screen(self, call: Call) -> Call | Reply:
        return call

    # --- answers ------------------------------------------------------------------------------

    def _chat(self, call: Call, prompt: ChatPrompt, meta: ReplyMeta) -> Reply | StreamReply:
        answer = answer_chat(prompt)
        head = self._head(call, meta, f"chatcmpl-fake{meta.number:012d}", "chat.completion")
        tags = {"service_tier": "default", "system_fingerprint": FINGERPRINT}
        call_id = f"call_fake{meta.number:015d}"
        if call.stream:
            head |= {"object": "chat.completion.chunk", **tags}
            first, deltas = self._chat_deltas(prompt, answer, call_id)
            rounds = [([_choice(i, first) for i in range(prompt.n)], False)]
            rounds += [([_choice(i, delta) for i in range(prompt.n)], True) for delta in deltas]
            rounds.append(([_choice(i, {}, answer.finish_reason) for i in range(prompt.n)], False))
            usage = _usage(answer.prompt_tokens, answer.completion_tokens)
            return StreamReply(self._events(call, head, rounds, usage), self._headers(meta))
        message: dict[str, Any] = {"role": "assistant", "content": answer.content}
        message |= {"refusal": None, "annotations": []}
        if answer.tool is not None:
            message["tool_calls"] = [_tool_call(call_id, answer.tool.name, answer.arguments)]
        finish = answer.finish_reason
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
            for i in range(prompt.n)
        ]
        usage = _usage(answer.prompt_tokens, answer.completion_tokens)
        body = {**head, "choices": choices, "usage": usage, **tags}
        return Reply(200, orjson.dumps(self._decorate(body, call)), self._headers(meta))

    def _chat_deltas(
        self, prompt: ChatPrompt, answer: ChatAnswer, call_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The role delta, then content (or tool-call argument) deltas."""
        if answer.tool is not None:
            opening = {"index": 0, **_tool_call(call_id, answer.tool.name, "")}
            first = {"role": "assistant", "content": None, "tool_calls": [opening]}
            pieces = split_chars(answer.arguments, self._char_pieces(answer.arguments))
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
            return first | {"refusal": None}, deltas
        content = answer.content or ""
        pieces = (
            split_chars(content, self._char_pieces(content))
            if prompt.json_mode
            else split_words(content, self.config.stream_chunks)
        )
        first = {"role": "assistant", "content": "", "refusal": None}
        return first, [{"content": p} for p in pieces]

    def _completion(self, call: Call, prompt: ChatPrompt, meta: ReplyMeta) -> Reply | StreamReply:
        text, finish = answer_text(prompt.last_user_text, prompt.max_tokens)
        head = self._head(call, meta, f"cmpl-fake{meta.number:012d}", "text_completion")
        used = len(text.split()) * prompt.n
        usage = {
            "prompt_tokens": prompt.prompt_tokens,
            "completion_tokens": used,
            "total_tokens": prompt.prompt_tokens + used,
        }
        if not call.stream:
            choices = [_text_choice(i, text, finish) for i in range(prompt.n)]
            body = self._decorate({**head, "choices": choices, "usage": usage}, call)
            return Reply(200, orjson.dumps(body), self._headers(meta))
        pieces = split_words(text, self.config.stream_chunks)
        rounds = [([_text_choice(i, p, None) for i in range(prompt.n)], True) for p in pieces]
        rounds.append(([_text_choice(i, "", finish) for i in range(prompt.n)], False))
        return StreamReply(self._events(call, head, rounds, usage), self._headers(meta))

    def _events(
        self,
        call: Call,
        head: dict[str, Any],
        rounds: list[tuple[list[dict[str, Any]], bool]],
        usage: dict[str, Any],
    ) -> list[bytes]:
        """SSE frames: a chunk per choice per round (flag: has content), usage, ``[DONE]``."""
        tail: dict[str, Any] = {"usage": None} if call.include_usage else {}
        events = self._stream_preamble(call)
        for choices, content in rounds:
            events += [self._event(head, [c], tail, filtered=content) for c in choices]
        if call.include_usage:
            events.append(self._event(head, [], {"usage": usage}, filtered=False))
        events.append(DONE)
        return events

    def _head(self, call: Call, meta: ReplyMeta, response_id: str, kind: str) -> dict[str, Any]:
        model = self._response_model(call)
        return {"id": response_id, "object": kind, "created": meta.created, "model": model}

    def _embeddings(self, call: Call, meta: ReplyMeta) -> Reply:
        dimensions = _positive_int(call.body.get("dimensions")) or self.config.embedding_dimensions
        as_base64 = call.body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": embedding(t, dimensions, as_base64=as_base64),
            }
            for i, t in enumerate(call.texts)
        ]
        body = {
            "object": "list",
            "data": data,
            "model": self._response_model(call),
            "usage": {"prompt_tokens": call.estimate, "total_tokens": call.estimate},
        }
        return Reply(200, orjson.dumps(body), self._headers(meta))

    def _models(self, call: Call, meta: ReplyMeta) -> Reply:
        if not call.model:
            return Reply(200, self._models_body, self._headers(meta))
        if call.model not in self.config.models:
            message = f"The model '{call.model}' does not exist"
            return openai_error(404, message, param="model", code="model_not_found")
        return Reply(200, orjson.dumps(self._model_object(call.model)), self._headers(meta))

    @staticmethod
    def _model_object(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": _MODEL_CREATED, "owned_by": "system"}

    def _char_pieces(self, text: str) -> int:
        return self.config.stream_chunks or math.ceil(len(text) / _ARGUMENT_PIECE_CHARS)

    # --- dialect hooks ------------------------------------------------------------------------

    def _response_model(self, call: Call) -> str:
        return call.model

    def _decorate(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        return body

    def _stream_preamble(self, call: Call) -> list[bytes]:
        return []

    def _event(
        self, head: dict[str, Any], choices: list[Any], tail: dict[str, Any], *, filtered: bool
    ) -> bytes:
        return b"data: " + orjson.dumps({**head, "choices": choices, **tail}) + b"\n\n"

    def _headers(self, meta: ReplyMeta) -> Headers:
        headers = [
            (b"x-request-id", b"req_%032x" % meta.number),
            (b"openai-version", b"2020-10-01"),
            (b"openai-processing-ms", b"%d" % meta.processing_ms),
        ]
        if meta.quota is not None:
            headers += _rate_limit_headers(meta.quota)
        return headers

    def _with_headers(self, reply: Reply, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        headers = self._headers(meta)
        if retry_after_s is not None:
            headers += retry_after_headers(retry_after_s)
        return Reply(reply.status, reply.body, headers)


def _choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


def _text_choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _rate_limit_headers(quota: QuotaDecision) -> Headers:
    """Limits per minute as configured; remaining/reset of the window actually enforced."""
    headers: Headers = []
    for unit, limit, remaining, reset in (
        (b"requests", quota.rpm, quota.remaining_requests, quota.reset_requests_s),
        (b"tokens", quota.tpm, quota.remaining_tokens, quota.reset_tokens_s),
    ):
        if limit is None or remaining is None or reset is None:
            continue
        headers += [
            (b"x-ratelimit-limit-" + unit, b"%d" % limit),
            (b"x-ratelimit-remaining-" + unit, b"%d" % remaining),
            (b"x-ratelimit-reset-" + unit, go_duration(reset).encode()),
        ]
    return headers

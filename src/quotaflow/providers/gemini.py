"""Google Gemini (``gemini/<model>``): the Generative Language API ``v1beta`` behind OpenAI's chat.

Requests go to ``{api_base}/v1beta/models/{model}:generateContent`` (``:streamGenerateContent
?alt=sse`` when streaming) with the key in ``x-goog-api-key``. Only chat completions are served.

Decisions that are not a one-to-one rename:

* ``system`` and ``developer`` messages, wherever they stand, become ``systemInstruction``.
* Images must be inline (data URLs): a pure adapter cannot download an http(s) URL, so that is
  a 400 naming the part. Parameters without a Gemini equivalent are a 400 naming the parameter,
  unless the deployment has ``drop_params``; ``user`` is accepted and not forwarded.
* Gemini function calls carry no id: ids are minted, ``call_`` + 24 hex digits derived from the
  response id, the candidate and the call's position. A ``thoughtSignature`` on the call is
  appended to its id (``call_….ts.<signature>``) and sent back on the ``functionCall`` part when
  the id returns in an assistant message, so thinking models accept the tool follow-up.
* A blocked prompt (HTTP 200, no candidates, ``promptFeedback.blockReason``) is answered as a
  200 whose choices have ``finish_reason: "content_filter"`` and ``content: null``.
* A stream has no ``[DONE]``: the translator is ``done`` once every requested candidate carried
  a ``finishReason``, so the router stops reading there, and a body that ends before that is
  reported as truncated.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from quotaflow.errors import (
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers import _openai_wire as wire
from quotaflow.providers._gemini_request import check_parameters, mint_call_id, request_body
from quotaflow.providers.base import (
    Operation,
    UpstreamReply,
    UpstreamRequest,
    Usage,
    bad_response,
    json_object,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from quotaflow.errors import UpstreamError
    from quotaflow.providers.base import RateLimitHint, ServerSentEvent
    from quotaflow.routing.deployment import Deployment

__all__ = ["GeminiAdapter", "GeminiStreamTranslator"]

JSON = dict[str, Any]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
PROVIDER = "gemini"

_CONTENT_FILTER = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
        "NO_IMAGE",
        "OTHER",
    }
)
_DURATION = re.compile(r"(\d+(?:\.\d*)?)s")
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


class GeminiAdapter:
    """Translates OpenAI chat completions to and from Gemini's ``generateContent``."""

    provider = PROVIDER

    def __init__(self, deployment: Deployment, *, now: Callable[[], float] = time.time) -> None:
        base = (deployment.api_base or DEFAULT_BASE_URL).rstrip("/")
        if not base.endswith("/v1beta"):
            base += "/v1beta"
        self._model = deployment.upstream_model.removeprefix("models/")
        models = f"{base}/models/{quote(self._model, safe='')}"
        self._url = f"{models}:generateContent"
        self._stream_url = f"{models}:streamGenerateContent?alt=sse"
        headers = {"content-type": "application/json"}
        if deployment.api_key:
            headers["x-goog-api-key"] = deployment.api_key
        headers.update(deployment.extra_headers)
        self._headers = headers
        self._drop_params = deployment.drop_params
        self._now = now

    def build_request(self, op: Operation, payload: JSON, *, stream: bool) -> UpstreamRequest:
        """The ``generateContent`` request; ``InvalidRequest`` for what Gemini cannot honour."""
        if op is not Operation.CHAT:
            raise InvalidRequest(
                f"The gemini provider serves only /v1/chat/completions, not /v1/{op.value}.",
                code="unsupported_endpoint",
            )
        check_parameters(payload, drop=self._drop_params)
        body = orjson.dumps(request_body(payload))
        return UpstreamRequest(
            "POST", self._stream_url if stream else self._url, self._headers, body
        )

    def parse_reply(
        self, op: Operation, payload: JSON, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamReply:
        """A ``GenerateContentResponse`` as a ``chat.completion``."""
        data = json_object(body, PROVIDER, "a body")
        head = _head(data, body, self._model, int(self._now()), "chat.completion")
        choices = _choices(data, _candidate_count(payload), head["id"])
        completion = {**head, "choices": choices}
        usage = None
        metadata = data.get("usageMetadata")
        if isinstance(metadata, dict):
            completion["usage"], usage = _usage(metadata)
        return UpstreamReply(orjson.dumps(completion), usage)

    def open_stream(self, op: Operation, payload: JSON) -> GeminiStreamTranslator:
        """A translator for one ``streamGenerateContent?alt=sse`` answer."""
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return GeminiStreamTranslator(
            model=self._model,
            created=int(self._now()),
            candidates=_candidate_count(payload),
            include_usage=include_usage,
        )

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """By status and the structured ``status`` and ``details`` of Gemini's error body."""
        return classify(status, headers, _error_fields(body))

    def rate_limit_hint(self, headers: Mapping[str, str]) -> RateLimitHint | None:
        """Gemini sends no rate-limit headers (only ``retryDelay`` in a 429 body)."""
        return None


# --- response -----------------------------------------------------------------------------------


def _head(data: JSON, raw: bytes, model: str, created: int, kind: str) -> JSON:
    """``id``, ``object``, ``created`` and ``model`` of the OpenAI answer."""
    response_id = data.get("responseId")
    if not isinstance(response_id, str) or not response_id:
        response_id = hashlib.sha256(raw).hexdigest()[:24]
    version = data.get("modelVersion")
    if isinstance(version, str) and version:
        model = version.removeprefix("models/")
    return {"id": f"chatcmpl-{response_id}", "object": kind, "created": created, "model": model}


def _candidate_count(payload: JSON) -> int:
    n = payload.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def _choices(data: JSON, count: int, seed: str) -> list[JSON]:
    candidates = data.get("candidates")
    if not candidates:
        if _block_reason(data) is None:
            raise bad_response(PROVIDER, "neither candidates nor a promptFeedback.blockReason")
        empty = {"role": "assistant", "content": None, "refusal": None}
        return [_choice(i, empty, "content_filter") for i in range(count)]
    if not isinstance(candidates, list):
        raise bad_response(PROVIDER, "'candidates' that is not an array")
    choices = []
    for position, item in enumerate(candidates):
        candidate = _object(item, "a candidate")
        index = _index(candidate, position)
        text, calls = _parts(candidate, seed, index, 0)
        message: JSON = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        finish = _finish_reason(candidate.get("finishReason"), calls=bool(calls))
        choice = _choice(index, message, finish)
        choice["logprobs"] = _logprobs(candidate.get("logprobsResult"))
        choices.append(choice)
    return sorted(choices, key=lambda choice: int(choice["index"]))


def _choice(index: int, message: JSON, finish: str) -> JSON:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def _block_reason(data: JSON) -> str | None:
    """Why the prompt was blocked, if it was."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) else None


def _object(value: object, what: str) -> JSON:
    if not isinstance(value, dict):
        raise bad_response(PROVIDER, f"{what} that is not an object")
    return value


def _index(candidate: JSON, position: int) -> int:
    index = candidate.get("index", position)
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _parts(
    candidate: JSON, seed: str, index: int, calls_before: int
) -> tuple[str | None, list[JSON]]:
    """The visible text (``None`` if there is none) and the tool calls of a candidate's parts.

    Tool-call ids derive from ``seed`` (the answer's id), the candidate and the call's position.
    """
    content = candidate.get("content")
    parts = content.get("parts", []) if isinstance(content, dict) else []
    if not isinstance(parts, list):
        raise bad_response(PROVIDER, "candidate content whose 'parts' is not an array")
    texts: list[str] = []
    calls: list[JSON] = []
    for item in parts:
        part = _object(item, "a content part")
        if part.get("thought") is True:
            continue  # a thought summary, not part of the answer
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif "functionCall" in part:
            position = f"{seed}:{index}:{calls_before + len(calls)}"
            calls.append(_tool_call(part, position))
    return ("".join(texts) if texts else None), calls


def _tool_call(part: JSON, seed: str) -> JSON:
    call = part["functionCall"]
    name = call.get("name") if isinstance(call, dict) else None
    args = call.get("args", {}) if isinstance(call, dict) else None
    if not isinstance(name, str) or not isinstance(args, dict):
        raise bad_response(
            PROVIDER, "a functionCall without a name or with args that are not an object"
        )
    call_id = mint_call_id(f"{seed}:{name}", part.get("thoughtSignature"))
    function = {"name": name, "arguments": orjson.dumps(args).decode()}
    return {"id": call_id, "type": "function", "function": function}


def _finish_reason(reason: object, *, calls: bool) -> str:
    """Gemini's ``finishReason`` in OpenAI's words (the reference's §0 table)."""
    if calls:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in _CONTENT_FILTER else "stop"


def _logprobs(result: object) -> JSON | None:
    """``logprobsResult`` as OpenAI's ``logprobs`` (``None`` when absent)."""
    if not isinstance(result, dict) or not isinstance(result.get("chosenCandidates"), list):
        return None
    top = result.get("topCandidates")
    top = top if isinstance(top, list) else []
    content = []
    for k, chosen in enumerate(result["chosenCandidates"]):
        alternatives = (
            top[k].get("candidates", []) if k < len(top) and isinstance(top[k], dict) else []
        )
        content.append({**_logprob(chosen), "top_logprobs": [_logprob(a) for a in alternatives]})
    return {"content": content, "refusal": None}


def _logprob(candidate: object) -> JSON:
    token = candidate.get("token", "") if isinstance(candidate, dict) else ""
    logprob = candidate.get("logProbability", 0.0) if isinstance(candidate, dict) else 0.0
    token = token if isinstance(token, str) else ""
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _usage(metadata: JSON) -> tuple[JSON, Usage]:
    """``usageMetadata`` as OpenAI's ``usage``; thinking counts as completion."""
    prompt = _count(metadata, "promptTokenCount") + _count(metadata, "toolUsePromptTokenCount")
    thoughts = _count(metadata, "thoughtsTokenCount")
    completion = _count(metadata, "candidatesTokenCount") + thoughts
    cached = _count(metadata, "cachedContentTokenCount")
    wire_usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(metadata, "totalTokenCount") or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }
    return wire_usage, Usage(prompt, completion, cached, thoughts)


def _count(metadata: JSON, key: str) -> int:
    value = metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --- stream -------------------------------------------------------------------------------------


class GeminiStreamTranslator:
    """``streamGenerateContent?alt=sse`` events as ``chat.completion.chunk``s.

    Per candidate: a role chunk, then a chunk per text delta and per function call (whole, with
    its id), then a finish chunk. ``usageMetadata`` is cumulative, so the last one counts; it
    becomes the ``choices: []`` usage chunk when the client asked for ``include_usage``.
    """

    __slots__ = (
        "_calls",
        "_candidates",
        "_created",
        "_done",
        "_finished",
        "_head",
        "_include_usage",
        "_metadata",
        "_model",
        "usage",
    )

    def __init__(self, *, model: str, created: int, candidates: int, include_usage: bool) -> None:
        self._model = model
        self._created = created
        self._candidates = candidates
        self._include_usage = include_usage
        self._head: JSON | None = None
        self._calls: dict[int, int] = {}  # candidate index → tool calls sent (started: a key)
        self._finished: set[int] = set()
        self._metadata: JSON | None = None
        self._done = False
        self.usage: Usage | None = None

    @property
    def done(self) -> bool:
        """True once every candidate had its ``finishReason`` (or the prompt was blocked)."""
        return self._done

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        """The chunks for one Gemini event."""
        data = json_object(event.data, PROVIDER, "a stream event")
        if "error" in data:
            error = data["error"] if isinstance(data["error"], dict) else {}
            code = error.get("code")
            raise classify(code if isinstance(code, int) else 500, {}, error)
        if self._head is None:
            self._head = _head(
                data, event.data, self._model, self._created, "chat.completion.chunk"
            )
        metadata = data.get("usageMetadata")
        if isinstance(metadata, dict):
            self._metadata = metadata
            self.usage = _usage(metadata)[1]
        candidates = data.get("candidates")
        if candidates and not isinstance(candidates, list):
            raise bad_response(PROVIDER, "'candidates' that is not an array")
        chunks: list[bytes] = []
        if candidates:
            for position, item in enumerate(candidates):
                candidate = _object(item, "a candidate")
                chunks += self._candidate(candidate, position)
        elif _block_reason(data) is not None:
            chunks += self._blocked()
        if len(self._finished) >= self._candidates and not self._done:
            self._done = True
            if self._include_usage and self._metadata is not None:
                usage = _usage(self._metadata)[0]
                chunks.append(orjson.dumps({**self._head, "choices": [], "usage": usage}))
        return chunks

    def _candidate(self, candidate: JSON, position: int) -> list[bytes]:
        index = _index(candidate, position)
        chunks = []
        if index not in self._calls:
            self._calls[index] = 0
            chunks.append(self._chunk(index, {"role": "assistant", "content": ""}))
        seed = str(self._head["id"]) if self._head else ""
        text, calls = _parts(candidate, seed, index, self._calls[index])
        if text:
            logprobs = _logprobs(candidate.get("logprobsResult"))
            chunks.append(self._chunk(index, {"content": text}, logprobs=logprobs))
        for call in calls:
            delta = {"tool_calls": [{"index": self._calls[index], **call}]}
            self._calls[index] += 1
            chunks.append(self._chunk(index, delta))
        reason = candidate.get("finishReason")
        if reason is not None and index not in self._finished:
            self._finished.add(index)
            finish = _finish_reason(reason, calls=self._calls[index] > 0)
            chunks.append(self._chunk(index, {}, finish=finish))
        return chunks

    def _blocked(self) -> list[bytes]:
        """Every choice opens and ends with ``content_filter``."""
        chunks = []
        for index in range(self._candidates):
            self._calls.setdefault(index, 0)
            self._finished.add(index)
            chunks.append(self._chunk(index, {"role": "assistant", "content": None}))
            chunks.append(self._chunk(index, {}, finish="content_filter"))
        return chunks

    def _chunk(
        self, index: int, delta: JSON, *, finish: str | None = None, logprobs: JSON | None = None
    ) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return orjson.dumps({**(self._head or {}), "choices": [choice]})


# --- errors -------------------------------------------------------------------------------------


def _error_fields(body: bytes) -> JSON:
    """The ``error`` object of a Gemini error body (also inside a one-element list), or ``{}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def classify(status: int, headers: Mapping[str, str], fields: JSON) -> UpstreamError:
    """A Gemini failure by HTTP status, gRPC ``status`` and ``details`` (never message text)."""
    grpc = fields.get("status") if isinstance(fields.get("status"), str) else None
    details = [d for d in fields.get("details") or [] if isinstance(d, dict)]
    named = f"HTTP {status}" + (f" {grpc}" if grpc else "")
    if status == 429 or grpc == "RESOURCE_EXHAUSTED":
        retry = _retry_delay_s(details)
        return UpstreamRateLimited(
            f"The {PROVIDER} deployment is rate limited ({named}).",
            upstream_status=status,
            retry_after_s=retry if retry is not None else wire.retry_after_s(headers),
        )
    if status in (401, 403) or "API_KEY_INVALID" in _reasons(details):
        return UpstreamAuthFailed(
            f"The {PROVIDER} deployment refused the gateway's credentials ({named}).",
            upstream_status=status,
        )
    if status == 404 or grpc == "FAILED_PRECONDITION":
        # The adapter sends no file or cache references, so a 404 is the model in the URL;
        # FAILED_PRECONDITION is the project's region or billing. Both are the deployment's.
        return UpstreamMisconfigured(
            f"The {PROVIDER} deployment's model or project cannot serve requests ({named}).",
            upstream_status=status,
        )
    if status == 408 or status >= 500:
        return UpstreamUnavailable(
            f"The {PROVIDER} deployment failed ({named}).",
            upstream_status=status,
            retry_after_s=wire.retry_after_s(headers),
        )
    message = fields.get("message")
    message = message if isinstance(message, str) and message else f"Upstream answered {named}."
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": grpc}
    return UpstreamRejected(message, code=grpc, upstream_status=status, body=body)


def _retry_delay_s(details: list[JSON]) -> float | None:
    """``RetryInfo.retryDelay`` ("36s", "1.5s") in seconds."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            match = _DURATION.fullmatch(str(detail.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


def _reasons(details: list[JSON]) -> set[str]:
    return {str(d.get("reason")) for d in details if d.get("@type") == _ERROR_INFO}

"""OpenAI's wire format, shared by every adapter whose upstream speaks it (OpenAI, Azure, vLLM…).

Errors are classified from the HTTP status and the structured ``error`` fields only, never from
message text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from quotaflow.providers.base import (
    Operation,
    RateLimitHint,
    ServerSentEvent,
    UpstreamReply,
    Usage,
    bad_response,
    json_object,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

JSON = dict[str, Any]

_RESULT_KEY = {
    Operation.CHAT: "choices",
    Operation.COMPLETION: "choices",
    Operation.EMBEDDING: "data",
}
_DONE = b"[DONE]"


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The upstream's wait hint: ``retry-after-ms`` first, then ``retry-after`` in seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue  # an HTTP date: rare from LLM providers; fall back to the cooldown time
        if value >= 0:
            return value
    return None


def parse_reply(op: Operation, body: bytes, provider: str) -> UpstreamReply:
    """Check that a 2xx body is the expected OpenAI object and read its usage."""
    payload = json_object(body, provider, "a body")
    if not isinstance(payload.get(_RESULT_KEY[op]), list):
        raise bad_response(provider, f"JSON without a '{_RESULT_KEY[op]}' list")
    return UpstreamReply(body=body, usage=Usage.from_openai(payload.get("usage")))


def error_fields(body: bytes) -> JSON:
    """The ``error`` object of an error body, or an empty dict when there is none."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return error
        if isinstance(error, str):
            return {"message": error}
    return {}


def normalised_error(fields: JSON, status: int) -> JSON:
    """OpenAI's four error keys (extra structured keys such as ``innererror`` are kept)."""
    code = fields.get("code")
    normalised: JSON = {
        "message": str(fields.get("message") or f"Upstream answered HTTP {status}."),
        "type": fields.get("type") or "invalid_request_error",
        "param": fields.get("param"),
        "code": None if code is None else str(code),
    }
    for key, value in fields.items():
        if key not in normalised and key != "status":
            normalised[key] = value
    return normalised


def classify(status: int, headers: Mapping[str, str], fields: JSON, provider: str) -> UpstreamError:
    """Map a failed upstream answer to the gateway's error classes by status."""
    retry = retry_after_s(headers)
    code = fields.get("code")
    code_text = None if code is None else str(code)
    if status == 429:
        return UpstreamRateLimited(
            f"The {provider} deployment is rate limited.",
            upstream_status=status,
            retry_after_s=retry,
        )
    if status in (401, 403):
        return UpstreamAuthFailed(
            f"The {provider} deployment refused the gateway's credentials (HTTP {status}).",
            upstream_status=status,
        )
    if status == 408 or status >= 500:
        return UpstreamUnavailable(
            f"The {provider} deployment failed (HTTP {status}).",
            upstream_status=status,
            retry_after_s=retry,
        )
    if status == 404:
        # The gateway builds the URL and names the model: a 404 is the deployment's config.
        return UpstreamMisconfigured(
            f"The {provider} deployment's model or endpoint does not exist upstream (HTTP 404).",
            upstream_status=status,
        )
    body = normalised_error(fields, status)
    kind = _REJECTIONS.get(code_text or "", UpstreamRejected)
    return kind(
        body["message"], code=code_text, param=body["param"], upstream_status=status, body=body
    )


# Structured codes that name a rejection the router can act on (with the matching fallbacks).
_REJECTIONS: dict[str, type[UpstreamRejected]] = {
    "context_length_exceeded": ContextWindowExceeded,
    "content_filter": ContentPolicyViolation,
    "content_policy_violation": ContentPolicyViolation,
}


def client_wants_usage(payload: JSON) -> bool:
    """True when the client asked for the usage chunk (``stream_options.include_usage``)."""
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def with_stream_usage(payload: JSON) -> JSON:
    """``payload`` asking the upstream for the usage chunk; other ``stream_options`` are kept.

    Streams are accounted from that chunk, so it is requested even when the client did not ask;
    ``OpenAIStreamTranslator`` then keeps it from a client that did not.
    """
    if client_wants_usage(payload):
        return payload
    options = payload.get("stream_options")
    kept = options if isinstance(options, dict) else {}
    return {**payload, "stream_options": {**kept, "include_usage": True}}


def stream_error(fields: JSON, provider: str) -> UpstreamError:
    """An ``{"error": …}`` event inside a stream, classified by its structured fields."""
    kind = str(fields.get("type") or "")
    code = str(fields.get("code") or "")
    if code in ("rate_limit_exceeded", "429") or kind in ("tokens", "requests"):
        return classify(429, {}, fields, provider)
    if kind == "invalid_request_error" or code == "content_filter":
        return classify(400, {}, fields, provider)
    return classify(500, {}, fields, provider)


class OpenAIStreamTranslator:
    """Forwards OpenAI chunks as they are, dropping chunks that carry nothing for the client.

    Azure sends a first chunk with empty ``choices`` (only ``prompt_filter_results``) and, with
    asynchronous filtering, chunks whose choices have no ``delta``; OpenAI clients that index
    ``choices[0].delta`` would crash on them, so neither is forwarded. The usage is recorded
    from whichever chunk carries it; the usage-only chunk (empty ``choices``) is forwarded only
    when ``forward_usage`` is set, i.e. when the client asked for it. Forwarded chunks keep
    their bytes, ``"usage": null`` keys included.
    """

    __slots__ = ("_done", "_forward_usage", "_provider", "usage")

    def __init__(self, provider: str, *, forward_usage: bool = True) -> None:
        self._provider = provider
        self._forward_usage = forward_usage
        self._done = False
        self.usage: Usage | None = None

    @property
    def done(self) -> bool:
        """True after ``data: [DONE]``."""
        return self._done

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        """The chunk to forward, if any."""
        data = event.data
        if data == _DONE:
            self._done = True
            return []
        chunk = json_object(data, self._provider, "a stream event")
        if "error" in chunk:
            raise stream_error(error_fields(data), self._provider)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise bad_response(self._provider, "a stream chunk without 'choices'")
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage.from_openai(usage)
            if not choices and not self._forward_usage:
                return []
        elif not choices or not any(
            "delta" in choice or "text" in choice for choice in choices if isinstance(choice, dict)
        ):
            return []
        return [data]


class OpenAIWireAdapter:
    """What every adapter of an OpenAI-format upstream shares: reading replies, streams, errors.

    Subclasses set ``provider`` and build requests (URL, auth, body) their own way.
    """

    provider = "openai"

    def parse_reply(
        self, op: Operation, payload: JSON, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamReply:
        """The upstream's bytes, checked (extra fields such as Azure's filter results pass)."""
        return parse_reply(op, body, self.provider)

    def open_stream(self, op: Operation, payload: JSON) -> OpenAIStreamTranslator:
        """Chunks pass through; Azure's empty and filter-only chunks and unasked-for usage don't."""
        return OpenAIStreamTranslator(self.provider, forward_usage=client_wants_usage(payload))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """By status and OpenAI's structured error fields."""
        return classify(status, headers, error_fields(body), self.provider)

    def rate_limit_hint(self, headers: Mapping[str, str]) -> RateLimitHint | None:
        """``x-ratelimit-remaining-requests`` / ``-tokens`` (OpenAI, Azure, most compatibles)."""
        return RateLimitHint.from_headers(
            headers,
            requests="x-ratelimit-remaining-requests",
            tokens="x-ratelimit-remaining-tokens",
        )

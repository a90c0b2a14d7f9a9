"""What every provider adapter is: pure translation between OpenAI's wire format and one upstream's.

An adapter is built once per deployment (so URLs and auth headers are computed once) and does no
I/O: it turns a client payload into an ``UpstreamRequest``, an upstream body into OpenAI bytes, a
stream of upstream events into OpenAI chunks, and an upstream failure into an ``UpstreamError``.
``providers.http.UpstreamClient`` is the only code that sends the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from quotaflow.errors import UpstreamBadResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.errors import UpstreamError
    from quotaflow.routing.deployment import Deployment

__all__ = [
    "Operation",
    "ProviderAdapter",
    "RateLimitHint",
    "ServerSentEvent",
    "StreamTranslator",
    "UpstreamReply",
    "UpstreamRequest",
    "Usage",
    "bad_response",
    "json_object",
]

JSON = dict[str, Any]


class Operation(Enum):
    """The OpenAI endpoint a call came in on."""

    CHAT = "chat/completions"
    COMPLETION = "completions"
    EMBEDDING = "embeddings"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One HTTP request, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens an upstream reported for one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_openai(cls, usage: object) -> Usage | None:
        """Read OpenAI's ``usage`` object; ``None`` when absent or not an object."""
        if not isinstance(usage, dict):
            return None
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            cached_tokens=_int(prompt_details.get("cached_tokens"))
            if isinstance(prompt_details, dict)
            else 0,
            reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
            if isinstance(completion_details, dict)
            else 0,
        )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class RateLimitHint:
    """What an upstream said about its remaining quota in its response headers."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, requests: str, tokens: str
    ) -> RateLimitHint | None:
        """The hint in the two named headers; ``None`` when the upstream sent neither."""
        remaining_requests = _header_int(headers, requests)
        remaining_tokens = _header_int(headers, tokens)
        if remaining_requests is None and remaining_tokens is None:
            return None
        return cls(remaining_requests, remaining_tokens)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def bad_response(provider: str, what: str) -> UpstreamBadResponse:
    """The error for an upstream answer that is not the provider's protocol."""
    return UpstreamBadResponse(f"The upstream {provider} deployment answered {what}.")


def json_object(data: bytes, provider: str, what: str) -> JSON:
    """``data`` parsed as a JSON object; ``UpstreamBadResponse`` naming ``what`` otherwise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_response(provider, f"{what} that is not JSON") from None
    if not isinstance(value, dict):
        raise bad_response(provider, f"{what} that is not a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A successful upstream answer, already in OpenAI's shape.

    ``body`` is the JSON bytes to send to the client (the upstream's own bytes when no
    translation was needed).
    """

    body: bytes
    usage: Usage | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One SSE event as received: its ``event`` name (may be empty) and its data."""

    data: bytes
    event: str = ""


class StreamTranslator(Protocol):
    """Turns one upstream stream's events into OpenAI ``chat.completion.chunk`` JSON bytes."""

    usage: Usage | None

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        """Chunks to forward for this event (possibly none); raises ``UpstreamError``."""
        ...

    @property
    def done(self) -> bool:
        """True once the upstream said the stream is complete."""
        ...


class ProviderAdapter(Protocol):
    """Translation for one deployment; see the module docstring."""

    def build_request(self, op: Operation, payload: JSON, *, stream: bool) -> UpstreamRequest:
        """The upstream request for a client payload.

        Raises ``InvalidRequest`` (400, naming the parameter and the provider) for what the
        provider cannot honour; never drops a parameter silently.
        """
        ...

    def parse_reply(
        self, op: Operation, payload: JSON, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamReply:
        """An upstream 2xx body (for the client ``payload``) as OpenAI bytes.

        Raises ``UpstreamBadResponse`` when the body is not what the protocol promises.
        """
        ...

    def open_stream(self, op: Operation, payload: JSON) -> StreamTranslator:
        """A translator for one streamed answer to the client ``payload``."""
        ...

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """The gateway error for an upstream non-2xx answer."""
        ...

    def rate_limit_hint(self, headers: Mapping[str, str]) -> RateLimitHint | None:
        """The upstream's remaining quota from its headers; ``None`` when it sends none."""
        ...


class AdapterFactory(Protocol):
    """Builds the adapter for one deployment."""

    def __call__(self, deployment: Deployment) -> ProviderAdapter:
        """Precompute URLs and headers for ``deployment``."""
        ...

"""What every wire format implements, and the plain data passed between it and the app.

A wire format is pure: it turns a ``Request`` into a ``Route`` and a ``Call`` (or an error
``Reply``), and a ``Call`` into a ``Reply`` or ``StreamReply``. The app does the I/O, faults,
latency and quota. Adding a provider means one module with a class satisfying ``WireFormat``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from quotaflow.fake.content import ChatPrompt
    from quotaflow.fake.quota import QuotaDecision

__all__ = [
    "ASGIApp",
    "Call",
    "Headers",
    "Operation",
    "Receive",
    "Reply",
    "ReplyMeta",
    "Request",
    "Route",
    "Scope",
    "Send",
    "StreamReply",
    "WireFormat",
    "ceil_millis",
    "retry_after_headers",
    "whole_seconds",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Operation = Literal["chat", "completions", "embeddings", "models"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as received: ASGI's lowercased raw headers and the whole body."""

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lowercase), if present."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: the operation and what the path names (deployment, model id)."""

    operation: Operation
    path_model: str | None = None
    api_version: str | None = None


@dataclass(slots=True)
class Call:
    """A routed, parsed request: what to answer and what it costs on arrival."""

    operation: Operation
    model: str
    body: dict[str, Any]
    texts: tuple[str, ...] = ()
    estimate: int = 0
    stream: bool = False
    include_usage: bool = False
    prompt: ChatPrompt | None = None
    route: Route | None = None


@dataclass(slots=True)
class ReplyMeta:
    """Per-response facts the app decides: sequence number (for ids), time, quota state."""

    number: int
    created: int
    processing_ms: int = 0
    quota: QuotaDecision | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer."""

    status: int
    body: bytes
    headers: Headers = field(default_factory=list)
    content_type: bytes = b"application/json"


@dataclass(frozen=True, slots=True)
class StreamReply:
    """A 200 Server-Sent Events answer; ``events`` are complete ``data: …\\n\\n`` frames."""

    events: Sequence[bytes]
    headers: Headers = field(default_factory=list)


class WireFormat(Protocol):
    """One provider's URLs, auth, request parsing, and response and error shapes."""

    def route(self, request: Request) -> Route | Reply:
        """Find the operation for the method and path, or answer 404."""
        ...

    def parse(self, route: Route, request: Request) -> Call | Reply:
        """Check credentials and the body; estimate the cost; or answer 4xx."""
        ...

    def answer(self, call: Call, meta: ReplyMeta) -> Reply | StreamReply:
        """The successful response for ``call``."""
        ...

    def error(self, call: Call, status: int, meta: ReplyMeta, retry_after_s: float | None) -> Reply:
        """The provider's error response for ``status`` (a scripted fault)."""
        ...

    def rate_limited(self, call: Call, quota: QuotaDecision, meta: ReplyMeta) -> Reply:
        """The provider's 429 for a refused quota decision."""
        ...


def whole_seconds(seconds: float) -> int:
    """A wait rounded up to whole seconds (at least 1), as ``retry-after`` carries it."""
    return max(1, math.ceil(ceil_millis(seconds) / 1000))


def retry_after_headers(seconds: float) -> Headers:
    """``retry-after`` in whole seconds (rounded up) and ``retry-after-ms``."""
    return [
        (b"retry-after", b"%d" % whole_seconds(seconds)),
        (b"retry-after-ms", b"%d" % ceil_millis(seconds)),
    ]


def ceil_millis(seconds: float) -> int:
    """Milliseconds rounded up, ignoring float noise below a microsecond."""
    return math.ceil(round(seconds * 1000, 3))

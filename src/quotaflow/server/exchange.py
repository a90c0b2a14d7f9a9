"""One HTTP exchange on raw ASGI: the request's headers and body in, a response out.

Kept deliberately small: the hot path reads the few headers it needs once, reads the body under
a size limit, and writes JSON or SSE with precomputed header bytes.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from quotaflow.errors import GatewayError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from quotaflow.server.outcome import Outcome

__all__ = ["Exchange", "Receive", "RequestIds", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_WANTED = frozenset(
    {
        b"authorization",
        b"api-key",
        b"x-api-key",
        b"content-type",
        b"content-length",
        b"x-request-id",
        b"x-quotaflow-timeout",
        b"x-litellm-timeout",
        b"x-quotaflow-stream-timeout",
        b"traceparent",  # W3C trace context: spans join the client's trace when tracing is on
    }
)
_JSON_TYPE = (b"content-type", b"application/json")
_MAX_REQUEST_ID = 128


class Exchange:
    """A request being answered; collects the response headers every answer carries."""

    __slots__ = (
        "_send",
        "headers",
        "outcome",
        "path_params",
        "receive",
        "request_id",
        "response_headers",
        "response_started",
        "scope",
        "started",
        "status",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        new_id: Callable[[], str],
    ) -> None:
        self.scope = scope
        self.receive = receive
        self._send = send
        self.started = started
        self.response_started = False
        self.status = 0
        self.outcome = Outcome()
        self.path_params: dict[str, str] = {}
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                headers[name] = value
        self.headers = headers
        self.request_id = _request_id(headers.get(b"x-request-id"), new_id)
        self.response_headers: list[tuple[bytes, bytes]] = [
            (b"x-request-id", self.request_id.encode())
        ]

    def header(self, name: bytes) -> str | None:
        """One of the request headers the gateway reads, decoded."""
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    async def read_json(self, limit_bytes: int) -> dict[str, Any]:
        """The body as a JSON object; 413 over ``limit_bytes``, 415 when not JSON, 400 when bad."""
        content_type = self.headers.get(b"content-type")
        if content_type is not None and not _is_json(content_type):
            raise UnsupportedMediaType(
                f"Content-Type must be application/json, not '{content_type.decode('latin-1')}'."
            )
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
            raise _too_large(limit_bytes)
        body = await self._read_body(limit_bytes)
        if not body:
            raise InvalidRequest("The request body is empty; a JSON object is required.")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(payload, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return payload

    async def _read_body(self, limit_bytes: int) -> bytes:
        message = await self.receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit_bytes:
                raise _too_large(limit_bytes)
            return body
        parts = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await self.receive()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit_bytes:
                raise _too_large(limit_bytes)
            parts.append(chunk)
        return b"".join(parts)

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Send the status line and headers (``response_headers`` are added)."""
        self.response_started = True
        self.status = status
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *self.response_headers],
            }
        )

    async def body(self, data: bytes, *, more: bool = False) -> None:
        """Send part of the body; ``more=False`` ends the response."""
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def send_json(
        self, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """A complete JSON response."""
        headers = [_JSON_TYPE, (b"content-length", str(len(body)).encode())]
        if extra:
            headers.extend(extra)
        await self.start(status, headers)
        await self.body(body)

    async def send_error(self, error: GatewayError) -> None:
        """The error in OpenAI's shape, with its headers (e.g. ``retry-after``)."""
        extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
        await self.send_json(error.status, orjson.dumps(error.body()), extra)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _too_large(limit_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit_bytes} bytes.")


def _request_id(given: bytes | None, new_id: Callable[[], str]) -> str:
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii():
        text = given.decode()
        if text.isprintable():
            return text
    return new_id()


class RequestIds:
    """Fresh request ids: a random prefix per app and a counter.

    Unique across replicas and workers, and far cheaper than a uuid4 per request.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        """The next id."""
        return f"{self._prefix}{next(self._counter):012x}"

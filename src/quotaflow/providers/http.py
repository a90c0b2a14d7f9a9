"""``UpstreamClient``: the only code that sends HTTP to providers.

One pooled aiohttp session for every upstream call. It owns timeouts and SSE framing, and turns
aiohttp's exceptions into the gateway's ``UpstreamTimeout`` / ``UpstreamUnavailable`` so nothing
above this module knows which HTTP library is used.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from quotaflow.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from quotaflow.providers.base import ServerSentEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from types import TracebackType

    from quotaflow.providers.base import UpstreamRequest

__all__ = ["RawReply", "UpstreamClient", "UpstreamStream"]

_READ_BUFFER_BYTES = 1 << 20  # the longest SSE line we accept (large tool-call arguments)


@dataclass(frozen=True, slots=True)
class RawReply:
    """A complete upstream answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class UpstreamStream:
    """An upstream answer whose body is read as server-sent events."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read_body(self) -> bytes:
        """The whole body (for an error answer)."""
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError):
            return b""
        finally:
            self._response.release()

    async def event_batches(self) -> AsyncIterator[list[ServerSentEvent]]:
        """The events, grouped by the network read that completed them (never empty lists).

        Whatever the network delivered at once is split here rather than awaited line by line,
        and handed on together, so an upstream that sends many events at once costs one read
        and, downstream, one write to the client.
        """
        parser = _SSEParser()
        try:
            async for block in self._response.content.iter_any():
                batch = parser.feed(block)
                if batch:
                    yield batch
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc) from exc
        last = parser.finish()  # some providers end the body without a blank line
        if last is not None:
            yield [last]

    def close(self) -> None:
        """Stop reading; the connection is dropped, so the upstream stops generating."""
        self._response.close()


class _SSEParser:
    """Server-sent events from byte blocks split anywhere (``\n`` or ``\r\n`` line ends)."""

    __slots__ = ("_data", "_name", "_rest")

    def __init__(self) -> None:
        self._rest = b""
        self._data: list[bytes] = []
        self._name = ""

    def feed(self, block: bytes) -> list[ServerSentEvent]:
        """The events completed by ``block``."""
        lines = (self._rest + block).split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > _READ_BUFFER_BYTES:
            raise UpstreamBadResponse("The upstream sent a stream line longer than 1 MiB.")
        events: list[ServerSentEvent] = []
        for raw in lines:
            line = raw[:-1] if raw[-1:] == b"\r" else raw
            if not line:
                if self._data:
                    events.append(ServerSentEvent(b"\n".join(self._data), self._name))
                    self._data, self._name = [], ""
            elif line[:5] == b"data:":
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
            elif line[:6] == b"event:":
                self._name = line[6:].strip().decode("utf-8", "replace")
        return events

    def finish(self) -> ServerSentEvent | None:
        """The last event, when the body ended without the blank line after it."""
        events = self.feed(b"\n\n")
        return events[-1] if events else None


def _translate(exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout("The upstream did not answer in time.")
    return UpstreamUnavailable(f"The upstream could not be reached ({type(exc).__name__}).")


class UpstreamClient:
    """Sends ``UpstreamRequest``s over one pooled session; use as an async context manager."""

    def __init__(self, *, max_connections: int = 0, session: aiohttp.ClientSession | None = None):
        self._max_connections = max_connections
        self._session = session
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def __aenter__(self) -> UpstreamClient:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, keepalive_timeout=30
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Upstreams' cookies must never be kept, let alone sent on another tenant's call
                # (and a real jar costs a lookup and an update per call).
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=_READ_BUFFER_BYTES,
                skip_auto_headers=("User-Agent",),
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session (open)."""
        if self._session is None:
            msg = "UpstreamClient is not open; use 'async with UpstreamClient()'"
            raise RuntimeError(msg)
        return self._session

    def _timeout(self, total_s: float) -> aiohttp.ClientTimeout:
        """One ``ClientTimeout`` per distinct value (deployments share a handful)."""
        timeout = self._timeouts.get(total_s)
        if timeout is None:
            timeout = self._timeouts[total_s] = aiohttp.ClientTimeout(total=total_s)
        return timeout

    def send(self, request: UpstreamRequest, *, timeout_s: float) -> asyncio.Task[RawReply]:
        """Send and read the whole answer within ``timeout_s``; await the returned task.

        The exchange runs in a task of its own: aiohttp suspends and resumes it several times
        per call, and each resumption of a coroutine re-enters every frame awaiting it. In a
        task, that is aiohttp's frames only, not the gateway's whole call chain — about a tenth
        of the gateway's CPU per call. Cancelling the awaiting call cancels the task.
        """
        return asyncio.ensure_future(self._exchange(request, timeout_s))

    async def _exchange(self, request: UpstreamRequest, timeout_s: float) -> RawReply:
        try:
            async with self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout(timeout_s),
            ) as response:
                body = await response.read()
                return RawReply(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc) from exc

    async def open_stream(
        self, request: UpstreamRequest, *, first_byte_s: float, total_s: float
    ) -> UpstreamStream:
        """Send, and return once the status and headers arrived (within ``first_byte_s``)."""
        timeout = self._timeout(total_s)
        try:
            async with asyncio.timeout(first_byte_s):
                response = await self.session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    timeout=timeout,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc) from exc
        return UpstreamStream(response)

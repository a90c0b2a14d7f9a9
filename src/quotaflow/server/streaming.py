"""Chunks → Server-Sent Events to the client; errors after the first byte become an error event.

While the stream runs, a second task listens for the client going away: then the producer is
cancelled, which closes the upstream connection, so an abandoned stream stops costing tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Protocol

import orjson

from quotaflow.errors import GatewayError

if TYPE_CHECKING:
    from quotaflow.routing.router import RoutedStream
    from quotaflow.server.exchange import Exchange

__all__ = ["OPENAI_FRAMING", "Framing", "OpenAIFraming", "send_stream"]

logger = logging.getLogger("quotaflow.stream")

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"


class Framing(Protocol):
    """How OpenAI chunks reach one client protocol: SSE bytes per chunk, at the end, on failure."""

    def chunk(self, data: bytes) -> bytes:
        """The bytes to send for one ``chat.completion.chunk`` (may be empty)."""
        ...

    def end(self) -> bytes:
        """The bytes that close a complete stream."""
        ...

    def error(self, error: GatewayError) -> bytes:
        """The bytes that report a failure after the first byte; the stream ends after them."""
        ...


class OpenAIFraming:
    """Chunks as ``data:`` lines, then ``data: [DONE]``: chat completions unchanged."""

    def chunk(self, data: bytes) -> bytes:
        """``data: <chunk>``."""
        return b"data: " + data + b"\n\n"

    def end(self) -> bytes:
        """``data: [DONE]``."""
        return _DONE

    def error(self, error: GatewayError) -> bytes:
        """The error in OpenAI's shape as one ``data:`` line."""
        return b"data: " + orjson.dumps(error.body()) + b"\n\n"


OPENAI_FRAMING = OpenAIFraming()


async def send_stream(
    exchange: Exchange,
    routed: RoutedStream,
    extra: list[tuple[bytes, bytes]],
    framing: Framing = OPENAI_FRAMING,
) -> None:
    """Send the stream, framed by ``framing``; always closes ``routed``."""
    try:
        await exchange.start(200, [*_SSE_HEADERS, *extra])
        producer = asyncio.ensure_future(_produce(exchange, routed, framing))
        watcher = asyncio.ensure_future(_client_gone(exchange))
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (producer, watcher):
                task.cancel()
            await asyncio.gather(producer, watcher, return_exceptions=True)
        if producer.done() and not producer.cancelled() and producer.exception() is not None:
            logger.error("stream %s failed", exchange.request_id, exc_info=producer.exception())
    finally:
        await routed.aclose()


async def _produce(exchange: Exchange, routed: RoutedStream, framing: Framing) -> None:
    """One write to the client per upstream read: chunks that arrived together leave together."""
    body, frame = exchange.body, framing.chunk
    try:
        if data := b"".join(frame(chunk) for chunk in routed.first):
            await body(data, more=True)
        async for batch in routed.batches:
            if data := b"".join(frame(chunk) for chunk in batch):
                await body(data, more=True)
    except GatewayError as error:
        logger.warning(
            "stream from %s failed after the first byte: %s", routed.deployment.id, error.message
        )
        exchange.outcome.error = error  # the status sent was 200; metrics and logs see the failure
        await body(framing.error(error))
        return
    await body(framing.end())


async def _client_gone(exchange: Exchange) -> None:
    with contextlib.suppress(Exception):
        while (await exchange.receive())["type"] != "http.disconnect":
            pass

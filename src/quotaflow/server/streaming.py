"""Chunks → Server-Sent Events to the client; errors after the first byte become an error event.

While the stream runs, a second task listens for the client going away: then the producer is
cancelled, which closes the upstream connection, so an abandoned stream stops costing tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import orjson

from quotaflow.errors import GatewayError

if TYPE_CHECKING:
    from quotaflow.routing.router import RoutedStream
    from quotaflow.server.exchange import Exchange

__all__ = ["send_stream"]

logger = logging.getLogger("quotaflow.stream")

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"


async def send_stream(
    exchange: Exchange, routed: RoutedStream, extra: list[tuple[bytes, bytes]]
) -> None:
    """Send the stream; always closes ``routed``."""
    try:
        await exchange.start(200, [*_SSE_HEADERS, *extra])
        producer = asyncio.ensure_future(_produce(exchange, routed))
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


async def _produce(exchange: Exchange, routed: RoutedStream) -> None:
    body = exchange.body
    for chunk in routed.first:
        await body(b"data: " + chunk + b"\n\n", more=True)
    try:
        async for chunk in routed.rest:
            await body(b"data: " + chunk + b"\n\n", more=True)
    except GatewayError as error:
        logger.warning(
            "stream from %s failed after the first byte: %s", routed.deployment.id, error.message
        )
        await body(b"data: " + orjson.dumps(error.body()) + b"\n\n")
        return
    await body(_DONE)


async def _client_gone(exchange: Exchange) -> None:
    with contextlib.suppress(Exception):
        while (await exchange.receive())["type"] != "http.disconnect":
            pass

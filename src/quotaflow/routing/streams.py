"""Streams committed to a deployment: the first chunks, the rest, and the in-flight lease.

A stream is handed to the caller only once its first chunk arrived, so the router can still
fail over before that. From then on the deployment's in-flight slot is held by a ``Lease`` that
is released exactly once, however the stream ends (finished, broken, abandoned by its client).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quotaflow.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping

    from quotaflow.errors import Attempt
    from quotaflow.providers.base import (
        Operation,
        ProviderAdapter,
        ServerSentEvent,
        StreamTranslator,
        UpstreamRequest,
    )
    from quotaflow.providers.http import UpstreamClient, UpstreamStream
    from quotaflow.routing.deployment import Deployment

__all__ = ["Lease", "RoutedStream", "StreamTarget", "open_routed_stream"]


class Lease:
    """A deployment's in-flight slot, released exactly once."""

    __slots__ = ("_held", "_on_failure", "_on_release")

    def __init__(
        self, on_release: Callable[[], None], on_failure: Callable[[UpstreamError], None]
    ) -> None:
        self._on_release = on_release
        self._on_failure = on_failure
        self._held = True

    def release(self) -> None:
        """Give the slot back (later calls do nothing)."""
        if self._held:
            self._held = False
            self._on_release()

    def fail(self, error: UpstreamError) -> None:
        """The stream broke after its first byte: the deployment's health hears of it."""
        self._on_failure(error)


@dataclass(slots=True)
class RoutedStream:
    """A stream committed to one deployment: its first chunks, then the rest.

    Read the rest either chunk by chunk (``rest``) or as the batches the upstream delivered
    together (``batches``), not both. The caller must ``await aclose()`` when done, however the
    stream ended: that closes the upstream connection and gives the deployment's slot back.
    """

    deployment: Deployment
    first: list[bytes]
    batches: AsyncGenerator[list[bytes], None]
    translator: StreamTranslator
    _upstream: UpstreamStream
    _lease: Lease
    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0
    queue_s: float = 0.0

    rest: AsyncGenerator[bytes, None] = field(init=False)

    def __post_init__(self) -> None:
        self.rest = _one_by_one(self.batches)

    @property
    def headers(self) -> Mapping[str, str]:
        """The upstream's response headers (rate-limit hints among them)."""
        return self._upstream.headers

    async def aclose(self) -> None:
        """Stop the upstream stream and release the deployment."""
        try:
            await self.rest.aclose()
            await self.batches.aclose()
        finally:
            self._upstream.close()
            self._lease.release()


async def _one_by_one(batches: AsyncGenerator[list[bytes], None]) -> AsyncGenerator[bytes, None]:
    async for batch in batches:
        for chunk in batch:
            yield chunk


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """Where and how to open one stream."""

    deployment: Deployment
    adapter: ProviderAdapter
    request: UpstreamRequest
    op: Operation
    payload: dict[str, Any]
    first_token_s: float
    total_s: float


async def open_routed_stream(
    client: UpstreamClient, target: StreamTarget, lease: Callable[[], Lease]
) -> RoutedStream:
    """Open the upstream stream and read up to its first chunk, within ``first_token_s``.

    Raises the classified ``UpstreamError`` for an error answer, ``UpstreamTimeout`` when the
    first token does not come in time.
    """
    stream: UpstreamStream | None = None
    try:
        # One deadline covers the headers and the first chunk together.
        async with asyncio.timeout(target.first_token_s):
            stream = await client.open_stream(
                target.request, first_byte_s=target.first_token_s, total_s=target.total_s
            )
            if stream.status >= 300:
                body = await stream.read_body()
                raise target.adapter.classify_error(stream.status, stream.headers, body)
            translator = target.adapter.open_stream(target.op, target.payload)
            batches = stream.event_batches()
            first, leftover = await _first_chunks(batches, translator)
    except TimeoutError:
        if stream is not None:
            stream.close()
        raise UpstreamTimeout("The upstream sent no first token in time.") from None
    except BaseException:
        if stream is not None:
            stream.close()
        raise
    held = lease()
    rest = _rest(stream, leftover, batches, translator, held)
    return RoutedStream(target.deployment, first, rest, translator, stream, held)


async def _rest(
    stream: UpstreamStream,
    leftover: list[ServerSentEvent],
    batches: AsyncIterator[list[ServerSentEvent]],
    translator: StreamTranslator,
    lease: Lease,
) -> AsyncGenerator[list[bytes], None]:
    """The stream after its first chunks, a batch per upstream read; releases however it ends."""
    try:
        events: list[ServerSentEvent] | None = leftover
        while not translator.done:
            if not events:
                events = await anext(batches, None)
            if events is None:
                raise UpstreamUnavailable("The upstream stream ended before it was complete.")
            chunks, failure = _translate(translator, events)
            events = None
            if chunks:
                yield chunks  # what arrived before a failure still reaches the client
            if failure is not None:
                raise failure
    except UpstreamError as error:
        lease.fail(error)
        raise
    finally:
        stream.close()
        lease.release()


async def _first_chunks(
    batches: AsyncIterator[list[ServerSentEvent]], translator: StreamTranslator
) -> tuple[list[bytes], list[ServerSentEvent]]:
    """Read until the translator yields something to forward (or the stream ends).

    Returns those chunks and the events read with them but not yet translated: everything after
    the first chunk belongs to the stream's rest (an error there comes after the first byte).
    """
    async for events in batches:
        for index, event in enumerate(events):
            chunks = translator.feed(event)
            if chunks or translator.done:
                return chunks, events[index + 1 :]
    if translator.done:
        return [], []
    raise UpstreamUnavailable("The upstream stream ended before its first chunk.")


def _translate(
    translator: StreamTranslator, events: list[ServerSentEvent]
) -> tuple[list[bytes], UpstreamError | None]:
    """The chunks for a batch of events, up to where the upstream said it was done or failed."""
    chunks: list[bytes] = []
    for event in events:
        try:
            chunks += translator.feed(event)
        except UpstreamError as error:
            return chunks, error
        if translator.done:
            break
    return chunks, None

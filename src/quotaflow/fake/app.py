"""The fake provider as one raw ASGI application: control routes, faults, quota, latency, I/O.

Per request: read the body → control route? → wire format routes and parses → a queued or
model-named fault → quota charged on the arrival estimate → latency → answer. The wire format
(``OpenAIFormat``, ``AzureFormat``) owns every byte of the bodies; this module owns the order.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Final

import orjson

from quotaflow.clock import Clock, SystemClock
from quotaflow.fake.anthropic_format import AnthropicFormat
from quotaflow.fake.azure_format import AzureFormat
from quotaflow.fake.config import FakeProviderConfig
from quotaflow.fake.faults import (
    FakeFault,
    FaultKind,
    FaultQueue,
    ModelScripts,
    cut_connection,
    until_disconnect,
)
from quotaflow.fake.gemini_format import GeminiFormat
from quotaflow.fake.openai_format import OpenAIFormat
from quotaflow.fake.quota import QuotaWindows
from quotaflow.fake.stats import FakeStats
from quotaflow.fake.wire import (
    Call,
    Receive,
    Reply,
    ReplyMeta,
    Request,
    Scope,
    Send,
    StreamReply,
    WireFormat,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["FORMATS", "FakeProvider", "create_fake_app"]

FORMATS: Final[Mapping[str, Callable[[FakeProviderConfig], WireFormat]]] = {
    "openai": OpenAIFormat,
    "azure": AzureFormat,
    "anthropic": AnthropicFormat,
    "gemini": GeminiFormat,
}

_CONTROL_PREFIX = "/_fake/"
_SSE = b"text/event-stream; charset=utf-8"
_GARBAGE = Reply(200, b"<html>oops</html>", content_type=b"text/html; charset=utf-8")
_ANSWERING = frozenset({FaultKind.DELAY, FaultKind.RESET_MID_STREAM, FaultKind.ERROR_MID_STREAM})
_GARBAGE_EVENTS = (b"data: <html>oops</html>\n\n", b"data: {not json\n\n", b"data: [DONE]\n\n")


class FakeProvider:
    """A fake LLM provider speaking one flavor's wire format; an ASGI application."""

    def __init__(self, config: FakeProviderConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.stats = FakeStats(config.history_size)
        self._clock = clock or SystemClock()
        self._format = FORMATS[config.flavor](config)
        self._quota = QuotaWindows(tpm=config.tpm, rpm=config.rpm, start=self._clock.monotonic())
        self._faults = FaultQueue()
        self._scripts = ModelScripts()
        self._numbers = itertools.count(1)

    def add_faults(self, *faults: FakeFault) -> None:
        """Queue faults for the next matching requests."""
        self._faults.add(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Clear stats, queued faults, flaky-model counters and quota windows."""
        self.stats.reset()
        self._faults.clear()
        self._scripts.reset()
        self._quota.reset(self._clock.monotonic())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point (``http`` and ``lifespan``)."""
        if scope["type"] == "http":
            body = await _read_body(receive)
            request = Request(
                scope["method"], scope["path"], scope["query_string"], scope["headers"], body
            )
            if request.path.startswith(_CONTROL_PREFIX):
                await _write(send, self._control(request))
            else:
                stats = self.stats
                stats.in_flight += 1
                stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
                try:
                    await self._serve(request, receive, send)
                finally:
                    stats.in_flight -= 1
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _serve(self, request: Request, receive: Receive, send: Send) -> None:
        self.stats.recent.append(request)
        call = self._parse(request)
        if isinstance(call, Reply):
            await self._send(send, call)
            return
        meta = ReplyMeta(next(self._numbers), int(self._clock.wall()))
        fault = self._fault_for(call.model)
        if fault is not None and fault.kind not in _ANSWERING:
            await self._misbehave(fault, call, meta, receive, send)
            return
        refusal = self._admit(call, meta)
        if refusal is not None:
            await self._send(send, refusal)
            return
        delay_ms = self.config.model_latency_ms.get(call.model, self.config.latency_ms)
        delay_ms += fault.delay_ms if fault is not None else 0.0
        meta.processing_ms = round(delay_ms)
        reply = self._format.answer(call, meta)
        if fault is not None and fault.kind is FaultKind.ERROR_MID_STREAM:
            reply = self._broken(reply, fault, call, meta)
        cut = fault.after_chunks if fault and fault.kind is FaultKind.RESET_MID_STREAM else None
        if isinstance(reply, StreamReply):
            await self._stream(reply, delay_ms, cut, receive, send)
            return
        if delay_ms:
            await self._clock.sleep(delay_ms / 1000)
        if cut is None:
            await self._send(send, reply)
        else:
            await self._send_half(reply, receive, send)

    def _parse(self, request: Request) -> Call | Reply:
        """Route and parse through the wire format, counting the operation."""
        route = self._format.route(request)
        if isinstance(route, Reply):
            return route
        self.stats.requests[route.operation] += 1
        return self._format.parse(route, request)

    def _fault_for(self, model: str) -> FakeFault | None:
        """The next queued fault for ``model``, else the one its name scripts, if any."""
        fault = self._faults.take(model) if self._faults else None
        fault = fault or self._scripts.fault_for(model)
        if fault is not None:
            self.stats.faults[fault.kind.value] += 1
        return fault

    def _broken(
        self, reply: Reply | StreamReply, fault: FakeFault, call: Call, meta: ReplyMeta
    ) -> Reply | StreamReply:
        """The stream cut after ``after_chunks`` events by an ``{"error": …}`` event."""
        error = self._format.error(call, fault.status, meta, None)
        if isinstance(reply, Reply):
            return error
        framed = getattr(self._format, "error_event", None)  # formats with named SSE events
        last = framed(error) if framed is not None else b"data: " + error.body + b"\n\n"
        events = [*reply.events[: fault.after_chunks], last]
        return StreamReply(events, reply.headers)

    def _admit(self, call: Call, meta: ReplyMeta) -> Reply | None:
        """Charge the arrival estimate against the quota; the 429 if it does not fit."""
        if call.operation == "models":
            return None
        if self._quota.enabled:
            meta.quota = self._quota.charge(call.estimate, self._clock.monotonic())
            if not meta.quota.allowed:
                return self._format.rate_limited(call, meta.quota, meta)
        self.stats.tokens_charged += call.estimate
        return None

    async def _misbehave(
        self, fault: FakeFault, call: Call, meta: ReplyMeta, receive: Receive, send: Send
    ) -> None:
        if fault.kind is FaultKind.STATUS:
            await self._send(
                send, self._format.error(call, fault.status, meta, fault.retry_after_s)
            )
        elif fault.kind is FaultKind.HANG:
            await until_disconnect(receive)
        elif fault.kind is FaultKind.RESET:
            await cut_connection(receive, send, flush=False)
        elif fault.kind is FaultKind.GARBAGE:
            await self._send(send, _GARBAGE)
        else:  # GARBAGE_STREAM; the kinds in _ANSWERING never get here
            await self._stream(StreamReply(_GARBAGE_EVENTS), 0, None, receive, send)

    async def _send(self, send: Send, reply: Reply) -> None:
        self.stats.statuses[reply.status] += 1
        await _write(send, reply)

    async def _send_half(self, reply: Reply, receive: Receive, send: Send) -> None:
        """Promise the whole body, send half of it, then cut the connection."""
        self.stats.statuses[reply.status] += 1
        await send(_start(reply))
        half = reply.body[: len(reply.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        await cut_connection(receive, send, flush=True)

    async def _stream(
        self, reply: StreamReply, delay_ms: float, cut: int | None, receive: Receive, send: Send
    ) -> None:
        """Headers at once; events after the latency, ``inter_chunk_ms`` apart; maybe cut."""
        self.stats.statuses[200] += 1
        headers = [(b"content-type", _SSE), (b"cache-control", b"no-cache"), *reply.headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if delay_ms:
            await self._clock.sleep(delay_ms / 1000)
        gap_s = self.config.inter_chunk_ms / 1000
        if cut is None and not gap_s:
            await send({"type": "http.response.body", "body": b"".join(reply.events)})
            return
        gone = asyncio.ensure_future(until_disconnect(receive))
        try:
            for index, event in enumerate(reply.events if cut is None else reply.events[:cut]):
                if index and gap_s:
                    await self._clock.sleep(gap_s)
                if gone.done():  # the client left: stop generating, as a real provider does
                    self.stats.cancelled_streams += 1
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
        finally:
            gone.cancel()
        if cut is not None:
            await cut_connection(receive, send, flush=True)
        else:
            await send({"type": "http.response.body", "body": b""})

    def _control(self, request: Request) -> Reply:
        """``/_fake/faults`` (POST, GET, DELETE), ``GET /_fake/stats``, ``POST /_fake/reset``."""
        target = (request.method, request.path.removeprefix(_CONTROL_PREFIX).rstrip("/"))
        if target == ("POST", "faults"):
            try:
                faults = _faults_from_json(request.body)
            except ValueError as exc:
                return _json_reply({"error": {"message": str(exc)}}, status=400)
            self.add_faults(*faults)
        elif target == ("DELETE", "faults"):
            self.clear_faults()
        elif target == ("GET", "stats"):
            return _json_reply(self.stats.to_json())
        elif target == ("POST", "reset"):
            self.reset()
        elif target != ("GET", "faults"):
            return _json_reply({"error": {"message": "unknown control route"}}, status=404)
        return _json_reply({"faults": self._faults.to_json()})


def create_fake_app(
    config: FakeProviderConfig | None = None, clock: Clock | None = None
) -> FakeProvider:
    """A fake provider ASGI app for ``config`` (OpenAI flavor with defaults if omitted)."""
    return FakeProvider(config or FakeProviderConfig(), clock)


def _faults_from_json(body: bytes) -> list[FakeFault]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"body is not JSON: {exc}"
        raise ValueError(msg) from exc
    items = data.get("faults") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        msg = 'expected {"faults": [{"kind": ..., ...}, ...]}'
        raise ValueError(msg)
    return [FakeFault.from_json(item) for item in items]


def _json_reply(data: object, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(data))


def _start(reply: Reply) -> dict[str, object]:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", b"%d" % len(reply.body)),
        *reply.headers,
    ]
    return {"type": "http.response.start", "status": reply.status, "headers": headers}


async def _write(send: Send, reply: Reply) -> None:
    await send(_start(reply))
    await send({"type": "http.response.body", "body": reply.body})


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
    return body


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

"""Routing for front doors that speak another protocol: a translated chat call, answered back.

The handler translates the client's request into a chat payload; this routes it, then streams the
chunks through the protocol's ``Framing`` or renders the whole completion with ``render``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.server.openai_api import answer_stream, routing_headers

if TYPE_CHECKING:
    from collections.abc import Callable

    from quotaflow.routing.router import Call
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.server.streaming import Framing

__all__ = ["answer_translated"]

JSON = dict[str, Any]


async def answer_translated(
    services: Services,
    exchange: Exchange,
    call: Call,
    *,
    framing: Callable[[], Framing],
    render: Callable[[JSON], JSON],
) -> None:
    """Admit ``call`` (key permissions and limits), then stream it through ``framing()`` when
    it asks to stream, else send ``render(reply)``."""
    router = services.router
    if services.gate is not None:
        await services.gate.admit(exchange, call)
    if call.payload.get("stream") is True:
        await answer_stream(services, exchange, await router.stream(call), framing())
        return
    routed = await router.complete(call)
    body = orjson.dumps(render(orjson.loads(routed.reply.body)))
    extra = routing_headers(services, exchange, routed)
    await exchange.send_json(200, body, extra)

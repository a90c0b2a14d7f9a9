"""The OpenAI-compatible endpoints: chat completions, completions, embeddings, models.

Also the Azure-style inbound paths (``/openai/deployments/{model}/…``), where the model comes from
the path, so ``openai.AzureOpenAI`` clients work unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.errors import InvalidRequest
from quotaflow.providers.base import Operation
from quotaflow.routing.router import Call, RoutedReply
from quotaflow.server.streaming import OPENAI_FRAMING, send_stream
from quotaflow.server.validation import validate

if TYPE_CHECKING:
    from quotaflow.routing.router import RoutedStream
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.server.streaming import Framing

__all__ = [
    "answer_stream",
    "call_for",
    "call_model",
    "get_model",
    "list_models",
    "routing_headers",
]


async def call_model(services: Services, exchange: Exchange, op: Operation) -> None:
    """Authenticate, validate, route, answer (whole or streamed)."""
    exchange.outcome.principal = services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    payload = await exchange.read_json(services.max_body_bytes)
    path_model = exchange.path_params.get("model")
    if path_model is not None:
        payload["model"] = path_model
    validate(op, payload)
    router = services.router
    call = call_for(exchange, op, payload)
    if services.gate is not None:
        await services.gate.admit(exchange, call)
    if payload.get("stream") is True and op is not Operation.EMBEDDING:
        await answer_stream(services, exchange, await router.stream(call))
        return
    routed = await router.complete(call)
    extra = routing_headers(services, exchange, routed)
    await exchange.send_json(200, routed.reply.body, extra)


async def answer_stream(
    services: Services, exchange: Exchange, routed: RoutedStream, framing: Framing | None = None
) -> None:
    """Send a routed stream, then note its usage and cost in the exchange's outcome."""
    extra = routing_headers(services, exchange, routed)
    try:
        await send_stream(exchange, routed, extra, framing or OPENAI_FRAMING)
    finally:
        outcome = exchange.outcome
        outcome.usage = routed.translator.usage
        outcome.cost_usd = services.router.cost_of(routed.deployment.id, outcome.usage)


def call_for(exchange: Exchange, op: Operation, payload: dict[str, Any]) -> Call:
    """The router's ``Call``: the gateway's own fields (``priority``) leave the payload here.

    ``x-quotaflow-timeout`` (or LiteLLM's ``x-litellm-timeout``) and
    ``x-quotaflow-stream-timeout`` may lower the configured timeouts for this call.
    """
    priority = payload.pop("priority", None)
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise InvalidRequest(
            "Invalid 'priority': expected an integer (lower is served first).",
            param="priority",
            code="invalid_value",
        )
    exchange.outcome.model = payload["model"]
    return Call(
        op,
        payload["model"],
        payload,
        exchange.request_id,
        priority=priority,
        timeout_s=_seconds(exchange, b"x-quotaflow-timeout")
        or _seconds(exchange, b"x-litellm-timeout"),
        first_token_s=_seconds(exchange, b"x-quotaflow-stream-timeout"),
    )


def _seconds(exchange: Exchange, header: bytes) -> float | None:
    raw = exchange.header(header)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid header '{header.decode()}': expected a number of seconds.",
            code="invalid_value",
        ) from None
    return value if value > 0 else None


def routing_headers(
    services: Services, exchange: Exchange, routed: RoutedReply | RoutedStream
) -> list[tuple[bytes, bytes]]:
    """The ``x-quotaflow-*`` headers: who answered, after how many attempts and how long.

    The overhead is the time the gateway itself spent: neither the upstream calls nor the wait
    in the admission queue.
    """
    outcome = exchange.outcome
    outcome.routed = routed
    if isinstance(routed, RoutedReply):
        outcome.usage, outcome.cost_usd = routed.reply.usage, routed.cost_usd
    else:
        outcome.streamed = True
    queue_s = routed.queue_s
    elapsed_s = services.clock.monotonic() - exchange.started
    overhead_ms = (elapsed_s - routed.upstream_s - queue_s) * 1000
    headers = [
        (b"x-quotaflow-deployment", routed.deployment.id.encode()),
        (b"x-quotaflow-attempts", str(len(routed.attempts)).encode()),
        (b"x-quotaflow-overhead-ms", f"{max(overhead_ms, 0.0):.3f}".encode()),
    ]
    if queue_s > 0:
        headers.append((b"x-quotaflow-queue-ms", f"{queue_s * 1000:.1f}".encode()))
    if isinstance(routed, RoutedReply) and routed.cost_usd is not None:
        headers.append((b"x-quotaflow-response-cost", f"{routed.cost_usd:.10f}".encode()))
    return headers


def _model_object(services: Services, name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": services.created_s, "owned_by": "quotaflow"}


async def list_models(services: Services, exchange: Exchange) -> None:
    """``GET /v1/models``: every public model name the caller may use."""
    principal = exchange.outcome.principal = services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    names = services.router.model_names
    if services.gate is not None:
        names = services.gate.visible(principal, names)
    data = [_model_object(services, name) for name in names]
    await exchange.send_json(200, orjson.dumps({"object": "list", "data": data}))


async def get_model(services: Services, exchange: Exchange) -> None:
    """``GET /v1/models/{model}``."""
    principal = exchange.outcome.principal = services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    model = exchange.path_params["model"]
    if services.gate is not None:
        name = services.gate.group_for(principal, model)
    else:
        name = services.router.group(model).name
    await exchange.send_json(200, orjson.dumps(_model_object(services, name)))

"""The OpenAI-compatible endpoints: chat completions, completions, embeddings, models.

Also the Azure-style inbound paths (``/openai/deployments/{model}/…``), where the model comes from
the path, so ``openai.AzureOpenAI`` clients work unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from quotaflow.providers.base import Operation
from quotaflow.routing.router import Call
from quotaflow.server.streaming import send_stream
from quotaflow.server.validation import validate

if TYPE_CHECKING:
    from quotaflow.errors import Attempt
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["call_model", "get_model", "list_models"]


async def call_model(services: Services, exchange: Exchange, op: Operation) -> None:
    """Authenticate, validate, route, answer (whole or streamed)."""
    services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    payload = await exchange.read_json(services.max_body_bytes)
    path_model = exchange.path_params.get("model")
    if path_model is not None:
        payload["model"] = path_model
    validate(op, payload)
    router = services.router
    model: str = payload["model"]
    router.group(model)
    call = Call(op, model, payload, exchange.request_id)
    if payload.get("stream") is True and op is not Operation.EMBEDDING:
        routed_stream = await router.stream(call)
        extra = _routing_headers(
            services,
            exchange,
            routed_stream.deployment.id,
            routed_stream.attempts,
            routed_stream.upstream_s,
        )
        await send_stream(exchange, routed_stream, extra)
        return
    routed = await router.complete(call)
    extra = _routing_headers(
        services, exchange, routed.deployment.id, routed.attempts, routed.upstream_s
    )
    await exchange.send_json(200, routed.reply.body, extra)


def _routing_headers(
    services: Services,
    exchange: Exchange,
    deployment_id: str,
    attempts: list[Attempt],
    upstream_s: float,
) -> list[tuple[bytes, bytes]]:
    overhead_ms = (services.clock.monotonic() - exchange.started - upstream_s) * 1000
    return [
        (b"x-quotaflow-deployment", deployment_id.encode()),
        (b"x-quotaflow-attempts", str(len(attempts)).encode()),
        (b"x-quotaflow-overhead-ms", f"{max(overhead_ms, 0.0):.3f}".encode()),
    ]


def _model_object(services: Services, name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": services.created_s, "owned_by": "quotaflow"}


async def list_models(services: Services, exchange: Exchange) -> None:
    """``GET /v1/models``: every public model name."""
    services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    data = [_model_object(services, name) for name in services.router.model_names]
    await exchange.send_json(200, orjson.dumps({"object": "list", "data": data}))


async def get_model(services: Services, exchange: Exchange) -> None:
    """``GET /v1/models/{model}``."""
    services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    name = services.router.group(exchange.path_params["model"]).name
    await exchange.send_json(200, orjson.dumps(_model_object(services, name)))

"""OpenAI's Responses API (``/v1/responses``), served by chat completions on any model group.

Stateless: nothing is stored, so ``previous_response_id`` is refused. Errors keep OpenAI's shape.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING

from quotaflow.inbound import responses
from quotaflow.providers.base import Operation
from quotaflow.routing.router import Call
from quotaflow.server.translated import answer_translated
from quotaflow.server.validation import validate

if TYPE_CHECKING:
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["create_response"]


async def create_response(services: Services, exchange: Exchange) -> None:
    """``POST /v1/responses``: translate, route as a chat completion, translate back."""
    exchange.outcome.principal = services.authenticator.authenticate(
        exchange.header(b"authorization"), exchange.header(b"api-key")
    )
    body = await exchange.read_json(services.max_body_bytes)
    payload = responses.to_chat(body)
    validate(Operation.CHAT, payload)
    model: str = payload["model"]
    exchange.outcome.model = model
    call = Call(Operation.CHAT, model, payload, exchange.request_id)
    response_id, created_at = f"resp_{uuid.uuid4().hex}", int(services.clock.wall())
    await answer_translated(
        services,
        exchange,
        call,
        framing=partial(
            responses.ResponseStream, body, response_id=response_id, created_at=created_at
        ),
        render=partial(
            responses.to_response, body=body, response_id=response_id, created_at=created_at
        ),
    )

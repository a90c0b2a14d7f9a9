"""Anthropic's Messages API in front of any model group: ``/v1/messages`` and its token count.

The key may come as ``x-api-key`` (what Anthropic's SDKs send), ``api-key`` or
``Authorization: Bearer``. Every error on these paths, before routing or after, is answered in
Anthropic's shape, so Anthropic clients raise their usual exception classes.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.errors import AllAttemptsFailed, GatewayError
from quotaflow.inbound import anthropic_messages
from quotaflow.providers.base import Operation
from quotaflow.routing.router import Call
from quotaflow.server.translated import answer_translated
from quotaflow.server.validation import validate

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["AnthropicShapedError", "count_tokens", "create_message"]

logger = logging.getLogger("quotaflow.server")


class AnthropicShapedError(GatewayError):
    """A gateway error re-dressed in Anthropic's error shape; status and headers are kept."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message, code=error.code, param=error.param, headers=error.headers)
        self._status = error.status
        if isinstance(error, AllAttemptsFailed):
            self.headers["x-quotaflow-attempts"] = str(len(error.attempts))

    @property
    def status(self) -> int:
        """The original error's status."""
        return self._status

    def body(self) -> dict[str, Any]:
        """``{"type": "error", "error": {"type", "message"}}``."""
        return anthropic_messages.error_body(self._status, self.message)


@contextlib.contextmanager
def _anthropic_errors(exchange: Exchange) -> Iterator[None]:
    """Let every error leave this door in Anthropic's shape."""
    try:
        yield
    except GatewayError as error:
        raise AnthropicShapedError(error) from error
    except Exception as exc:
        logger.exception("request %s failed", exchange.request_id)
        internal = GatewayError(f"Internal error; request id {exchange.request_id}.")
        raise AnthropicShapedError(internal) from exc


def _authenticate(services: Services, exchange: Exchange) -> None:
    api_key = exchange.header(b"api-key") or exchange.header(b"x-api-key")
    exchange.outcome.principal = services.authenticator.authenticate(
        exchange.header(b"authorization"), api_key
    )


async def create_message(services: Services, exchange: Exchange) -> None:
    """``POST /v1/messages``: translate, route as a chat completion, translate back."""
    with _anthropic_errors(exchange):
        _authenticate(services, exchange)
        body = await exchange.read_json(services.max_body_bytes)
        payload = anthropic_messages.to_chat(body)
        validate(Operation.CHAT, payload)
        model: str = payload["model"]
        exchange.outcome.model = model
        call = Call(Operation.CHAT, model, payload, exchange.request_id)
        message_id = f"msg_{uuid.uuid4().hex}"
        await answer_translated(
            services,
            exchange,
            call,
            framing=partial(anthropic_messages.MessageStream, model=model, message_id=message_id),
            render=partial(anthropic_messages.to_message, model=model, message_id=message_id),
        )


async def count_tokens(services: Services, exchange: Exchange) -> None:
    """``POST /v1/messages/count_tokens``: an offline estimate, no upstream call."""
    with _anthropic_errors(exchange):
        _authenticate(services, exchange)
        body = await exchange.read_json(services.max_body_bytes)
        tokens = anthropic_messages.count_input_tokens(body)
        if services.gate is not None:
            services.gate.group_for(exchange.outcome.principal, body["model"])
        else:
            services.router.group(body["model"])
        await exchange.send_json(200, orjson.dumps({"input_tokens": tokens}))

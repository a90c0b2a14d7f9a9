"""The route table: method + path → handler, and nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from quotaflow.dashboard.activity_api import activity as dashboard_activity
from quotaflow.management.openapi import openapi_json
from quotaflow.management.routes import ROUTES as MANAGEMENT_ROUTES
from quotaflow.providers.base import Operation
from quotaflow.server import anthropic_api, health, openai_api, responses_api

if TYPE_CHECKING:
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["AZURE_OPERATIONS", "Handler", "exact_routes"]

Handler = Callable[["Services", "Exchange"], Awaitable[None]]

_MODEL_CALLS: dict[str, Operation] = {
    "/chat/completions": Operation.CHAT,
    "/completions": Operation.COMPLETION,
    "/embeddings": Operation.EMBEDDING,
}

# Other client protocols, translated to chat completions.
_FRONT_DOORS: dict[str, Handler] = {
    "/messages": anthropic_api.create_message,
    "/messages/count_tokens": anthropic_api.count_tokens,
    "/responses": responses_api.create_response,
}

# ``/openai/deployments/{model}/<suffix>``: the Azure SDK's inbound paths.
AZURE_OPERATIONS: dict[str, Operation] = {
    "chat/completions": Operation.CHAT,
    "completions": Operation.COMPLETION,
    "embeddings": Operation.EMBEDDING,
}


def exact_routes() -> dict[tuple[str, str], Handler]:
    """Every fixed path, with and without the ``/v1`` prefix."""
    routes: dict[tuple[str, str], Handler] = {}
    for path, op in _MODEL_CALLS.items():
        handler = partial(openai_api.call_model, op=op)
        routes["POST", path] = handler
        routes["POST", "/v1" + path] = handler
    for path, door in _FRONT_DOORS.items():
        routes["POST", path] = door
        routes["POST", "/v1" + path] = door
    routes["GET", "/models"] = openai_api.list_models
    routes["GET", "/v1/models"] = openai_api.list_models
    for path in ("/health/liveliness", "/health/liveness"):
        routes["GET", path] = health.liveness
    routes["GET", "/health/readiness"] = health.readiness
    for route in MANAGEMENT_ROUTES:  # virtual keys, teams, users, spend (LiteLLM's paths)
        routes[route.method, route.path] = route.handler
    routes["GET", "/openapi.json"] = openapi_json
    routes["GET", "/dashboard/activity"] = dashboard_activity  # the dashboard's overview
    return routes

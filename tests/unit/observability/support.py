"""Builders shared by the observability unit tests: settings, a router, request facts."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quotaflow.app import build_router, create_app
from quotaflow.clock import ManualClock
from quotaflow.config import Settings, load_settings
from quotaflow.errors import Attempt, GatewayError
from quotaflow.observability.facts import RequestFacts
from quotaflow.providers import UpstreamClient
from quotaflow.providers.base import Usage
from quotaflow.routing.deployment import Deployment
from quotaflow.serving import serve_app
from tests.support import Gateway, Stack

if TYPE_CHECKING:
    from quotaflow.observability import Observability, ObservabilityOptions
    from quotaflow.routing.router import Router

SWEDEN = Deployment(id="sweden", model_group="gpt-4", provider="azure", upstream_model="gpt-4")
FRANCE = Deployment(id="france", model_group="gpt-4", provider="azure", upstream_model="gpt-4")
MINI = Deployment(id="mini", model_group="gpt-4o-mini", provider="openai", upstream_model="m")
DEPLOYMENTS = {d.id: d for d in (SWEDEN, FRANCE, MINI)}


def settings(**general: Any) -> Settings:
    data = {
        "model_list": [
            {
                "model_name": "gpt-4",
                "litellm_params": {
                    "model": "azure/gpt-4",
                    "api_base": f"https://{name}.example.com",
                    "api_key": f"provider-key-{name}",
                    "api_version": "2024-02-15-preview",
                    "rpm": 60,
                },
                "model_info": {"id": name},
            }
            for name in ("sweden", "france")
        ]
        + [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/m",
                    "api_key": "provider-key-openai",
                    "extra_headers": {"x-org-token": "org-token-123456"},
                },
                "model_info": {"id": "mini"},
            }
        ],
        "router_settings": {"model_group_alias": {"gpt4": "gpt-4"}},
        "general_settings": {"master_key": "sk-master-123456", **general},
    }
    return load_settings(data=data, environ={}).settings


def router(clock: ManualClock | None = None) -> Router:
    return build_router(settings(), UpstreamClient(), clock=clock or ManualClock())


def facts(**overrides: Any) -> RequestFacts:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "started_s": 1000.0,
        "duration_s": 0.5,
        "operation": "chat",
        "model": "gpt-4",
        "model_group": "gpt-4",
        "deployment": SWEDEN,
        "attempts": [Attempt("sweden", "ok", 200, 0.4)],
        "queue_s": 0.0,
        "upstream_s": 0.4,
        "streamed": False,
        "usage": Usage(prompt_tokens=12, completion_tokens=34),
        "cost_usd": Decimal("0.0015"),
        "error": None,
        "key_alias": "master",
        "team": None,
        "user": None,
    }
    values.update(overrides)
    return RequestFacts(**values)


def failed(*attempts: Attempt, error: GatewayError | None = None, **overrides: Any) -> RequestFacts:
    """A request that no deployment answered."""
    return facts(
        status=error.status if error else 503,
        deployment=None,
        attempts=list(attempts),
        usage=None,
        cost_usd=None,
        error=error,
        upstream_s=sum(a.duration_s for a in attempts),
        **overrides,
    )


async def observed_gateway(
    stack: Stack, data: dict[str, Any], options: ObservabilityOptions | None = None
) -> tuple[Gateway, Observability]:
    """A gateway on 127.0.0.1 built from a config mapping, with observability installed."""
    loaded = load_settings(data=data, environ={}).settings
    app = create_app(loaded, observability=options)
    observability = app.services.observability
    assert observability is not None
    url = await stack.enter(serve_app(app, lifespan=True))
    return Gateway(app, url), observability

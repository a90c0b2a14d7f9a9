"""The composition root: the only place that builds long-lived objects and wires them together."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quotaflow.auth import Authenticator
from quotaflow.catalog import ModelCatalog, Tokenizer
from quotaflow.clock import Clock, SystemClock
from quotaflow.errors import ConfigError
from quotaflow.providers import PROVIDERS, UpstreamClient, create_adapter
from quotaflow.routing import Router, build_groups
from quotaflow.routing.context import ContextCheck, ModelLimits
from quotaflow.server import GatewayApp
from quotaflow.server.services import Services

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable

    from quotaflow.catalog import ModelSpec
    from quotaflow.config import Settings
    from quotaflow.providers.base import ProviderAdapter
    from quotaflow.routing.deployment import ModelGroup

__all__ = ["build_router", "create_app"]

logger = logging.getLogger("quotaflow")

_BYTES_PER_MB = 1024 * 1024


def build_router(
    settings: Settings,
    client: UpstreamClient,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> Router:
    """A ``Router`` over the configured deployments; ``ConfigError`` names what is wrong."""
    groups = build_groups(settings, PROVIDERS)
    adapters: dict[str, ProviderAdapter] = {}
    problems: list[str] = []
    for group in groups.values():
        for deployment in group.deployments:
            try:
                adapters[deployment.id] = create_adapter(deployment)
            except ValueError as exc:
                problems.append(f"model_list ({group.name}): {exc}")
    if problems:
        raise ConfigError(problems)
    prices = _prices(groups.values(), ModelCatalog.bundled())
    limits = {
        deployment_id: ModelLimits(spec.max_input_tokens, spec.encoding)
        for deployment_id, spec in prices.items()
    }
    return Router(
        groups,
        adapters,
        client,
        settings.router_settings,
        clock=clock or SystemClock(),
        rng=rng,
        prices=prices,
        context=ContextCheck(
            limits, Tokenizer(), enabled=settings.router_settings.enable_pre_call_checks
        ),
    )


def _prices(groups: Iterable[ModelGroup], catalog: ModelCatalog) -> dict[str, ModelSpec]:
    """Each deployment's prices and context window: the bundled table plus config overrides."""
    return {
        deployment.id: catalog.for_deployment(
            deployment.provider,
            deployment.upstream_model,
            base_model=deployment.base_model,
            input_cost_per_token=deployment.input_cost_per_token,
            output_cost_per_token=deployment.output_cost_per_token,
        )
        for group in groups
        for deployment in group.deployments
    }


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> GatewayApp:
    """The gateway's ASGI app; tests may pass their own ``services``."""
    if services is None:
        clock = clock or SystemClock()
        client = UpstreamClient()
        general = settings.general_settings
        master_key = general.master_key.get_secret_value() if general.master_key else None
        services = Services(
            router=build_router(settings, client, clock=clock, rng=rng),
            client=client,
            authenticator=Authenticator(master_key),
            clock=clock,
            max_body_bytes=int(general.max_request_size_mb * _BYTES_PER_MB),
            created_s=int(clock.wall()),
        )
    client = services.client

    async def open_client() -> None:
        await client.__aenter__()

    return GatewayApp(services, on_startup=open_client, on_shutdown=client.aclose)


def app_from_environment() -> GatewayApp:
    """The app for a worker process: settings from the file that ``QUOTAFLOW_CONFIG`` names."""
    from quotaflow.config import load_settings  # noqa: PLC0415
    from quotaflow.serving import freeze_heap  # noqa: PLC0415

    loaded = load_settings()
    app = create_app(loaded.settings)
    freeze_heap()
    return app

"""The composition root: the only place that builds long-lived objects and wires them together."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from quotaflow.auth import Authenticator
from quotaflow.auth.invalidations import ReloadingInvalidations
from quotaflow.auth.shared_invalidations import SharedInvalidations
from quotaflow.catalog import ModelCatalog, Tokenizer
from quotaflow.clock import Clock, SystemClock
from quotaflow.dashboard import install as install_dashboard
from quotaflow.errors import ConfigError
from quotaflow.limits import MemoryLimitCounters
from quotaflow.limits.partial import PartialLimitCounters
from quotaflow.limits.shared import SharedLimitCounters
from quotaflow.management.wiring import build_key_services
from quotaflow.observability import ObservabilityOptions, configure_logging
from quotaflow.observability import install as install_observability
from quotaflow.providers import PROVIDERS, UpstreamClient, create_adapter
from quotaflow.routing import Router, build_groups
from quotaflow.routing.context import ContextCheck, ModelLimits
from quotaflow.server import GatewayApp
from quotaflow.server.services import Services
from quotaflow.state import LocalState, StateBackend
from quotaflow.store import SpendWriter, open_store

if TYPE_CHECKING:
    import random
    from collections.abc import Awaitable, Callable, Iterable

    from quotaflow.auth import Invalidations
    from quotaflow.catalog import ModelSpec
    from quotaflow.config import Settings
    from quotaflow.limits import LimitCounters
    from quotaflow.providers.base import ProviderAdapter
    from quotaflow.routing.deployment import ModelGroup

__all__ = ["build_router", "build_state", "create_app", "data_folder", "store_url"]

logger = logging.getLogger("quotaflow")

_BYTES_PER_MB = 1024 * 1024
_WORKER_RELOAD_S = 2.0  # workers without Redis reread keys, teams and users this often


def build_state(settings: Settings, clock: Clock, *, workers: int = 1) -> StateBackend:
    """Redis when ``router_settings`` names one, else this process's memory.

    Without Redis, each of ``workers`` processes gets ``1 / workers`` of every declared quota,
    so that together they never exceed it (in-flight counts and cooldowns stay per process).
    """
    router_settings = settings.router_settings
    shared = router_settings.redis_host is not None or router_settings.redis_url is not None
    local = LocalState(
        clock,
        cooldown_s=router_settings.cooldown_time,
        allowed_fails=router_settings.allowed_fails,
        share=1.0 if shared else 1.0 / workers,
    )
    if not shared:
        return local
    from quotaflow.state.redis import RedisState, redis_client  # noqa: PLC0415

    return RedisState(redis_client(router_settings), local, router_settings, clock)


def data_folder(settings: Settings) -> Path | None:
    """Where the SQLite store and the spend spool live: ``general_settings.data_dir``, else the
    config file's folder (``None`` for settings that came from no file)."""
    general = settings.general_settings
    if general.data_dir is not None:
        return general.data_dir.resolve()
    return settings.source.parent.resolve() if settings.source is not None else None


def store_url(settings: Settings) -> str | None:
    """The store the gateway opens: ``database_url``, else SQLite ``quotaflow.db`` in the data
    folder; ``None`` (no virtual keys, the master key only) when there is neither."""
    general = settings.general_settings
    if general.database_url is not None:
        return general.database_url.get_secret_value()
    folder = data_folder(settings)
    return None if folder is None else f"sqlite:///{folder / 'quotaflow.db'}"


def _spool_folder(settings: Settings) -> Path:
    folder = data_folder(settings)
    return (folder or Path(tempfile.gettempdir()) / "quotaflow") / "spend-spool"


def build_router(
    settings: Settings,
    client: UpstreamClient,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    state: StateBackend | None = None,
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
        state=state,
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
    workers: int = 1,
    observability: ObservabilityOptions | None = None,
) -> GatewayApp:
    """The gateway's ASGI app; tests may pass their own ``services``.

    ``workers``: how many processes serve this config side by side (``serve --workers``).
    ``observability``: options other than the config's (tests: an in-memory span exporter).
    """
    own_services = services is None
    if services is None:
        clock = clock or SystemClock()
        client = UpstreamClient()
        general = settings.general_settings
        master_key = general.master_key.get_secret_value() if general.master_key else None
        state = build_state(settings, clock, workers=workers)
        services = Services(
            router=build_router(settings, client, clock=clock, rng=rng, state=state),
            client=client,
            authenticator=Authenticator(master_key),
            clock=clock,
            max_body_bytes=int(general.max_request_size_mb * _BYTES_PER_MB),
            created_s=int(clock.wall()),
        )
    client = services.client
    router = services.router
    router.state.watch_queue(router.queue.waiting)

    async def open_client() -> None:
        await client.__aenter__()
        await router.state.start()

    async def close() -> None:
        try:
            await router.state.aclose()
        finally:
            await client.aclose()

    app = GatewayApp(services, on_startup=open_client, on_shutdown=close)
    url = store_url(settings) if own_services else None
    if url is not None:
        _install_keys(app, settings, url, workers=workers)
    general = settings.general_settings
    services.observability = install_observability(
        app,
        settings,
        observability
        or ObservabilityOptions(
            metrics_port=general.metrics_port,
            metrics_host=general.metrics_host,
            require_auth_for_metrics=general.require_auth_for_metrics_endpoint,
            otlp_endpoint=general.otel_exporter_otlp_endpoint,
        ),
        shared=router.state.shared(),
    )
    install_dashboard(app, settings)
    return app


def _install_keys(app: GatewayApp, settings: Settings, url: str, *, workers: int) -> None:
    """Virtual keys, limits, spend records and the management API, opened at startup.

    Replicas learn of each other's key changes through Redis; workers without Redis reread
    the keys from the store every few seconds.
    """
    services = app.services
    router, clock = services.router, services.clock
    opened: list[Callable[[], Awaitable[None]]] = []

    async def open_keys() -> None:
        store = await open_store(url, clock=clock)
        opened.append(store.close)
        await store.migrate()
        writer = SpendWriter(store, _spool_folder(settings))
        await writer.start()  # first: it drains the spool a crash left, so seeding counts it
        opened.append(writer.aclose)
        shared = router.state.shared()
        invalidations: Invalidations | None = None
        counters: LimitCounters | None = None
        if shared is not None:
            invalidations = SharedInvalidations(shared)
            counters = SharedLimitCounters(shared, clock)
        elif workers > 1:
            invalidations = ReloadingInvalidations(_WORKER_RELOAD_S, clock.monotonic)
            counters = PartialLimitCounters(MemoryLimitCounters(clock), lambda: 1 / workers)
        keys = build_key_services(
            settings,
            store=store,
            router=router,
            prices=router.prices,
            clock=clock,
            spend=writer,
            counters=counters,
            invalidations=invalidations,
        )
        keys.install(services)
        await keys.start()
        opened.append(keys.stop)
        observability = services.observability
        if observability is not None:
            observability.watch_store(writer, "sqlite" if url.startswith("sqlite") else "postgres")
            observability.watch_budgets(keys.cache, keys.enforcer.counters)

    async def close_keys() -> None:
        while opened:
            await opened.pop()()

    app.add_lifespan_hooks(open_keys, close_keys)


def app_from_environment() -> GatewayApp:
    """The app for a worker process: settings from the file that ``QUOTAFLOW_CONFIG`` names."""
    from quotaflow.config import load_settings  # noqa: PLC0415
    from quotaflow.serving import freeze_heap  # noqa: PLC0415

    loaded = load_settings()
    configure_logging(loaded.log_level, loaded.log_format)
    app = create_app(loaded.settings, workers=loaded.workers)
    freeze_heap()
    return app

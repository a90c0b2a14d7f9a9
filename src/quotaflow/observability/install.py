"""``install``: metrics, the access log, tracing and ``/health`` on one gateway app.

``create_app`` calls it once: it builds the app's own ``CollectorRegistry``, adds one finish
hook (which reads each finished request once into ``RequestFacts`` and hands them to the
metrics, the access log and, when on, the tracer), mounts ``GET /metrics`` and ``GET /health``,
and makes every log handler redact the config's secrets. The state backend's gauges come with
it; ``watch_store`` and ``watch_budgets`` add the database's and the budgets' once the virtual
keys are open, and ``general_settings.background_health_checks`` adds the background probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from quotaflow import __version__
from quotaflow._background import stop
from quotaflow.errors import Attempt
from quotaflow.observability.backend_gauges import state_sources, store_sources
from quotaflow.observability.budget_gauges import BudgetGauges
from quotaflow.observability.facts import FactReader
from quotaflow.observability.logs import AccessLog, redact_handlers
from quotaflow.observability.metrics import (
    BUDGET_MAX_USD,
    BUDGET_REMAINING_USD,
    PROBE_LATENCY,
    PROBE_UP,
    PROBES,
    SPEND_BUFFERED,
    SPEND_DROPPED,
    SPEND_SPOOL_BYTES,
    SPEND_SPOOLED,
    SPEND_WRITTEN,
    GatewayMetrics,
)
from quotaflow.observability.probe import (
    OK,
    SKIPPED,
    HealthProbes,
    LocalProbeLease,
    ProbeLease,
    ProbeResult,
    SharedProbeLease,
)
from quotaflow.observability.redaction import secrets_of
from quotaflow.observability.router_gauges import CooldownWatch, RecentRateLimits, RouterCollector
from quotaflow.observability.tracing import Tracing
from quotaflow.server import health

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from opentelemetry.sdk.trace.export import SpanExporter

    from quotaflow.auth import KeyCache
    from quotaflow.config import Settings
    from quotaflow.limits import LimitCounters
    from quotaflow.observability.metrics import GaugeFamily
    from quotaflow.observability.router_gauges import GaugeReader
    from quotaflow.routing.deployment import Deployment
    from quotaflow.server import GatewayApp
    from quotaflow.server.exchange import Exchange, Receive, Scope, Send
    from quotaflow.state import SharedScripts
    from quotaflow.store.spend_writer import SpendWriter

__all__ = ["Observability", "ObservabilityOptions", "install"]

logger = logging.getLogger("quotaflow.observability")

# Always on the page (empty until their component feeds them), so that dashboards and alerts
# find every family whatever is configured.
_DECLARED = (
    BUDGET_REMAINING_USD, BUDGET_MAX_USD, SPEND_BUFFERED, SPEND_SPOOL_BYTES, SPEND_SPOOLED,
    SPEND_WRITTEN, SPEND_DROPPED, PROBES, PROBE_UP, PROBE_LATENCY,
)  # fmt: skip

# The classic text format: every Prometheus (2.x too) reads it; our names need nothing newer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ObservabilityOptions:
    """What to switch on; every field has the default a config without these keys gets.

    ``metrics_port``: also serve ``/metrics`` on this port (and ``metrics_host``), for a
    scrape endpoint apart from the API; ``/metrics`` stays on the main port too.
    ``otlp_endpoint``: export spans over OTLP/HTTP there (``OTEL_EXPORTER_OTLP_ENDPOINT``'s
    form: a base URL, ``/v1/traces`` is added). ``span_exporter``: tests' in-memory exporter.
    """

    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    require_auth_for_metrics: bool = False
    otlp_endpoint: str | None = None
    span_exporter: SpanExporter | None = None
    service_name: str = "quotaflow"
    max_teams: int = 100
    access_log: bool = True
    redact_logs: bool = True


class Observability:
    """The app's registry, metrics, access log and tracer, fed by one finish hook."""

    def __init__(
        self,
        app: GatewayApp,
        settings: Settings,
        options: ObservabilityOptions,
        shared: SharedScripts | None = None,
    ) -> None:
        services = app.services
        router = services.router
        self.options = options
        self.registry = CollectorRegistry()
        self.metrics = GatewayMetrics(self.registry, max_teams=options.max_teams)
        self.collector = RouterCollector(router, services.clock)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        info = Gauge(
            "quotaflow_build_info",
            "1, labelled with the version.",
            ("version",),
            registry=self.registry,
        )
        info.labels(__version__).set(1)
        self.reader = FactReader(
            {name: group.deployments for name, group in router.groups.items()},
            settings.router_settings.model_group_alias,
        )
        self.access_log = AccessLog() if options.access_log else None
        self.tracing = Tracing.create(
            options.otlp_endpoint,
            exporter=options.span_exporter,
            service_name=options.service_name,
        )
        self.rate_limits = RecentRateLimits()
        self._cooldowns = CooldownWatch(router)
        self._clock = services.clock
        self._metrics_server: contextlib.AsyncExitStack | None = None
        self.metrics_url: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._open = False
        self.budgets: BudgetGauges | None = None
        for family, read in state_sources(router.state):
            self.add_gauge_source(family, read)
        for family in _DECLARED:
            self.add_gauge_source(family, tuple)
        self.probes = self._probes(app, settings, shared)
        if self.probes is not None:
            for family, read in self.probes.sources():
                self.add_gauge_source(family, read)

    def add_gauge_source(self, family: GaugeFamily, read: GaugeReader) -> None:
        """Expose ``family`` with the samples ``read()`` returns at each scrape.

        ``read`` returns ``(label values, value)`` pairs in the family's label order; it runs
        on the event loop during a scrape, so it must be quick and must not block (return
        values cached by the component's own background work). One that raises is logged and
        its family left out of that scrape. Declare families in ``metrics.py``
        (``BUDGET_REMAINING_USD``, ``BACKEND_UP``) so every name is in one place.
        """
        self.collector.add_source(family, read)

    def watch_store(self, writer: SpendWriter, backend: str) -> None:
        """Expose the database's health (as the spend writer sees it) and the writer's counters.

        ``backend``: ``sqlite`` or ``postgres``.
        """
        for family, read in store_sources(writer, backend):
            self.add_gauge_source(family, read)

    def watch_budgets(self, cache: KeyCache, counters: LimitCounters) -> None:
        """Expose the remaining budget of every key and team in ``cache`` (bounded labels),
        read from ``counters`` by a background task while the app runs."""
        budgets = BudgetGauges(
            cache, counters, self._clock, team_label=self.metrics.team_label,
            max_keys=self.options.max_teams,
        )  # fmt: skip
        self.budgets = budgets
        for family, read in budgets.sources():
            self.add_gauge_source(family, read)
        if self._open:
            self._spawn(budgets.run())

    def page(self) -> tuple[bytes, str]:
        """The Prometheus text page and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def finish(self, exchange: Exchange) -> None:
        """The finish hook: one request, read once, counted, logged and traced."""
        now = self._clock.monotonic()
        facts = self.reader.read(exchange, now)
        if facts is None:
            return
        deployments = self.reader.deployments
        cooled = None
        attempts = facts.attempts
        broken = facts.deployment if facts.streamed and facts.error is not None else None
        if broken is not None or any(a.outcome != "ok" for a in attempts):
            cooled = self._cooldowns.after_failure(attempts, deployments, broken)
            self.rate_limits.note(attempts, now)
        self.metrics.record(facts, deployments, cooled)
        if self.access_log is not None:
            self.access_log(facts)
        if self.tracing is not None:
            start_wall_s = self._clock.wall() - (now - facts.started_s)
            self.tracing.record(facts, start_wall_s, exchange.header(b"traceparent"))

    async def open(self) -> None:
        """Start the background probes and budget reads, and the separate metrics port."""
        self._open = True
        if self.probes is not None:
            self.probes.start()
        if self.budgets is not None:
            self._spawn(self.budgets.run())
        port = self.options.metrics_port
        if port is None:
            return
        from quotaflow.serving import serve_app  # noqa: PLC0415 - only for a separate port

        exits = contextlib.AsyncExitStack()
        self.metrics_url = await exits.enter_async_context(
            serve_app(_MetricsApp(self.page), self.options.metrics_host, port)
        )
        self._metrics_server = exits
        logger.info("metrics on %s/metrics", self.metrics_url)

    async def close(self) -> None:
        """Stop the background work and the metrics port; flush pending spans."""
        self._open = False
        if self.probes is not None:
            await self.probes.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await stop(task)
        if self._metrics_server is not None:
            await self._metrics_server.aclose()
            self._metrics_server = None
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # flushing may wait on the network

    def _probes(
        self, app: GatewayApp, settings: Settings, shared: SharedScripts | None
    ) -> HealthProbes | None:
        general = settings.general_settings
        if not general.background_health_checks:
            return None
        services, interval_s = app.services, general.health_check_interval
        lease: ProbeLease = LocalProbeLease(services.clock, interval_s)
        if shared is not None:
            lease = SharedProbeLease(
                shared, LocalProbeLease(services.clock, interval_s), interval_s
            )
        return HealthProbes(
            services.router, services.client, services.clock, lease,
            interval_s=interval_s, on_result=self._probed,
        )  # fmt: skip

    def _probed(self, deployment: Deployment, result: ProbeResult) -> None:
        """A failed probe counts like a failed attempt: its cooldown and its 429."""
        if result.outcome in (OK, SKIPPED):
            return
        attempt = Attempt(deployment.id, result.outcome, result.status, result.latency_s or 0.0)
        self.rate_limits.note([attempt], self._clock.monotonic())
        for cooled in self._cooldowns.after_failure([attempt], {deployment.id: deployment}):
            self.metrics.cooldowns(cooled.model_group, cooled.id, cooled.provider).inc()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work))


class _MetricsApp:
    """The ASGI app of the separate metrics port: ``GET /metrics`` and nothing else."""

    def __init__(self, page: Callable[[], tuple[bytes, str]]) -> None:
        self._page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics" and scope["method"] == "GET":
            body, content_type = self._page()
            status = 200
        else:
            body, content_type, status = b"not found\n", "text/plain", 404
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def install(
    app: GatewayApp,
    settings: Settings,
    options: ObservabilityOptions | None = None,
    *,
    shared: SharedScripts | None = None,
) -> Observability:
    """Metrics, access log, tracing, ``/metrics`` and ``/health`` on ``app``; returns them.

    ``shared``: the fleet's shared state (Redis), where the background probes take turns.
    """
    options = options or ObservabilityOptions()
    observability = Observability(app, settings, options, shared)
    app.services.finish_hooks.append(observability.finish)
    app.mount(
        "GET",
        "/metrics",
        partial(
            health.metrics,
            page=observability.page,
            require_auth=options.require_auth_for_metrics,
        ),
    )
    app.mount(
        "GET",
        "/health",
        partial(
            health.deployments,
            recent_429s=observability.rate_limits.count,
            window_s=observability.rate_limits.window_s,
            last_probe=observability.probes.last if observability.probes is not None else None,
        ),
    )
    app.add_lifespan_hooks(observability.open, observability.close)
    if options.redact_logs:
        redact_handlers(secrets_of(settings))
    return observability

"""``install``: metrics, the access log, tracing and ``/health`` on one gateway app.

``create_app`` calls it once: it builds the app's own ``CollectorRegistry``, adds one finish
hook (which reads each finished request once into ``RequestFacts`` and hands them to the
metrics, the access log and, when on, the tracer), mounts ``GET /metrics`` and ``GET /health``,
and makes every log handler redact the config's secrets.
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
from quotaflow.observability.facts import FactReader
from quotaflow.observability.logs import AccessLog, redact_handlers
from quotaflow.observability.metrics import GatewayMetrics
from quotaflow.observability.redaction import secrets_of
from quotaflow.observability.router_gauges import CooldownWatch, RecentRateLimits, RouterCollector
from quotaflow.observability.tracing import Tracing
from quotaflow.server import health

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.sdk.trace.export import SpanExporter

    from quotaflow.config import Settings
    from quotaflow.observability.metrics import GaugeFamily
    from quotaflow.observability.router_gauges import GaugeReader
    from quotaflow.server import GatewayApp
    from quotaflow.server.exchange import Exchange, Receive, Scope, Send

__all__ = ["Observability", "ObservabilityOptions", "install"]

logger = logging.getLogger("quotaflow.observability")

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

    def __init__(self, app: GatewayApp, settings: Settings, options: ObservabilityOptions) -> None:
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

    def add_gauge_source(self, family: GaugeFamily, read: GaugeReader) -> None:
        """Expose ``family`` with the samples ``read()`` returns at each scrape.

        ``read`` returns ``(label values, value)`` pairs in the family's label order; it runs
        on the event loop during a scrape, so it must be quick and must not block (return
        values cached by the component's own background work). One that raises is logged and
        its family left out of that scrape. Declare families in ``metrics.py``
        (``BUDGET_REMAINING_USD``, ``BACKEND_UP``) so every name is in one place.
        """
        self.collector.add_source(family, read)

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
        """Start the separate metrics port, when one is configured."""
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
        """Stop the metrics port and flush pending spans."""
        if self._metrics_server is not None:
            await self._metrics_server.aclose()
            self._metrics_server = None
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # flushing may wait on the network


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
    app: GatewayApp, settings: Settings, options: ObservabilityOptions | None = None
) -> Observability:
    """Metrics, access log, tracing, ``/metrics`` and ``/health`` on ``app``; returns them."""
    options = options or ObservabilityOptions()
    observability = Observability(app, settings, options)
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
        ),
    )
    app.add_lifespan_hooks(observability.open, observability.close)
    if options.redact_logs:
        redact_handlers(secrets_of(settings))
    return observability

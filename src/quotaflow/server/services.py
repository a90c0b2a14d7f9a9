"""``Services``: the long-lived objects a request handler may use, built by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from quotaflow.auth import Authenticator
    from quotaflow.clock import Clock
    from quotaflow.dashboard.session import Sessions
    from quotaflow.management.gate import Gate
    from quotaflow.management.registry import Registry
    from quotaflow.observability import Observability
    from quotaflow.providers.http import UpstreamClient
    from quotaflow.routing.router import Router
    from quotaflow.server.exchange import Exchange

__all__ = ["Readiness", "Services"]


@dataclass(slots=True)
class Readiness:
    """Whether this process should receive traffic."""

    started: bool = False
    draining: bool = False

    @property
    def ready(self) -> bool:
        """Started and not shutting down."""
        return self.started and not self.draining


@dataclass(slots=True)
class Services:
    """Everything the HTTP layer calls into; one per app."""

    router: Router
    client: UpstreamClient
    authenticator: Authenticator
    clock: Clock
    max_body_bytes: int
    created_s: int
    readiness: Readiness = field(default_factory=Readiness)
    # Called once per request after its last byte, with the exchange and its ``outcome``.
    # Hooks must be quick and must not raise; slow work goes to a background task they own.
    finish_hooks: list[Callable[[Exchange], None]] = field(default_factory=list)
    # Virtual keys (``management.wiring.KeyServices.install``): model permissions and limits on
    # every model call, and the management API. ``None``: master key only, or an open gateway.
    gate: Gate | None = None
    registry: Registry | None = None
    # Metrics, access log, tracing (``observability.install``).
    observability: Observability | None = None
    # Dashboard session cookies (``dashboard.install``): the management API and ``/health``
    # accept one instead of a key. ``None``: no dashboard.
    dashboard: Sessions | None = None

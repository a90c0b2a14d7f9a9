"""Health: liveness (the process answers), readiness (it should get traffic), and ``/health``.

``/health`` shows each deployment's state from the traffic the gateway already sees — cooling
down or not, calls in flight, recent latency, recent 429s, the quota the upstream said remains —
without calling any upstream (no billed probe); with the opt-in background probes on, also each
deployment's last probe, as this replica made it. It needs the master key (or an admin
principal). ``/metrics`` renders the Prometheus page given to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.dashboard.session import session_principal
from quotaflow.errors import PermissionDenied

if TYPE_CHECKING:
    from collections.abc import Callable

    from quotaflow.routing.deployment import Deployment
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.state import StateStatus

__all__ = ["deployments", "liveness", "metrics", "readiness"]

_ALIVE = orjson.dumps({"status": "alive"})


async def liveness(services: Services, exchange: Exchange) -> None:
    """200 while the event loop runs."""
    await exchange.send_json(200, _ALIVE)


async def readiness(services: Services, exchange: Exchange) -> None:
    """200 once started and until draining; 503 otherwise."""
    state = services.readiness
    router = services.router
    now = services.clock.monotonic()
    deployments = [d for group in router.groups.values() for d in group.deployments]
    cooling = sum(1 for d in deployments if router.health.cooling_until(d.id) > now)
    body = {
        "status": "ready" if state.ready else ("draining" if state.draining else "starting"),
        "model_groups": len(router.groups),
        "deployments": len(deployments),
        "deployments_cooling_down": cooling,
        "queue": {
            "waiting": router.queue.stats.waiting,
            "admitted": router.queue.stats.admitted,
            "turned_away": router.queue.stats.turned_away,
            "wait_s_total": round(router.queue.stats.wait_s_total, 3),
        },
        # Degraded (Redis away) is still ready: the replica serves on its own share.
        "state": _state_details(router.state.status()),
    }
    await exchange.send_json(200 if state.ready else 503, orjson.dumps(body))


def _state_details(status: StateStatus) -> dict[str, Any]:
    details: dict[str, Any] = {
        "backend": status.backend,
        "degraded": status.degraded,
        "replicas": status.replicas,
        "fleet_waiting": status.fleet_waiting,
    }
    if status.detail:
        details["detail"] = status.detail
    return details


def _admin(services: Services, exchange: Exchange) -> None:
    """401 without a valid key, 403 for a principal that is not an admin.

    Without a key header, a dashboard session cookie may stand in (``dashboard.session``).
    """
    authorization, api_key = exchange.header(b"authorization"), exchange.header(b"api-key")
    principal = None
    if authorization is None and api_key is None:
        principal = session_principal(services, exchange)
    if principal is None:
        principal = services.authenticator.authenticate(authorization, api_key)
    exchange.outcome.principal = principal
    if not principal.is_admin:
        raise PermissionDenied("Only the master key or an admin key may read this.")


async def deployments(
    services: Services,
    exchange: Exchange,
    *,
    recent_429s: Callable[[str, float], int],
    window_s: float,
    last_probe: Callable[[str], dict[str, Any] | None] | None = None,
) -> None:
    """``GET /health``: every deployment's state, as the gateway's own traffic shows it.

    ``last_probe``: the deployment's last background probe (JSON), when probes are on.
    """
    _admin(services, exchange)
    router, clock = services.router, services.clock
    now, wall = clock.monotonic(), clock.wall()
    rows = [
        _deployment_state(services, deployment, now, wall, recent_429s(deployment.id, now))
        for group in router.groups.values()
        for deployment in group.deployments
    ]
    if last_probe is not None:
        for row in rows:
            row["last_probe"] = last_probe(row["id"])
    healthy = sum(1 for row in rows if row["state"] == "healthy")
    body = {
        "status": "healthy" if healthy == len(rows) else ("degraded" if healthy else "unhealthy"),
        "checked_at": _iso(wall),
        "healthy_count": healthy,
        "unhealthy_count": len(rows) - healthy,
        "recent_window_s": window_s,
        "queue": {name: router.queue.waiting(name) for name in router.groups},
        "deployments": rows,
    }
    await exchange.send_json(200, orjson.dumps(body))


def _deployment_state(
    services: Services, deployment: Deployment, now: float, wall: float, recent_429s: int
) -> dict[str, Any]:
    health, usage = services.router.health, services.router.usage
    cooling_s = health.cooling_until(deployment.id) - now
    latency_s = health.latency(deployment.id)
    hint = usage.hint(deployment.id)  # remaining requests, tokens (, until)
    row: dict[str, Any] = {
        "id": deployment.id,
        "model_group": deployment.model_group,
        "provider": deployment.provider,
        "state": "cooling_down" if cooling_s > 0 else "healthy",
        "cooling_down_until": _iso(wall + cooling_s) if cooling_s > 0 else None,
        "in_flight": health.in_flight(deployment.id),
        "latency_ms": round(latency_s * 1000, 1) if latency_s is not None else None,
        "recent_429s": recent_429s,
        "remaining_requests": hint[0],
        "remaining_tokens": hint[1],
        "rpm": deployment.rpm,
        "tpm": deployment.tpm,
    }
    if deployment.rpm is not None or deployment.tpm is not None:
        requests, tokens = usage.sent(deployment.id)
        row["sent_requests_10s"], row["sent_tokens_60s"] = requests, tokens
    return row


def _iso(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds")


async def metrics(
    services: Services,
    exchange: Exchange,
    *,
    page: Callable[[], tuple[bytes, str]],
    require_auth: bool,
) -> None:
    """``GET /metrics``: the Prometheus text page (the master key first, if so configured)."""
    if require_auth:
        _admin(services, exchange)
    body, content_type = page()
    await exchange.start(
        200,
        [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
    )
    await exchange.body(body)

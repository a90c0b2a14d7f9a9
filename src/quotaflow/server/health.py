"""Health probes: liveness (the process answers) and readiness (it should get traffic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["liveness", "readiness"]

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
    }
    await exchange.send_json(200 if state.ready else 503, orjson.dumps(body))

"""``GET /health`` and ``GET /metrics`` on the ASGI app itself, without sockets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from quotaflow.app import create_app
from quotaflow.auth import Principal
from quotaflow.clock import ManualClock
from quotaflow.errors import UpstreamRateLimited
from quotaflow.observability import ObservabilityOptions
from tests.unit.observability.support import settings

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from quotaflow.server import GatewayApp


async def get(
    app: GatewayApp, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    start, *bodies = sent
    head = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], head, b"".join(m.get("body", b"") for m in bodies)


def app_at(clock: ManualClock, **options: Any) -> GatewayApp:
    loaded = settings()
    app = create_app(loaded, clock=clock, observability=ObservabilityOptions(**options))
    app.services.readiness.started = True  # as after the lifespan's startup
    return app


MASTER = {"authorization": "Bearer sk-master-123456"}


async def test_health_shows_each_deployment_from_the_routers_state():
    clock = ManualClock(start=1000.0, wall_start=1_760_000_000.0)
    app = app_at(clock)
    router = app.services.router
    router.health.record_failure("france", UpstreamRateLimited("busy", retry_after_s=90))
    router.health.acquire("sweden")
    router.health.record_success("sweden", 0.2)

    status, _, body = await get(app, "/health", MASTER)

    assert status == 200
    health = orjson.loads(body)
    rows = {row["id"]: row for row in health["deployments"]}
    assert health["status"] == "degraded"
    assert (health["healthy_count"], health["unhealthy_count"]) == (2, 1)
    assert health["checked_at"] == "2025-10-09T08:53:20.000+00:00"
    assert rows["france"]["state"] == "cooling_down"
    assert rows["france"]["cooling_down_until"] == "2025-10-09T08:54:50.000+00:00"
    assert (rows["sweden"]["state"], rows["sweden"]["in_flight"]) == ("healthy", 1)
    assert rows["sweden"]["latency_ms"] == 200.0
    assert (rows["sweden"]["rpm"], rows["sweden"]["sent_requests_10s"]) == (60, 0)
    assert "sent_requests_10s" not in rows["mini"]


async def test_health_needs_an_admin():
    app = app_at(ManualClock())

    assert (await get(app, "/health", {}))[0] == 401
    assert (await get(app, "/health", {"authorization": "Bearer nope"}))[0] == 401

    class Member:
        def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
            return Principal(is_admin=False, key_alias="member")

    app.services.authenticator = Member()  # type: ignore[assignment]
    status, _, body = await get(app, "/health", MASTER)
    assert status == 403
    assert orjson.loads(body)["error"]["code"] == "permission_denied"


async def test_metrics_page_open_or_behind_the_master_key():
    open_app = app_at(ManualClock())
    status, headers, body = await get(open_app, "/metrics", {})
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE quotaflow_requests_total counter" in body
    assert b'quotaflow_build_info{version="0.1.0"} 1.0' in body

    closed = app_at(ManualClock(), require_auth_for_metrics=True)
    assert (await get(closed, "/metrics", {}))[0] == 401
    assert (await get(closed, "/metrics", MASTER))[0] == 200


async def test_probes_and_scrapes_are_not_counted_but_failed_ones_are():
    app = app_at(ManualClock())
    await get(app, "/health/readiness", {})
    await get(app, "/metrics", {})
    await get(app, "/health", {})  # 401: someone without the key

    _, _, body = await get(app, "/metrics", {})
    lines = [
        line for line in body.decode().splitlines() if line.startswith("quotaflow_requests_total")
    ]
    assert lines == ['quotaflow_requests_total{model_group="none",status_class="4xx",team=""} 1.0']

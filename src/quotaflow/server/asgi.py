"""``GatewayApp``: the raw-ASGI entry point — dispatch, error rendering, lifespan.

No framework sits on the hot path: a dict lookup finds the handler, and every ``GatewayError`` is
rendered once, here, in OpenAI's error shape. Anything else becomes a generic 500 that names the
request id, never the exception.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quotaflow.errors import AllAttemptsFailed, GatewayError, RouteNotFound
from quotaflow.server.exchange import Exchange, Receive, RequestIds, Scope, Send
from quotaflow.server.openai_api import call_model, get_model
from quotaflow.server.routes import AZURE_OPERATIONS, exact_routes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quotaflow.server.routes import Handler
    from quotaflow.server.services import Services

    Hook = Callable[[], Awaitable[None]]

__all__ = ["GatewayApp"]

logger = logging.getLogger("quotaflow.server")

_AZURE_PREFIX = "/openai/deployments/"
_MODEL_PREFIXES = ("/v1/models/", "/models/")


class GatewayApp:
    """The ASGI application; ``startup``/``shutdown`` run from the lifespan protocol."""

    def __init__(
        self,
        services: Services,
        *,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.services = services
        self._routes = exact_routes()
        self._request_ids = RequestIds()
        self._now = services.clock.monotonic
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._lifespan_hooks: list[tuple[Hook, Hook]] = []

    def mount(self, method: str, path: str, handler: Handler) -> None:
        """Add a route that a component brings when it is installed (``/metrics``, ``/health``).

        The fixed API lives in ``routes.exact_routes()``; mounted routes are the ones whose
        handler needs that component's own objects.
        """
        self._routes[method, path] = handler

    def add_lifespan_hooks(self, open_: Hook, close: Hook) -> None:
        """Run ``open_`` after startup and ``close`` before shutdown (in reverse order)."""
        self._lifespan_hooks.append((open_, close))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(Exchange(scope, receive, send, self._now(), self._request_ids))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Open what the app needs (the upstream client) and report ready."""
        if self._on_startup is not None:
            await self._on_startup()
        for open_, _ in self._lifespan_hooks:
            await open_()
        self.services.readiness.started = True

    def begin_drain(self) -> None:
        """Report not ready (503 on ``/health/readiness``) while calls are still served."""
        self.services.readiness.draining = True

    async def shutdown(self) -> None:
        """Report not ready, then close what ``startup`` opened."""
        self.services.readiness.draining = True
        try:
            for _, close in reversed(self._lifespan_hooks):
                try:
                    await close()
                except Exception:
                    logger.exception("shutdown hook failed")
        finally:
            if self._on_shutdown is not None:
                await self._on_shutdown()

    async def _http(self, exchange: Exchange) -> None:
        scope = exchange.scope
        try:
            handler = self._resolve(scope["method"], scope["path"], exchange)
            await handler(self.services, exchange)
        except GatewayError as error:
            exchange.outcome.error = error
            if not exchange.response_started:
                if isinstance(error, AllAttemptsFailed):
                    exchange.response_headers.append(
                        (b"x-quotaflow-attempts", str(len(error.attempts)).encode())
                    )
                await exchange.send_error(error)
        except Exception:
            logger.exception("request %s failed", exchange.request_id)
            if not exchange.response_started:
                await exchange.send_error(
                    GatewayError(f"Internal error; request id {exchange.request_id}.")
                )
        finally:
            for hook in self.services.finish_hooks:
                try:
                    hook(exchange)
                except Exception:
                    logger.exception("finish hook failed for request %s", exchange.request_id)

    def _resolve(self, method: str, path: str, exchange: Exchange) -> Handler:
        handler = self._routes.get((method, path))
        if handler is not None:
            return handler
        if path.startswith(_AZURE_PREFIX) and method == "POST":
            model, _, suffix = path[len(_AZURE_PREFIX) :].partition("/")
            op = AZURE_OPERATIONS.get(suffix)
            if model and op is not None:
                exchange.path_params["model"] = model

                async def azure(services: Services, ex: Exchange) -> None:
                    await call_model(services, ex, op)

                return azure
        for prefix in _MODEL_PREFIXES:
            if path.startswith(prefix) and method == "GET" and len(path) > len(prefix):
                exchange.path_params["model"] = path[len(prefix) :]
                return get_model
        raise RouteNotFound(f"Unknown route: {method} {path}.")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

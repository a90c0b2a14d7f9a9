"""Running an ASGI app under uvicorn inside an event loop that is already running.

The demo, the simulator and the test suites start fake upstreams and the gateway this way, on
127.0.0.1 and a free port; ``quotaflow serve`` uses uvicorn's own runner instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from types import FrameType

__all__ = [
    "DrainingServer",
    "base_url",
    "bind_socket",
    "freeze_heap",
    "quiet_loggers",
    "serve_app",
    "serve_forever",
    "uvicorn_config",
]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]

_BACKLOG = 2048
_GRACEFUL_SHUTDOWN_S = 2


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; ``port=0`` picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: a response's head and body never wait for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.settimeout(0.0)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: ASGIApp, *, lifespan: bool, embedded: bool) -> uvicorn.Config:
    """uvloop and httptools when installed, no access log."""
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    return uvicorn.Config(
        app,
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools" if has_httptools else "h11",
        lifespan="on" if lifespan else "off",
        access_log=False,
        log_level=None if embedded else "warning",
        log_config=None if embedded else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        backlog=_BACKLOG,
        proxy_headers=False,
        server_header=False,
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the host program's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Do not capture signals: the embedding program owns them."""
        yield


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, lifespan: bool = False
) -> AsyncIterator[str]:
    """Serve ``app`` in the running event loop; yield its base URL; stop it on exit."""
    sock = bind_socket(host, port)
    server = _EmbeddedServer(uvicorn_config(app, lifespan=lifespan, embedded=True))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                msg = "the server stopped during start-up"
                raise RuntimeError(msg)
            await asyncio.sleep(0.001)
        yield base_url(sock)
    finally:
        server.should_exit = True
        await task
        sock.close()


def serve_forever(app: ASGIApp, sock: socket.socket, *, lifespan: bool = False) -> None:
    """Serve ``app`` on ``sock`` with uvloop and httptools until SIGINT or SIGTERM."""
    uvicorn.Server(uvicorn_config(app, lifespan=lifespan, embedded=False)).run(sockets=[sock])


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Generator[None, None, None]:
    """Raise these loggers to WARNING for a while: in-process servers log a line per request."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def freeze_heap(*, young_threshold: int = 20_000) -> None:
    """Tune the garbage collector for a long-running server, once the app is built.

    Everything allocated at start-up (config, adapters, the price table, imported modules)
    moves to the permanent generation, so collections stop re-scanning it; and the young
    generation may grow larger between collections. A request allocates a few dozen
    short-lived objects: with CPython's default threshold (700) a gateway spends a measurable
    share of its CPU in the collector.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, on SIGTERM/SIGINT, first reports not-ready while still serving.

    For ``drain_s`` seconds after the first signal, ``on_drain`` has turned readiness to 503
    (so a load balancer stops sending new calls) and requests are still served; then uvicorn's
    own graceful shutdown begins: stop accepting, finish what is in flight. A second signal
    skips the wait.
    """

    def __init__(self, config: uvicorn.Config, *, drain_s: float, on_drain: Callable[[], None]):
        super().__init__(config)
        self._drain_s = drain_s
        self._on_drain = on_drain
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Remember the loop, then serve as uvicorn does."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Drain first; exit on the second signal or when the drain time is over."""
        if self._draining or self._drain_s <= 0 or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._on_drain()
        loop = self._loop

        def exit_later() -> None:
            loop.call_later(self._drain_s, super(DrainingServer, self).handle_exit, sig, frame)

        loop.call_soon_threadsafe(exit_later)

"""Test support: a gateway app with virtual keys on a real SQLite store in a temporary folder.

``keyed_app`` does what ``create_app`` will do once it wires keys itself: open and migrate the
store, start a ``SpendWriter``, build the key services and install them into the app.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from quotaflow.app import create_app
from quotaflow.clock import SystemClock
from quotaflow.config import load_settings
from quotaflow.management.wiring import KeyServices, build_key_services
from quotaflow.store import SpendWriter, open_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quotaflow.clock import Clock
    from quotaflow.server import GatewayApp
    from quotaflow.store import Store

MASTER = "sk-test-master"


def settings(**general: Any) -> dict[str, Any]:
    """Two model groups on an upstream nobody calls in unit tests."""
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": "http://127.0.0.1:9",
                    "api_key": "k",
                    "input_cost_per_token": 0.00001,
                    "output_cost_per_token": 0.00003,
                },
            }
            for name in ("gpt-4-preview", "gpt-4o-mini")
        ],
        "general_settings": {"master_key": MASTER, **general},
    }


@dataclass
class Keyed:
    """The app and what was built for it."""

    app: GatewayApp
    keys: KeyServices
    store: Store
    writer: SpendWriter


@contextlib.asynccontextmanager
async def keyed_services(
    app: GatewayApp, config: dict[str, Any], folder: Path, clock: Clock | None = None
) -> AsyncIterator[Keyed]:
    """Open a store in ``folder`` and install virtual keys into ``app`` until the block ends."""
    clock = clock or SystemClock()
    loaded = load_settings(data=config, environ={})
    store = await open_store(f"sqlite:///{folder / 'quotaflow.db'}", clock=clock)
    async with contextlib.AsyncExitStack() as exits:
        exits.push_async_callback(store.close)
        await store.migrate()
        writer = SpendWriter(store, folder / "spool", flush_interval_s=0.02)
        await writer.start()
        exits.push_async_callback(writer.aclose)
        router = app.services.router
        prices = router.prices
        keys = build_key_services(
            loaded.settings, store=store, router=router, prices=prices, clock=clock, spend=writer
        )
        keys.install(app.services)
        await keys.start()
        exits.push_async_callback(keys.stop)
        yield Keyed(app, keys, store, writer)


@contextlib.asynccontextmanager
async def keyed_app(
    folder: Path, config: dict[str, Any] | None = None, clock: Clock | None = None
) -> AsyncIterator[Keyed]:
    """An in-process app (no sockets) with virtual keys."""
    config = config or settings()
    app = create_app(load_settings(data=config, environ={}).settings, clock=clock)
    async with keyed_services(app, config, folder, clock) as keyed:
        yield keyed


def client(app: GatewayApp, key: str = MASTER) -> httpx.AsyncClient:
    """An HTTP client talking to ``app`` in process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"authorization": f"Bearer {key}"},
    )

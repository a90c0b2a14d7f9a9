"""Test support: fake upstream regions and a gateway in front of them.

Everything binds to 127.0.0.1 on a free port and runs in the test's own event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.fake import FakeProvider, FakeProviderConfig, create_fake_app
from quotaflow.serving import serve_app

if TYPE_CHECKING:
    import contextlib

    from quotaflow.server import GatewayApp

MASTER_KEY = "sk-test-master"


@dataclass
class Region:
    """A fake Azure region and where it listens."""

    name: str
    app: FakeProvider
    url: str


@dataclass
class Gateway:
    """A running gateway."""

    app: GatewayApp
    url: str

    @property
    def v1(self) -> str:
        return self.url + "/v1"


def azure_config(**overrides: Any) -> FakeProviderConfig:
    return FakeProviderConfig(flavor="azure", **overrides)


def two_region_settings(regions: list[Region], **router: Any) -> dict[str, Any]:
    """The seed's config: one model name over every region."""
    return {
        "model_list": [
            {
                "model_name": "gpt-4-preview",
                "litellm_params": {
                    "model": "azure/gpt-4-preview",
                    "api_base": region.url,
                    "api_key": f"key-{region.name}",
                    "api_version": "2024-02-15-preview",
                },
                "model_info": {"id": region.name},
            }
            for region in regions
        ]
        + [
            {
                "model_name": "text-embedding-3-small",
                "litellm_params": {
                    "model": "azure/text-embedding-3-small",
                    "api_base": region.url,
                    "api_key": f"key-{region.name}",
                },
            }
            for region in regions
        ],
        "router_settings": {"routing_strategy": "least-busy", "num_retries": 2, **router},
        "general_settings": {"master_key": MASTER_KEY},
    }


class Stack:
    """Starts regions and gateways; everything stops when the test ends."""

    def __init__(self, exits: contextlib.AsyncExitStack) -> None:
        self._exits = exits

    async def enter(self, context: Any) -> Any:
        """Enter an async context manager for the rest of the test."""
        return await self._exits.enter_async_context(context)

    async def region(self, name: str, **config: Any) -> Region:
        """A fake Azure region that wants the key ``key-<name>``."""
        overrides = {"api_key": f"key-{name}", "region": name, **config}
        app = create_fake_app(azure_config(**overrides))
        url = await self._exits.enter_async_context(serve_app(app))
        return Region(name, app, url)

    async def gateway(self, settings: dict[str, Any]) -> Gateway:
        """A gateway built from a config mapping."""
        loaded = load_settings(data=settings, environ={})
        app = create_app(loaded.settings)
        url = await self._exits.enter_async_context(serve_app(app, lifespan=True))
        return Gateway(app, url)

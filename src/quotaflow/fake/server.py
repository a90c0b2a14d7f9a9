"""Running a fake provider on 127.0.0.1 inside the running event loop."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from quotaflow.fake.app import create_fake_app
from quotaflow.serving import serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quotaflow.clock import Clock
    from quotaflow.fake.config import FakeProviderConfig

__all__ = ["run_fake", "serve_app"]


@contextlib.asynccontextmanager
async def run_fake(
    config: FakeProviderConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock | None = None,
) -> AsyncIterator[str]:
    """Build a fake from ``config`` and serve it; yield its base URL."""
    async with serve_app(create_fake_app(config, clock), host, port) as url:
        yield url

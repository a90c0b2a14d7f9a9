"""Fixtures for the fake provider's tests: a manual clock and in-process clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from quotaflow.clock import ManualClock
from quotaflow.fake import FakeProvider, FakeProviderConfig, create_fake_app

Connect = Callable[..., tuple[FakeProvider, httpx.AsyncClient]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def connect(clock: ManualClock) -> AsyncIterator[Connect]:
    """``connect(**config)`` → (app, client talking to it in-process)."""
    clients: list[httpx.AsyncClient] = []

    def _connect(**settings: Any) -> tuple[FakeProvider, httpx.AsyncClient]:
        app = create_fake_app(FakeProviderConfig(**settings), clock)
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://fake.test")
        clients.append(client)
        return app, client

    yield _connect
    for client in clients:
        await client.aclose()


@pytest.fixture
def sse() -> Callable[[str], list[Any]]:
    """Parse an SSE body into its data payloads: JSON objects, and the string ``[DONE]``."""

    def _parse(text: str) -> list[Any]:
        assert text.endswith("\n\n")
        frames = text.removesuffix("\n\n").split("\n\n")
        assert all(frame.startswith("data: ") for frame in frames)
        return [
            "[DONE]" if f == "data: [DONE]" else orjson.loads(f.removeprefix("data: "))
            for f in frames
        ]

    return _parse

"""What only the PostgreSQL backend has: a pool over the network, which can fail."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

from quotaflow.store import NotFound, StoreUnavailable, open_store
from quotaflow.store.postgres import PostgresStore
from tests.proxy import TcpProxy

if TYPE_CHECKING:
    from tests.store.conftest import PostgresSchema

pytestmark = pytest.mark.integration


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def test_an_unreachable_server_is_unavailable():
    with pytest.raises(StoreUnavailable):
        await open_store("postgresql://postgres@127.0.0.1:1/test")


async def test_a_cut_connection_is_unavailable_and_the_pool_recovers(pg_schema: PostgresSchema):
    proxy = TcpProxy(*_host_port(pg_schema.url))
    await proxy.restore()
    store = await PostgresStore.open(
        through(proxy, pg_schema.url), schema=pg_schema.name, timeout_s=0.5
    )
    try:
        await store.migrate()
        await proxy.cut()
        with pytest.raises(StoreUnavailable):
            await store.keys.get_by_hash("a" * 64)
        await proxy.restore()
        await proxy.hang()  # accepts, never answers: the connect timeout gives up
        with pytest.raises(StoreUnavailable):
            await store.ping()
        await proxy.restore()
        with pytest.raises(NotFound):
            await store.keys.get_by_hash("a" * 64)
    finally:
        await store.close()
        await proxy.cut()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432

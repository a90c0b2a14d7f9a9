"""Migrations: versioned, the same versions in both dialects, idempotent, safe to race."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from quotaflow.store import open_store, upgrade
from quotaflow.store._migrations import migrations
from quotaflow.store.opener import sqlite_path
from quotaflow.store.records import VirtualKey

if TYPE_CHECKING:
    from pathlib import Path

    from tests.store.conftest import PostgresSchema, StoreFactory


def test_both_dialects_have_the_same_versions():
    sqlite = [m.version for m in migrations("sqlite")]
    postgres = [m.version for m in migrations("postgres")]
    assert sqlite == postgres
    assert sqlite[0] == "0001_initial"
    assert sqlite == sorted(sqlite)


async def test_migrate_is_idempotent(store_factory: StoreFactory):
    store = await store_factory.open()
    applied = await store.migrate()
    assert list(applied) == [m.version for m in migrations("sqlite")]
    assert await store.migrate() == []
    again = await store_factory.open()
    assert await again.migrate() == []


async def test_concurrent_migrations_apply_once(store_factory: StoreFactory):
    stores = [await store_factory.open() for _ in range(3)]
    results = await asyncio.gather(*(s.migrate() for s in stores))
    assert sorted(len(r) for r in results) == [0, 0, len(migrations("sqlite"))]
    await stores[0].keys.create(VirtualKey("a" * 64))
    assert (await stores[2].keys.get_by_hash("a" * 64)).token_hash == "a" * 64


def test_sqlite_urls():
    assert sqlite_path("sqlite:///data/q.db") == "data/q.db"
    assert sqlite_path("sqlite:////var/lib/q.db") == "/var/lib/q.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    assert sqlite_path("postgresql://x/y") is None
    with pytest.raises(ValueError, match="needs a path"):
        sqlite_path("sqlite:///")


async def test_open_store_refuses_unknown_schemes():
    with pytest.raises(ValueError, match="mysql"):
        await open_store("mysql://localhost/db")


async def test_upgrade_a_sqlite_url(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/db/quotaflow.db"
    assert list(await upgrade(url)) == ["0001_initial"]
    assert await upgrade(url) == []
    store = await open_store(url)
    try:
        await store.keys.create(VirtualKey("a" * 64))
    finally:
        await store.close()


@pytest.mark.integration
async def test_upgrade_a_postgres_url_with_a_search_path(pg_schema: PostgresSchema):
    # asyncpg passes unknown URL query parameters to the server as settings.
    url = f"{pg_schema.url}?search_path={pg_schema.name}"
    assert list(await upgrade(url.replace("postgresql://", "postgres://"))) == ["0001_initial"]
    assert await upgrade(url) == []
    conn = await asyncpg.connect(pg_schema.url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            pg_schema.name,
        )
    finally:
        await conn.close()
    assert {"schema_migrations", "virtual_keys", "spend_daily"} <= {t[0] for t in tables}

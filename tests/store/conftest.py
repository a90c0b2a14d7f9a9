"""Store fixtures: the same tests run on a SQLite file and on a real PostgreSQL.

PostgreSQL is ``QUOTAFLOW_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/
test``); each test gets its own schema, dropped afterwards. If the server cannot be reached the
PostgreSQL cases are skipped, unless ``CI`` is set: then they fail, since a missing service in
CI is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import pytest

from quotaflow.clock import ManualClock
from quotaflow.store.postgres import PostgresStore
from quotaflow.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quotaflow.store.base import Store

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("QUOTAFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
IN_CI = bool(os.environ.get("CI"))


async def _probe(url: str) -> str | None:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, once it has answered; skip (or fail in CI) if it does not."""
    # In a thread of its own: a test's event loop may already run in this one.
    with ThreadPoolExecutor(max_workers=1) as executor:
        problem = executor.submit(asyncio.run, _probe(POSTGRES_URL)).result()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({problem})"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide it", pytrace=False)
        pytest.skip(f"{message}; set QUOTAFLOW_TEST_POSTGRES_URL or start it")
    return POSTGRES_URL


@dataclass
class PostgresSchema:
    """A throwaway schema on the test server."""

    url: str
    name: str


@pytest.fixture
async def pg_schema(postgres_url: str) -> AsyncIterator[PostgresSchema]:
    """A fresh schema, dropped with everything in it after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield PostgresSchema(postgres_url, name)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


@pytest.fixture
def clock() -> ManualClock:
    """Store time; tests move it to separate creation times."""
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store implementation a test runs on."""
    return str(request.param)


@contextlib.asynccontextmanager
async def opened(store: Store) -> AsyncIterator[Store]:
    """``store``, closed afterwards."""
    try:
        yield store
    finally:
        await store.close()


@dataclass
class Database:
    """Where a test's stores live: a SQLite file, or a schema on the PostgreSQL server."""

    backend: str
    target: str
    """The SQLite file path, or the PostgreSQL URL."""
    schema: str | None = None


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A fresh, empty database on the test's backend."""
    if backend == "sqlite":
        return Database(backend, str(tmp_path / "store.db"))
    schema: PostgresSchema = request.getfixturevalue("pg_schema")
    return Database(backend, schema.url, schema.name)


@pytest.fixture
async def store_factory(database: Database, clock: ManualClock) -> AsyncIterator[StoreFactory]:
    """Opens stores on the test's database."""
    async with contextlib.AsyncExitStack() as exits:
        yield StoreFactory(database, clock, exits)


@dataclass
class StoreFactory:
    """Opens (unmigrated) stores on the test's database; all are closed after the test."""

    database: Database
    clock: ManualClock
    exits: contextlib.AsyncExitStack

    async def open(self) -> Store:
        """A new store (its own connection or pool) on the test's database."""
        store: Store
        db = self.database
        if db.schema is None:
            store = await SqliteStore.open(db.target, clock=self.clock, busy_timeout_s=5)
        else:
            store = await PostgresStore.open(db.target, clock=self.clock, schema=db.schema)
        return await self.exits.enter_async_context(opened(store))


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """A migrated store on a fresh database."""
    store = await store_factory.open()
    await store.migrate()
    return store

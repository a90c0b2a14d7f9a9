"""The PostgreSQL store: an ``asyncpg`` pool; NUMERIC money, TIMESTAMPTZ times, JSONB metadata.

The shared repositories write ``?`` placeholders; sessions here number them (``$1``, …).
Spend batches go in with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
RETURNING``. Migrations run in one transaction under an advisory lock, so replicas that start
together apply them once. ``asyncpg`` errors are translated here: unique violations →
``Conflict``; connection failures, timeouts, server shutdown, too many connections and
serialization failures → ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg
import asyncpg.exceptions
import orjson

from quotaflow.clock import SystemClock
from quotaflow.store._keys import SqlKeyRepository
from quotaflow.store._migrations import migrations
from quotaflow.store._spend import SqlSpendRepository
from quotaflow.store._sql import Kind, Row, to_utc, utc_now
from quotaflow.store._teams import SqlTeamRepository
from quotaflow.store._users import SqlUserRepository
from quotaflow.store.errors import Conflict, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
    from datetime import datetime

    from quotaflow.clock import Clock
    from quotaflow.store.base import KeyRepository, SpendRepository, TeamRepository, UserRepository

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = 0x71756F7461666C6F  # "quotaflo": one advisory lock id for every replica

_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
)

# Array types of the spend_logs columns, for the unnest() batch insert.
_SPEND_ARRAY_TYPES: Mapping[str, str] = {
    "prompt_tokens": "bigint[]",
    "completion_tokens": "bigint[]",
    "cached_tokens": "bigint[]",
    "cost_usd": "numeric[]",
    "latency_ms": "double precision[]",
    "status": "integer[]",
    "started_at": "timestamptz[]",
    "ended_at": "timestamptz[]",
}


class _PostgresCodec:
    """Values as asyncpg binds them; JSONB goes through the connection's orjson codec."""

    money_sum = "sum"

    def money_add(self, left: str, right: str) -> str:
        """``left + right``."""
        return f"{left} + {right}"

    def encode(self, kind: Kind, value: object) -> object:
        """A Python value as asyncpg binds it."""
        if kind is Kind.MONEY:
            return Decimal(value)  # type: ignore[arg-type]
        if kind is Kind.TIME:
            return to_utc(value)  # type: ignore[arg-type]
        if kind is Kind.STRINGS:
            return list(value)  # type: ignore[call-overload]
        if kind is Kind.BOOL:
            return bool(value)
        return value

    def decode(self, kind: Kind, value: object) -> object:
        """A column value as the record holds it."""
        if kind is Kind.TIME:
            return value.astimezone(UTC)  # type: ignore[attr-defined]
        if kind is Kind.STRINGS:
            return tuple(value)  # type: ignore[arg-type]
        if kind is Kind.MONEY:
            return Decimal(value)  # type: ignore[arg-type]
        return value


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """asyncpg's exceptions as store errors."""
    try:
        yield
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise Conflict("a row with that id or alias already exists") from exc
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL: {type(exc).__name__}") from exc


def _numbered(sql: str) -> str:
    """``?`` placeholders as ``$1``, ``$2``, … (the shared SQL has no ``?`` in literals)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog", format="text"
    )


class _PostgresSession:
    """Statements on one pooled connection (inside a transaction for writes)."""

    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """All rows of a query."""
        return [dict(record) for record in await self._conn.fetch(_numbered(sql), *args)]

    async def execute(self, sql: str, args: Sequence[object] = ()) -> None:
        """Run one statement."""
        await self._conn.execute(_numbered(sql), *args)

    async def executemany(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        """Run one statement per argument tuple."""
        if args:
            await self._conn.executemany(_numbered(sql), args)

    async def insert_spend(
        self, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> set[str]:
        """One ``INSERT … SELECT FROM unnest(…)``; the request ids actually inserted."""
        arrays = [list(column) for column in zip(*rows, strict=True)]
        at = columns.index("metadata")
        arrays[at] = [_json_text(value) for value in arrays[at]]
        unnest = ", ".join(
            f"${i}::{_SPEND_ARRAY_TYPES.get(c, 'text[]')}" for i, c in enumerate(columns, 1)
        )
        selected = ", ".join("metadata::jsonb" if c == "metadata" else c for c in columns)
        sql = (
            f"INSERT INTO spend_logs ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {selected} FROM unnest({unnest}) AS u({', '.join(columns)}) "
            "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
        )
        return {record["request_id"] for record in await self._conn.fetch(sql, *arrays)}


class _PostgresDatabase:
    """The pool and its transactions."""

    codec = _PostgresCodec()

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[_PostgresSession]:
        """A pooled connection; in a transaction when ``write``."""
        with _translated():
            async with self.pool.acquire() as conn:
                if not write:
                    yield _PostgresSession(conn)
                    return
                async with conn.transaction():
                    yield _PostgresSession(conn)


class PostgresStore:
    """``Store`` on PostgreSQL; make one with ``await PostgresStore.open(url)``."""

    def __init__(self, database: _PostgresDatabase, clock: Clock, close_timeout_s: float) -> None:
        self._db = database
        self._clock = clock
        self._close_timeout_s = close_timeout_s
        self._keys = SqlKeyRepository(database, clock)
        self._teams = SqlTeamRepository(database, clock)
        self._users = SqlUserRepository(database, clock)
        self._spend = SqlSpendRepository(database)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        schema: str | None = None,
        max_connections: int = 10,
        timeout_s: float = 10.0,
    ) -> PostgresStore:
        """Connect a pool to ``url``; ``schema`` sets the ``search_path``.

        ``timeout_s`` bounds connecting and each statement. ``StoreUnavailable`` if the
        server cannot be reached.
        """
        settings = {"search_path": schema} if schema else None
        with _translated():
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                init=_init_connection,
                server_settings=settings,
                timeout=timeout_s,
                command_timeout=timeout_s,
            )
        return cls(_PostgresDatabase(pool), clock or SystemClock(), timeout_s)

    @property
    def keys(self) -> KeyRepository:
        """Virtual keys."""
        return self._keys

    @property
    def teams(self) -> TeamRepository:
        """Teams and memberships."""
        return self._teams

    @property
    def users(self) -> UserRepository:
        """Users."""
        return self._users

    @property
    def spend(self) -> SpendRepository:
        """Spend records and reports."""
        return self._spend

    async def migrate(self) -> Sequence[str]:
        """Apply pending migrations in one transaction, under the advisory lock."""
        async with self._db.transaction(write=True) as session:
            await session.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            await session.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
            rows = await session.fetch("SELECT version FROM schema_migrations")
            applied = {row["version"] for row in rows}
            done: list[str] = []
            now: datetime = utc_now(self._clock)
            for migration in migrations("postgres"):
                if migration.version in applied:
                    continue
                await session.execute(migration.sql)
                await session.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, now),
                )
                done.append(migration.version)
        return done

    async def ping(self) -> None:
        """Return if the server answers."""
        async with self._db.transaction(write=False) as session:
            await session.fetch("SELECT 1")

    async def close(self) -> None:
        """Close the pool: wait for connections in use at most ``timeout_s``, then terminate."""
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await self._db.pool.close()
        except TimeoutError:
            self._db.pool.terminate()

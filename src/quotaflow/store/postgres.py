"""The PostgreSQL store: an ``asyncpg`` pool; NUMERIC money, TIMESTAMPTZ times, JSONB metadata.

The shared repositories write ``?`` placeholders; sessions here number them (``$1``, …).
A spend batch is one statement, atomic by itself: ``INSERT … SELECT FROM unnest(…) ON CONFLICT
DO NOTHING RETURNING`` feeds the upsert of the daily aggregates (summed in SQL, exactly) in a
data-modifying ``WITH``, so only the rows actually inserted are counted. Migrations run in one
transaction under an advisory lock, so replicas that start together apply them once.
``asyncpg`` errors are translated here: unique violations → ``Conflict``; connection failures,
timeouts, server shutdown, too many connections and serialization failures →
``StoreUnavailable``.
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
from quotaflow.store._migrations import migrations
from quotaflow.store._repositories import SqlRepositories
from quotaflow.store._spend import (
    DAILY_KEY,
    DAILY_SUMS,
    SPEND_COLUMNS,
    daily_updates,
)
from quotaflow.store._sql import Kind, Row, money, utc_fast, utc_now
from quotaflow.store.errors import Conflict, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
    from datetime import datetime

    from quotaflow.clock import Clock
    from quotaflow.store._spend import SpendWrite
    from quotaflow.store._sql import Encoder
    from quotaflow.store.records import SpendRecord

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

# Types of the spend_logs columns (text if not listed), for json_to_recordset().
_SPEND_TYPES: Mapping[str, str] = {
    "prompt_tokens": "bigint",
    "completion_tokens": "bigint",
    "cached_tokens": "bigint",
    "cost_usd": "numeric",
    "latency_ms": "double precision",
    "status": "integer",
    "started_at": "timestamptz",
    "ended_at": "timestamptz",
    "metadata": "jsonb",
}


def _same(value: object) -> object:
    return value


class _PostgresCodec:
    """Values as asyncpg binds them; JSONB goes through the connection's orjson codec."""

    money_sum = "sum"

    _ENCODERS: Mapping[Kind, Encoder] = {
        Kind.MONEY: money,
        Kind.TIME: utc_fast,
        Kind.DAY: _same,
        Kind.STRINGS: list,
        Kind.JSON: _same,
        Kind.BOOL: bool,
    }

    def money_add(self, left: str, right: str) -> str:
        """``left + right``."""
        return f"{left} + {right}"

    def encoder(self, kind: Kind) -> Encoder:
        """How ``encode`` turns a value of ``kind`` into what asyncpg binds."""
        return self._ENCODERS[kind]

    def encode(self, kind: Kind, value: object) -> object:
        """A Python value as asyncpg binds it."""
        return self._ENCODERS[kind](value)

    def decode(self, kind: Kind, value: object) -> object:
        """A column value as the record holds it."""
        if kind is Kind.TIME:
            return value.astimezone(UTC)  # type: ignore[attr-defined]
        if kind is Kind.STRINGS:
            return tuple(value)  # type: ignore[arg-type]
        if kind is Kind.MONEY:
            return Decimal(value)  # type: ignore[arg-type]
        return value


def _write_spend_sql(codec: _PostgresCodec) -> str:
    """The one statement of ``write_spend``: ``$1`` is the records as a JSON array of objects
    (``_spend_json``); its one row is how many records were new."""
    columns = ", ".join(SPEND_COLUMNS)
    typed = ", ".join(f"{c} {_SPEND_TYPES.get(c, 'text')}" for c in SPEND_COLUMNS)
    returned = ", ".join(c for c in (*DAILY_KEY, *DAILY_SUMS) if c in SPEND_COLUMNS)
    key = ", ".join(DAILY_KEY)
    ids = [f"coalesce({c}, '')" for c in DAILY_KEY[1:]]
    sums = ["count(*)", "sum(prompt_tokens)", "sum(completion_tokens)", "sum(cost_usd)"]
    order = ", ".join(str(i) for i in range(1, len(DAILY_KEY) + 1))
    return (
        f"WITH new AS (INSERT INTO spend_logs ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM json_to_recordset($1::json) AS u({typed}) "
        f"ON CONFLICT (request_id) DO NOTHING RETURNING started_at, {returned}), "
        f"daily AS (INSERT INTO spend_daily ({key}, {', '.join(DAILY_SUMS)}) "
        f"SELECT (started_at AT TIME ZONE 'UTC')::date, {', '.join(ids)}, {', '.join(sums)} "
        f"FROM new GROUP BY {order} ORDER BY {order} "  # a fixed lock order
        f"ON CONFLICT ({key}) DO UPDATE SET {daily_updates(codec)}) "
        "SELECT count(*) FROM new"
    )


def _spend_json(records: Sequence[SpendRecord]) -> str:
    """The records as a JSON array of objects, after the checks the other encodings make: money
    an exact finite number, times timezone-aware (orjson writes them with their offset)."""
    for r in records:
        money(r.cost_usd)
        utc_fast(r.started_at)
        utc_fast(r.ended_at)
    return orjson.dumps(list(records), default=_decimal_text).decode()


def _decimal_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    msg = f"{type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


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


class _PostgresDatabase:
    """The pool and its transactions."""

    codec = _PostgresCodec()

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._write_spend = _write_spend_sql(self.codec)

    async def write_spend(self, records: Sequence[SpendRecord], spend: SpendWrite) -> int:
        """One statement (one round trip, no ``BEGIN``/``COMMIT``), the records as one JSON text."""
        batch = _spend_json(records)
        with _translated():
            async with self.pool.acquire() as conn:
                inserted = await conn.fetchval(self._write_spend, batch)
        return int(inserted)

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


class PostgresStore(SqlRepositories):
    """``Store`` on PostgreSQL; make one with ``await PostgresStore.open(url)``."""

    def __init__(self, database: _PostgresDatabase, clock: Clock, close_timeout_s: float) -> None:
        self._db = database
        self._clock = clock
        self._close_timeout_s = close_timeout_s
        super().__init__(database, clock)

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

"""The SQLite store: one file, WAL mode, one connection driven by one worker thread.

Every call runs on the connection's own thread (stdlib ``sqlite3``, so no extra dependency)
and transactions take turns on an ``asyncio.Lock``: SQLite serializes writers anyway, and one
connection never interleaves two transactions. A spend batch is one hop: encoding, insert,
daily upserts and commit in one call on that thread. Money is decimal text, summed exactly by the
``decimal_sum`` aggregate and ``decimal_add`` function registered on the connection; times
are fixed-width ISO-8601 UTC text, so they compare and sort as text. ``sqlite3`` errors are
translated here: unique violations → ``Conflict``; busy, locked, read-only, I/O and
cannot-open errors → ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import orjson

from quotaflow.clock import SystemClock
from quotaflow.store._migrations import migrations
from quotaflow.store._repositories import SqlRepositories
from quotaflow.store._sql import Kind, Row, money, placeholders, utc_fast, utc_now
from quotaflow.store.errors import Conflict, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from quotaflow.clock import Clock
    from quotaflow.store._spend import SpendWrite
    from quotaflow.store._sql import Encoder
    from quotaflow.store.records import SpendRecord

__all__ = ["SqliteStore"]

_T = TypeVar("_T")
_MIN_VERSION = (3, 35, 0)  # RETURNING
_CONFLICT_CODES = frozenset(
    {sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE}
)
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)


_ISO_UTC = "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00"
_TAKEN_CHUNK = 500  # request ids per "IN (…)" (SQLite allows 32766 parameters, or 999 if old)


def _iso_utc(value: datetime) -> str:
    """``to_utc(value).isoformat(timespec="microseconds")``, in 60 % of the time."""
    at = utc_fast(value)
    return _ISO_UTC % (at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond)


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


class _SqliteCodec:
    """Money as decimal text, times as ISO text, lists and metadata as JSON text."""

    money_sum = "decimal_sum"

    _ENCODERS: Mapping[Kind, Encoder] = {
        Kind.MONEY: lambda value: str(money(value)),
        Kind.TIME: _iso_utc,
        Kind.DAY: lambda value: value.isoformat(),
        Kind.STRINGS: lambda value: _json_text(list(value)),
        Kind.JSON: _json_text,
        Kind.BOOL: lambda value: int(bool(value)),
    }

    def money_add(self, left: str, right: str) -> str:
        """``decimal_add(left, right)``."""
        return f"decimal_add({left}, {right})"

    def encoder(self, kind: Kind) -> Encoder:
        """How ``encode`` turns a value of ``kind`` into what SQLite stores."""
        return self._ENCODERS[kind]

    def encode(self, kind: Kind, value: object) -> object:
        """A Python value as SQLite stores it."""
        return self._ENCODERS[kind](value)

    def decode(self, kind: Kind, value: object) -> object:
        """A stored SQLite value as the record holds it."""
        if kind is Kind.MONEY:
            return Decimal(str(value))
        if kind is Kind.TIME:
            return datetime.fromisoformat(str(value))
        if kind is Kind.DAY:
            return date.fromisoformat(str(value))
        if kind is Kind.STRINGS:
            return tuple(orjson.loads(str(value)))
        if kind is Kind.JSON:
            return orjson.loads(str(value))
        return bool(value)


class _DecimalSum:
    """SQLite aggregate: the exact sum of decimal text; NULL over no rows."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = Decimal(value) + (self.total or 0)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


def _decimal_add(left: str | None, right: str | None) -> str:
    return str(Decimal(left or 0) + Decimal(right or 0))


def _translate(exc: sqlite3.Error) -> Exception:
    """``exc`` as a store error, or ``exc`` itself when it is a bug rather than a state."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return exc
    if isinstance(exc, sqlite3.IntegrityError) and code in _CONFLICT_CODES:
        return Conflict("a row with that id or alias already exists")
    if code & 0xFF in _UNAVAILABLE_CODES:
        return StoreUnavailable(f"SQLite: {exc.sqlite_errorname}")
    return exc


def _dict_row(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.row_factory = _dict_row
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed batch survives power loss before its spool segment is deleted.
        conn.execute("PRAGMA synchronous = FULL")
        conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
        conn.create_function("decimal_add", 2, _decimal_add, deterministic=True)
    except BaseException:
        conn.close()
        raise
    return conn


class _SqliteDatabase:
    """The connection, its thread, and transactions that take turns."""

    codec = _SqliteCodec()

    def __init__(self, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self._executor = executor
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str, busy_timeout_s: float) -> _SqliteDatabase:
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            msg = f"SQLite {sqlite3.sqlite_version} is too old; the store needs 3.35 or newer"
            raise StoreError(msg)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quotaflow-sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                executor, _connect, path, busy_timeout_s
            )
        except sqlite3.Error as exc:
            executor.shutdown()
            raise _translate(exc) from exc
        except BaseException:
            executor.shutdown()
            raise
        return cls(executor, conn)

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn(connection)`` on the connection's thread, with errors translated."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    async def run_locked(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``run(fn)`` while no transaction is open."""
        async with self._lock:
            return await self.run(fn)

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[_SqliteSession]:
        """One transaction; ``BEGIN IMMEDIATE`` for writes, so the write lock is taken first."""
        async with self._lock:
            try:
                await self.run(partial(_execute, "BEGIN IMMEDIATE" if write else "BEGIN", ()))
                yield _SqliteSession(self)
                await self.run(partial(_execute, "COMMIT", ()))
            except BaseException:
                # Also after a cancellation: the thread finishes the statement it is running,
                # then this rollback (queued behind it) leaves no transaction open.
                await self.run(_rollback)
                raise

    async def write_spend(self, records: Sequence[SpendRecord], spend: SpendWrite) -> int:
        """The whole spend transaction in one hop to the connection's thread (encoding too)."""
        async with self._lock:
            # A cancelled wait leaves the call running; it commits or rolls back by itself.
            return await self.run(partial(_write_spend, records, spend))

    async def close(self) -> None:
        async with self._lock:
            await self.run(sqlite3.Connection.close)
        self._executor.shutdown()


def _execute(sql: str, args: Sequence[object], conn: sqlite3.Connection) -> list[Row]:
    return conn.execute(sql, args).fetchall()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _executemany(sql: str, args: Sequence[Sequence[object]], conn: sqlite3.Connection) -> None:
    conn.executemany(sql, args)


def _write_spend(
    records: Sequence[SpendRecord], spend: SpendWrite, conn: sqlite3.Connection
) -> int:
    """Insert the records whose ids are new, add them to the daily rows; how many were new.

    Runs on the connection's thread, outside any other transaction, encoding included.
    Optimistic: when an id was taken (a batch written again) it starts over, and under the
    write lock (``BEGIN IMMEDIATE``) leaves out the ids taken, so it counts only the rows it
    inserted.
    """
    rows = [spend.encode_row(r) for r in records]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.executemany(spend.insert, rows).rowcount != len(rows):
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            taken = _taken_ids(conn, [r.request_id for r in records])
            new = [
                (r, row) for r, row in zip(records, rows, strict=True) if r.request_id not in taken
            ]
            records = [r for r, _ in new]
            rows = [row for _, row in new]
            conn.executemany(spend.insert, rows)
        if rows:
            conn.executemany(spend.upsert_daily, spend.daily_rows(records))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return len(rows)


def _taken_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` that ``spend_logs`` already has."""
    taken: set[str] = set()
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples
    for at in range(0, len(ids), _TAKEN_CHUNK):
        chunk = ids[at : at + _TAKEN_CHUNK]
        sql = f"SELECT request_id FROM spend_logs WHERE request_id IN ({placeholders(len(chunk))})"  # noqa: S608
        taken.update(row[0] for row in cursor.execute(sql, chunk))
    return taken


class _SqliteSession:
    """Statements of one transaction, each a hop to the connection's thread."""

    def __init__(self, database: _SqliteDatabase) -> None:
        self._db = database

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """All rows of a query."""
        return await self._db.run(partial(_execute, sql, args))

    async def execute(self, sql: str, args: Sequence[object] = ()) -> None:
        """Run one statement."""
        await self._db.run(partial(_execute, sql, args))

    async def executemany(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        """Run one statement per argument tuple."""
        if args:
            await self._db.run(partial(_executemany, sql, args))


def _statements(script: str) -> list[str]:
    """The statements of a migration script, split where SQLite says one is complete."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()
    ):
        msg = "a migration ends with an incomplete statement"
        raise StoreError(msg)
    return statements


def _migrate(applied_at: str, conn: sqlite3.Connection) -> list[str]:
    """Apply the pending migrations in one write transaction (other processes wait)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}
        done: list[str] = []
        for migration in migrations("sqlite"):
            if migration.version in applied:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, applied_at),
            )
            done.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return done


class SqliteStore(SqlRepositories):
    """``Store`` on a SQLite file; make one with ``await SqliteStore.open(path)``."""

    def __init__(self, database: _SqliteDatabase, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        super().__init__(database, clock)

    @classmethod
    async def open(
        cls, path: str, *, clock: Clock | None = None, busy_timeout_s: float = 5.0
    ) -> SqliteStore:
        """Open (creating if needed) the database file ``path`` (or ``":memory:"``).

        ``busy_timeout_s`` is how long a write waits for another process's write lock
        before it fails with ``StoreUnavailable``.
        """
        return cls(await _SqliteDatabase.open(path, busy_timeout_s), clock or SystemClock())

    async def migrate(self) -> Sequence[str]:
        """Apply pending migrations; returns the versions applied now."""
        applied_at = self._db.codec.encode(Kind.TIME, utc_now(self._clock))
        return await self._db.run_locked(partial(_migrate, str(applied_at)))

    async def ping(self) -> None:
        """Return if the database answers."""
        await self._db.run_locked(partial(_execute, "SELECT 1", ()))

    async def close(self) -> None:
        """Close the connection and its thread."""
        await self._db.close()

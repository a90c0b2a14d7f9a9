"""What the SQL repositories need from a backend: transactions, sessions and a value codec.

The repositories (``_keys``, ``_teams``, ``_users``, ``_spend``) are written once in portable
SQL with ``?`` placeholders; each backend supplies a ``Database`` whose sessions run that SQL
(PostgreSQL rewrites the placeholders) and a ``Codec`` that turns Python values into column
values and back (SQLite keeps money and times as text, PostgreSQL as NUMERIC and TIMESTAMPTZ).
Column names equal the record field names, so a column's kind is known by its name.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import orjson

from quotaflow.store.base import MAX_PAGE_SIZE
from quotaflow.store.errors import InvalidQuery
from quotaflow.store.records import Unset

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from quotaflow.clock import Clock

Row = dict[str, object]
"""One result row, by column name."""


class Kind(enum.Enum):
    """How a column's value is encoded; everything not listed here is passed as it is."""

    MONEY = "money"
    TIME = "time"
    DAY = "day"
    STRINGS = "strings"
    JSON = "json"
    BOOL = "bool"


COLUMN_KINDS: Mapping[str, Kind] = {
    "max_budget": Kind.MONEY,
    "cost_usd": Kind.MONEY,
    "budget_reset_at": Kind.TIME,
    "expires_at": Kind.TIME,
    "created_at": Kind.TIME,
    "updated_at": Kind.TIME,
    "started_at": Kind.TIME,
    "ended_at": Kind.TIME,
    "day": Kind.DAY,
    "models": Kind.STRINGS,
    "metadata": Kind.JSON,
    "blocked": Kind.BOOL,
    "is_admin": Kind.BOOL,
}


class Codec(Protocol):
    """A backend's column encoding, and its SQL for exact money sums."""

    money_sum: str
    """Aggregate function that sums a money column exactly (``sum`` or a registered one)."""

    def money_add(self, left: str, right: str) -> str:
        """SQL expression for ``left + right`` over money columns."""
        ...

    def encode(self, kind: Kind, value: object) -> object:
        """A Python value (not ``None``) as the driver should bind it."""
        ...

    def decode(self, kind: Kind, value: object) -> object:
        """A column value (not ``None``) as the record holds it."""
        ...


class Session(Protocol):
    """Statements inside one transaction."""

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """All rows of a query."""
        ...

    async def execute(self, sql: str, args: Sequence[object] = ()) -> None:
        """Run one statement."""
        ...

    async def executemany(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        """Run one statement once per argument tuple."""
        ...

    async def insert_spend(
        self, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> set[str]:
        """Insert spend log rows, skipping taken request ids; the ids actually inserted."""
        ...


class Database(Protocol):
    """A backend's connection(s): transactions and the codec."""

    @property
    def codec(self) -> Codec:
        """How this backend encodes values."""
        ...

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Session]:
        """One transaction; committed when the block ends normally, else rolled back."""
        ...


def utc_now(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.wall(), UTC)


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused rather than guessed."""
    if value.tzinfo is None:
        msg = "naive datetime: the store takes timezone-aware datetimes only"
        raise ValueError(msg)
    return value.astimezone(UTC)


def encode_value(codec: Codec, column: str, value: object) -> object:
    """``value`` for ``column``, encoded by the column's kind."""
    kind = COLUMN_KINDS.get(column)
    if value is None or kind is None:
        return value
    if kind is Kind.MONEY:
        value = _money(value)
    return codec.encode(kind, value)


def _money(value: object) -> Decimal:
    """``value`` as a finite ``Decimal``; a float is refused (it is not exact)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        msg = f"money must be a Decimal, not {type(value).__name__}"
        raise TypeError(msg)
    money = Decimal(value)
    if not money.is_finite():
        msg = "money must be finite"
        raise ValueError(msg)
    return money


def decode_row(codec: Codec, row: Row, columns: Sequence[str]) -> dict[str, object]:
    """The named columns of ``row``, decoded by kind."""
    out: dict[str, object] = {}
    for column in columns:
        value = row[column]
        kind = COLUMN_KINDS.get(column)
        out[column] = value if value is None or kind is None else codec.decode(kind, value)
    return out


def record_columns(record_type: type[object], *, skip: Sequence[str] = ()) -> tuple[str, ...]:
    """The field names of a record dataclass: its table's columns."""
    fields = dataclasses.fields(record_type)  # type: ignore[arg-type]
    return tuple(f.name for f in fields if f.name not in skip)


def record_values(codec: Codec, record: object, columns: Sequence[str]) -> list[object]:
    """The encoded values of ``record``'s fields named by ``columns``."""
    return [encode_value(codec, c, getattr(record, c)) for c in columns]


def changed_columns(changes: object) -> dict[str, object]:
    """The fields of a ``*Changes`` record that are not ``UNSET``."""
    return {
        f.name: getattr(changes, f.name)
        for f in dataclasses.fields(changes)  # type: ignore[arg-type]
        if not isinstance(getattr(changes, f.name), Unset)
    }


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)``."""
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) VALUES ({placeholders(len(columns))})"  # noqa: S608


def placeholders(count: int) -> str:
    """``?, ?, …`` for ``count`` parameters."""
    return ", ".join("?" * count)


def check_limit(limit: int) -> int:
    """``limit`` if it is a valid page size, else ``InvalidQuery``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        msg = f"limit must be between 1 and {MAX_PAGE_SIZE}"
        raise InvalidQuery(msg)
    return limit


def encode_cursor(at: datetime, row_id: str) -> str:
    """An opaque cursor for the position after the row (``at``, ``row_id``)."""
    raw = orjson.dumps([to_utc(at).isoformat(timespec="microseconds"), row_id])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) position a cursor from ``encode_cursor`` stands for."""
    try:
        at_text, row_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        at = datetime.fromisoformat(at_text)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        msg = "invalid cursor"
        raise InvalidQuery(msg) from exc
    if not isinstance(row_id, str) or at.tzinfo is None:
        msg = "invalid cursor"
        raise InvalidQuery(msg)
    return at, row_id


def utc_day(value: datetime) -> date:
    """The UTC calendar day of ``value``."""
    return to_utc(value).date()


@dataclasses.dataclass(frozen=True, slots=True)
class Listing:
    """A keyset-paginated listing of one table, oldest ``created_at`` first."""

    table: str
    id_column: str
    conditions: Sequence[str] = ()
    """SQL conditions, joined with ``AND``."""
    args: Sequence[object] = ()


async def fetch_page(
    database: Database, listing: Listing, cursor: str | None, limit: int
) -> tuple[list[Row], str | None]:
    """The page's rows (at most ``limit``) and the cursor of the next page, if any."""
    conditions = list(listing.conditions)
    args = list(listing.args)
    if cursor is not None:
        at, last = decode_cursor(cursor)
        conditions.append(f"(created_at, {listing.id_column}) > (?, ?)")
        args += [encode_value(database.codec, "created_at", at), last]
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    order = f"created_at, {listing.id_column}"
    sql = f"SELECT * FROM {listing.table} {where} ORDER BY {order} LIMIT ?"  # noqa: S608
    args.append(check_limit(limit) + 1)
    async with database.transaction(write=False) as session:
        rows = await session.fetch(sql, args)
    if len(rows) <= limit:
        return rows, None
    last_row = decode_row(database.codec, rows[limit - 1], ("created_at", listing.id_column))
    return rows[:limit], encode_cursor(
        last_row["created_at"],  # type: ignore[arg-type]
        last_row[listing.id_column],  # type: ignore[arg-type]
    )

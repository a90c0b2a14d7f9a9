"""What the SQL repositories need from a backend: transactions, sessions and a value codec.

The repositories (``_keys``, ``_teams``, ``_users``, ``_spend``) are written once in portable
SQL with ``?`` placeholders; each backend supplies a ``Database`` whose sessions run that SQL
(PostgreSQL rewrites the placeholders) and a ``Codec`` that turns Python values into column
values and back (SQLite keeps money and times as text, PostgreSQL as NUMERIC and TIMESTAMPTZ).
Column names equal the record field names, so a column's kind is known by its name. The one
hot write, a batch of spend records, is the backend's own ``Database.write_spend`` (one hop to
SQLite's thread, one statement on PostgreSQL), with what ``_spend.SpendWrite`` shares.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import operator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from quotaflow.store.base import MAX_PAGE_SIZE
from quotaflow.store.errors import InvalidQuery
from quotaflow.store.records import Unset

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from quotaflow.clock import Clock
    from quotaflow.store._spend import SpendWrite
    from quotaflow.store.records import SpendRecord

    Encoder = Callable[[Any], object]
    """Encodes one (not ``None``) value of a column kind."""

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

    def encoder(self, kind: Kind) -> Encoder:
        """The function ``encode`` applies for ``kind``: chosen once, applied per value.

        Money encoders check the value (``money``) first.
        """
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


class Database(Protocol):
    """A backend's connection(s): transactions and the codec."""

    @property
    def codec(self) -> Codec:
        """How this backend encodes values."""
        ...

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Session]:
        """One transaction; committed when the block ends normally, else rolled back."""
        ...

    async def write_spend(self, records: Sequence[SpendRecord], spend: SpendWrite) -> int:
        """In one transaction: insert the records whose ``request_id`` is not stored yet and add
        exactly those to ``spend_daily``; how many were inserted. ``records`` have distinct ids.
        """
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


def utc_fast(value: datetime) -> datetime:
    """``to_utc(value)``, at once when ``value`` is already in UTC (the usual case)."""
    return value if value.tzinfo is UTC else to_utc(value)


def encode_value(codec: Codec, column: str, value: object) -> object:
    """``value`` for ``column``, encoded by the column's kind."""
    kind = COLUMN_KINDS.get(column)
    if value is None or kind is None:
        return value
    return codec.encoder(kind)(value)


def money(value: object) -> Decimal:
    """``value`` as a finite ``Decimal``; a float is refused (it is not exact)."""
    if type(value) is Decimal and value.is_finite():
        return value
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        msg = f"money must be a Decimal, not {type(value).__name__}"
        raise TypeError(msg)
    exact = Decimal(value)
    if not exact.is_finite():
        msg = "money must be finite"
        raise ValueError(msg)
    return exact


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


def row_encoder(codec: Codec, columns: Sequence[str]) -> Callable[[object], list[object]]:
    """``record_values(codec, record, columns)`` as one function, its encoders chosen once."""
    fields = operator.attrgetter(*columns)
    single = len(columns) == 1  # then attrgetter returns the value, not a tuple
    encoders = tuple(
        (at, codec.encoder(kind))
        for at, column in enumerate(columns)
        if (kind := COLUMN_KINDS.get(column)) is not None
    )

    def encode(record: object) -> list[object]:
        row = [fields(record)] if single else list(fields(record))
        for at, encoder in encoders:
            value = row[at]
            if value is not None:
                row[at] = encoder(value)
        return row

    return encode


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

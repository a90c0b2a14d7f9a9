"""``SpendWriter`` through real outages (a held SQLite write lock, a cut path to PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest

from quotaflow.store import SpendFilter, SpendRecord, SpendWriter
from quotaflow.store._spool import Spool, record_to_line
from quotaflow.store.postgres import PostgresStore
from quotaflow.store.sqlite import SqliteStore
from tests.proxy import TcpProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from quotaflow.store import Store
    from tests.store.conftest import Database

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def spend(i: int) -> SpendRecord:
    return SpendRecord(
        request_id=f"req-{i:06d}",
        started_at=T0 + timedelta(seconds=i),
        ended_at=T0 + timedelta(seconds=i, milliseconds=300),
        cost_usd=Decimal("0.1") if i % 2 else Decimal("0.2"),
        key_hash="k1",
        team_id="t1",
        model_group="gpt-4o",
        prompt_tokens=3,
        completion_tokens=1,
    )


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 (polls counters; there is no event to wait on)
            await asyncio.sleep(0.01)


@dataclass
class Outage:
    """A store whose database can be made unreachable and brought back."""

    store: Store
    begin: Callable[[], Awaitable[None]]
    end: Callable[[], Awaitable[None]]
    hang: Callable[[], Awaitable[None]] | None = None
    """PostgreSQL only: the server accepts connections and never answers."""


@pytest.fixture
async def outage(database: Database) -> AsyncIterator[Outage]:
    """SQLite: another connection holds the write lock. PostgreSQL: the TCP path is cut."""
    async with contextlib.AsyncExitStack() as exits:
        store: Store
        hang = None
        if database.schema is None:
            store = await SqliteStore.open(database.target, busy_timeout_s=0.05)
            exits.push_async_callback(store.close)
            locker = sqlite3.connect(database.target, isolation_level=None)
            exits.callback(locker.close)

            async def begin() -> None:
                locker.execute("BEGIN IMMEDIATE")

            async def end() -> None:
                locker.execute("ROLLBACK")

        else:
            target = urlsplit(database.target)
            proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
            await proxy.restore()
            exits.push_async_callback(proxy.cut)
            netloc = f"{target.username or 'postgres'}@127.0.0.1:{proxy.port}"
            url = urlunsplit((target.scheme, netloc, target.path, "", ""))
            store = await PostgresStore.open(url, schema=database.schema, timeout_s=2)
            exits.push_async_callback(store.close)
            begin, end = proxy.cut, proxy.restore
            hang = proxy.hang
        await store.migrate()
        yield Outage(store, begin, end, hang)


def writer_for(store: Store, spool_dir: Path, **options: int | float) -> SpendWriter:
    settings: dict[str, int | float] = {
        "batch_size": 10,
        "flush_interval_s": 0.02,
        "max_buffer": 1000,
        "max_spool_bytes": 1 << 20,
        "retry_initial_s": 0.02,
        "retry_max_s": 0.1,
        "write_timeout_s": 3.0,
    }
    settings.update(options)
    return SpendWriter(store, spool_dir, **settings)  # type: ignore[arg-type]


async def stored(store: Store) -> list[SpendRecord]:
    return list((await store.spend.logs(SpendFilter(), limit=1000)).items)


def segments(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("segment-*.jsonl"))


async def test_outage_spools_and_recovery_loses_and_doubles_nothing(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="quotaflow.store.spend")
    spool_dir = tmp_path / "spool"
    writer = writer_for(outage.store, spool_dir)
    await writer.start()
    for i in range(25):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.written == 25)

    await outage.begin()
    for i in range(25, 65):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.spooled >= 40 and writer.counters.buffered == 0)
    assert segments(spool_dir)
    assert writer.counters.written == 25

    await outage.end()
    await eventually(lambda: writer.counters.spool_bytes == 0)
    await writer.aclose()

    assert not segments(spool_dir)
    assert writer.counters.dropped == 0
    failing = [r.getMessage() for r in caplog.records if "failing" in r.getMessage()]
    assert len(failing) == 1
    assert "StoreUnavailable" in failing[0]  # the driver's error was translated at the seam
    assert sorted(r.request_id for r in await stored(outage.store)) == [
        spend(i).request_id for i in range(65)
    ]
    expected = sum(spend(i).cost_usd for i in range(65))
    assert await outage.store.spend.total("key", "k1", T0) == expected
    [row] = await outage.store.spend.report("team", T0.date(), T0.date())
    assert (row.requests, row.cost_usd, row.prompt_tokens) == (65, expected, 195)


async def test_start_drains_a_crashed_spool_without_double_counting(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # The crash came after records 5..9 reached the database but before their segment was
    # deleted; the last line was torn mid-write.
    await store.spend.write_batch([spend(i) for i in range(10)])
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, max_bytes=1 << 20, segment_bytes=400)
    spool.append([record_to_line(spend(i)) for i in range(5, 15)], sync=True)
    spool.close()
    with segments(spool_dir)[-1].open("ab") as torn:
        torn.write(record_to_line(spend(99))[:40])
    assert len(segments(spool_dir)) > 1

    writer = writer_for(store, spool_dir)
    with caplog.at_level(logging.WARNING, logger="quotaflow.store.spend"):
        await writer.start()
    await writer.aclose()

    assert not segments(spool_dir)
    assert writer.counters.dropped == 1
    assert "unreadable" in caplog.text
    assert len(await stored(store)) == 15
    [row] = await store.spend.report("key", T0.date(), T0.date())
    assert (row.requests, row.cost_usd) == (15, sum(spend(i).cost_usd for i in range(15)))


async def test_full_spool_drops_with_a_counter_and_one_warning_per_outage(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    line_bytes = len(record_to_line(spend(0)))
    writer = writer_for(
        outage.store, tmp_path / "spool", max_buffer=5, max_spool_bytes=10 * line_bytes
    )
    await writer.start()
    caplog.set_level(logging.WARNING, logger="quotaflow.store.spend")

    def full_warnings() -> int:
        return sum("spool full" in r.getMessage() for r in caplog.records)

    await outage.begin()
    for i in range(30):  # 5 fit in memory, 10 in the spool, 15 are dropped
        writer.submit(spend(i))
    assert writer.counters.dropped == 15
    await eventually(lambda: writer.counters.buffered == 0)  # the buffer cannot be spooled
    assert writer.counters.dropped == 20
    assert full_warnings() == 1

    await outage.end()
    await eventually(lambda: writer.counters.spool_bytes == 0)
    assert len(await stored(outage.store)) == 10

    await outage.begin()
    for i in range(100, 120):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.buffered == 0)
    assert full_warnings() == 2  # one line for the second outage
    await outage.end()
    await eventually(lambda: writer.counters.spool_bytes == 0)
    await writer.aclose()
    assert writer.counters.dropped == 30
    assert len(await stored(outage.store)) == 20


async def test_memory_is_bounded_before_start_and_nothing_is_lost(store: Store, tmp_path: Path):
    writer = writer_for(store, tmp_path / "spool", max_buffer=10)
    for i in range(100):
        writer.submit(spend(i))
    assert (writer.counters.buffered, writer.counters.spooled) == (10, 90)
    await writer.start()
    await writer.aclose()
    assert len(await stored(store)) == 100
    assert writer.counters.written == 100


async def test_a_full_batch_is_written_without_waiting_for_the_interval(
    store: Store, tmp_path: Path
):
    writer = writer_for(store, tmp_path / "spool", batch_size=5, flush_interval_s=30)
    await writer.start()
    for i in range(5):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.written == 5, timeout_s=2)
    await writer.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(spend(9))


async def test_close_during_an_outage_spools_and_the_next_start_drains(
    outage: Outage, tmp_path: Path
):
    spool_dir = tmp_path / "spool"
    writer = writer_for(outage.store, spool_dir, flush_interval_s=30)
    await writer.start()
    await outage.begin()
    writer.submit(spend(1))
    writer.submit(spend(2))
    await writer.aclose()
    assert writer.counters.spooled == 2
    assert segments(spool_dir)

    await outage.end()
    successor = writer_for(outage.store, spool_dir)
    await successor.start()
    await successor.aclose()
    assert not segments(spool_dir)
    assert [r.request_id for r in await stored(outage.store)] == ["req-000002", "req-000001"]


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["postgres"])  # a SQLite file cannot hang
async def test_a_database_that_stops_answering_times_out_into_the_spool(
    outage: Outage, tmp_path: Path
):
    assert outage.hang is not None
    spool_dir = tmp_path / "spool"
    writer = writer_for(outage.store, spool_dir, write_timeout_s=0.2)
    await writer.start()
    await outage.hang()
    for i in range(15):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.spooled == 15)
    assert writer.counters.written == 0
    await outage.end()
    await eventually(lambda: writer.counters.spool_bytes == 0)
    await writer.aclose()
    assert len(await stored(outage.store)) == 15


async def test_under_load_only_full_batches_go_at_once_the_rest_at_the_interval(
    store: Store, tmp_path: Path
):
    writer = writer_for(store, tmp_path / "spool", batch_size=5, flush_interval_s=30)
    await writer.start()
    for i in range(12):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.written == 10, timeout_s=2)
    await asyncio.sleep(0.1)
    assert (writer.counters.written, writer.counters.buffered) == (10, 2)
    for i in range(12, 15):  # the next full batch takes the oldest records first
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.written == 15, timeout_s=2)
    assert len(await stored(store)) == 15
    writer.submit(spend(15))
    await writer.aclose()
    assert len(await stored(store)) == 16


async def test_a_partial_batch_is_written_when_the_interval_runs_out(store: Store, tmp_path: Path):
    writer = writer_for(store, tmp_path / "spool", batch_size=100, flush_interval_s=0.05)
    await writer.start()
    for i in range(3):
        writer.submit(spend(i))
    await eventually(lambda: writer.counters.written == 3, timeout_s=2)
    await writer.aclose()

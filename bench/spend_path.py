"""Micro-benchmark: the CPU the spend path costs per request.

(a) ``Gate.finish`` building one ``SpendRecord`` per request (what the app's finish hook does on
the event loop; the ``SpendWriter`` is replaced by a list), and (b) ``store.spend.write_batch``
of ``--batch`` (100) such records on SQLite (a temporary file) and on PostgreSQL when it answers
(a schema of its own, dropped afterwards). Records are the master key's (``--keyed``: a virtual
key's, with team and user), with new ids and later times each repeat, as in the gateway.
Prints µs of process CPU (``time.process_time``: every thread of the process, so SQLite's
worker thread is counted; PostgreSQL's server is not) per record: the median of ``--repeats``
runs, and their min and max. A benchmark, not a test.

(c) ``SpendWriter`` with its defaults, fed ``--rate`` records a second for ``--writer-seconds``
(what the gateway runs): the process's CPU less that of the same pacing alone, per record.

Run: ``python bench/spend_path.py [--records N] [--repeats R] [--batch B] [--keyed]
[--rate N] [--writer-seconds S] [--postgres URL | --no-postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import asyncpg

from quotaflow.auth.principal import Principal
from quotaflow.clock import SystemClock
from quotaflow.management.gate import Gate
from quotaflow.providers.base import Usage
from quotaflow.routing.deployment import Deployment
from quotaflow.server.exchange import Exchange, RequestIds
from quotaflow.store.errors import StoreUnavailable
from quotaflow.store.postgres import PostgresStore
from quotaflow.store.records import VirtualKey
from quotaflow.store.spend_writer import SpendWriter
from quotaflow.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from quotaflow.store.base import Store
    from quotaflow.store.records import SpendRecord

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
TICK_S = 0.002


class _Sink:
    """Stands in for the ``SpendWriter``: keeps what ``submit`` gets."""

    def __init__(self) -> None:
        self.records: list[SpendRecord] = []

    def submit(self, record: SpendRecord) -> None:
        self.records.append(record)


async def _nothing(*_args: object) -> Any:
    return None


def _principal(*, keyed: bool) -> Principal:
    if not keyed:
        return Principal(is_admin=True)  # the master key
    key = VirtualKey(token_hash="ab" * 32, key_alias="ci", team_id="team-1", user_id="user-1")
    return Principal(is_admin=False, key_alias=key.key_alias, key=key)


def _exchanges(count: int, started: float, new_id: RequestIds, *, keyed: bool) -> list[Exchange]:
    """Finished exchanges, as the app's finish hook sees them."""
    deployment = Deployment(
        id="bench-deployment", model_group="bench-model", provider="openai", upstream_model="m"
    )
    routed = SimpleNamespace(deployment=deployment)
    principal = _principal(keyed=keyed)
    out = []
    for _ in range(count):
        exchange = Exchange({"headers": []}, _nothing, _nothing, started, new_id)
        exchange.status = 200
        outcome = exchange.outcome
        outcome.principal = principal
        outcome.model = "bench-model"
        outcome.routed = cast("Any", routed)
        outcome.usage = Usage(prompt_tokens=12, completion_tokens=16, cached_tokens=0)
        outcome.cost_usd = Decimal("0.0000123")
        out.append(exchange)
    return out


def bench_records(
    count: int, new_id: RequestIds, *, keyed: bool
) -> tuple[float, list[SpendRecord]]:
    """µs of CPU per ``Gate.finish``, and the records it made (ids from ``new_id``)."""
    router = cast("Any", SimpleNamespace(groups={}))
    sink = _Sink()
    clock = SystemClock()
    gate = Gate(router, clock, enforcer=None, spend=cast("Any", sink), default_max_tokens=256)
    exchanges = _exchanges(count, clock.monotonic(), new_id, keyed=keyed)
    gc.collect()
    start = time.process_time_ns()
    for exchange in exchanges:
        gate.finish(exchange)
    spent = time.process_time_ns() - start
    return spent / 1000 / count, sink.records


async def bench_writes(store: Store, records: list[SpendRecord], batch: int) -> float:
    """µs of CPU per record to ``write_batch`` the records in batches of ``batch``."""
    batches = [records[at : at + batch] for at in range(0, len(records), batch)]
    gc.collect()
    start = time.process_time_ns()
    for records_in in batches:
        written = await store.spend.write_batch(records_in)
        if written != len(records_in):
            msg = f"wrote {written} of {len(records_in)}"
            raise RuntimeError(msg)
    spent = time.process_time_ns() - start
    return spent / 1000 / len(records)


Records = Callable[[int], list["SpendRecord"]]
"""Makes ``n`` new records (later times, new ids) the way the gateway does."""


async def _pace(
    records: list[SpendRecord], rate: int, submit: Callable[[SpendRecord], object]
) -> None:
    """Submit the records at ``rate`` a second, a tick's worth every ``TICK_S``."""
    loop = asyncio.get_running_loop()
    per_tick = max(1, round(rate * TICK_S))
    start = loop.time()
    for tick, at in enumerate(range(0, len(records), per_tick)):
        for record in records[at : at + per_tick]:
            submit(record)
        await asyncio.sleep(max(0.0, start + (tick + 1) * TICK_S - loop.time()))


async def bench_writer(store: Store, make: Records, args: Args) -> float:
    """µs of CPU per record for ``SpendWriter`` (defaults) fed ``--rate`` records a second:
    the whole process's CPU, less that of the same pacing into a list."""
    count = args.rate * args.writer_seconds
    idle, paced = _Sink(), make(count)
    gc.collect()
    start = time.process_time_ns()
    await _pace(paced, args.rate, idle.submit)
    idle_ns = time.process_time_ns() - start
    records = make(count)
    with tempfile.TemporaryDirectory(prefix="quotaflow-bench-spool-") as spool:
        writer = SpendWriter(store, Path(spool))
        await writer.start()
        gc.collect()
        start = time.process_time_ns()
        await _pace(records, args.rate, writer.submit)
        await writer.aclose()
        spent = time.process_time_ns() - start
    if writer.counters.written != count:
        msg = f"the writer wrote {writer.counters.written} of {count}"
        raise RuntimeError(msg)
    return (spent - idle_ns) / 1000 / count


async def _repeat(
    open_store: Callable[[], Awaitable[Store]], make: Records, args: Args
) -> tuple[list[float], list[float]]:
    store = await open_store()
    try:
        await store.migrate()
        await bench_writes(store, make(args.batch), args.batch)  # warm up statement caches
        writes = [
            await bench_writes(store, make(args.records), args.batch) for _ in range(args.repeats)
        ]
        writer = [await bench_writer(store, make, args) for _ in range(3 if args.rate else 0)]
        return writes, writer
    finally:
        await store.close()


async def bench_sqlite(make: Records, args: Args) -> tuple[list[float], list[float]]:
    """µs of CPU per record on a SQLite file, per repeat: ``write_batch``, the writer."""
    with tempfile.TemporaryDirectory(prefix="quotaflow-bench-") as folder:
        path = str(Path(folder) / "spend.db")

        async def open_store() -> Store:
            return await SqliteStore.open(path)

        return await _repeat(open_store, make, args)


async def bench_postgres(make: Records, args: Args) -> tuple[list[float], list[float]] | None:
    """µs of client CPU per record on PostgreSQL, per repeat (``write_batch``, the writer);
    ``None`` if it does not answer."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(args.postgres, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return None
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')

        async def open_store() -> Store:
            return await PostgresStore.open(args.postgres, schema=schema)

        try:
            return await _repeat(open_store, make, args)
        except StoreUnavailable:
            return None
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def _line(name: str, values: list[float]) -> str:
    spread = f"(min {min(values):.2f}, max {max(values):.2f})"
    return f"{name:<36} {statistics.median(values):7.2f} µs/record  {spread}"


class Args(argparse.Namespace):
    """The command line."""

    records: int
    repeats: int
    batch: int
    keyed: bool
    rate: int
    writer_seconds: int
    postgres: str
    no_postgres: bool


def main() -> None:
    """Run the benchmark and print µs of CPU per record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="records per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=100, help="records per write_batch")
    parser.add_argument("--keyed", action="store_true", help="a virtual key's records")
    parser.add_argument("--rate", type=int, default=5000, help="(c): records/s, 0 to skip")
    parser.add_argument("--writer-seconds", type=int, default=3, help="(c): seconds per run")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(namespace=Args())
    ids = RequestIds()  # one process: one id prefix, a counter

    def make(count: int) -> list[SpendRecord]:
        return bench_records(count, ids, keyed=args.keyed)[1]

    made = [bench_records(args.records, ids, keyed=args.keyed)[0] for _ in range(args.repeats)]
    print(_line("(a) Gate.finish -> SpendRecord", made))
    results = {"SQLite": asyncio.run(bench_sqlite(make, args))}
    if not args.no_postgres:
        postgres = asyncio.run(bench_postgres(make, args))
        if postgres is None:
            print(f"PostgreSQL: not reachable at {args.postgres}")
        else:
            results["PostgreSQL"] = postgres
    for name, (writes, _) in results.items():
        print(_line(f"(b) write_batch({args.batch}) {name}", writes))
    for name, (_, writer) in results.items():
        if writer:
            print(_line(f"(c) SpendWriter {args.rate}/s {name}", writer))
    made_us = statistics.median(made)
    for name, (writes, writer) in results.items():
        total = f"(a)+(b) {name}: {made_us + statistics.median(writes):.2f} µs/record"
        if writer:
            total += f", (a)+(c): {made_us + statistics.median(writer):.2f}"
        print(total)


if __name__ == "__main__":
    main()

"""``SpendWriter``: spend records from the request path to the database, none lost.

``submit`` only appends to a bounded in-memory buffer (O(1), no I/O, never blocks); a
background task writes batches with ``store.spend.write_batch``: full batches as soon as they
are full, the rest every ``flush_interval_s`` (much of a write's cost is per batch: one
transaction, one commit; so under load it does not chase the tail in small batches). When a
write fails (``StoreError`` such as ``StoreUnavailable``, or the write timeout) the batch goes to
the disk spool (fsync'd JSON lines) and the writer backs off; while it waits, whatever the buffer
holds moves to the spool every ``flush_interval_s``. When a write succeeds again the spool is
drained, oldest segment first, and each segment is deleted only after all its records are
written. ``start`` drains what a previous process left. A full buffer sends records to the
spool directly; a full spool (``max_spool_bytes``) drops them, counted in ``dropped`` and logged
once per outage. Writing a batch twice is harmless: ``write_batch`` is idempotent on
``request_id``, daily aggregates included.

Durability: a record is in memory until its batch is written or spooled (at most about
``flush_interval_s``); a batch spooled after a failed write is fsync'd at once, records
spooled by ``submit`` because the buffer is full are fsync'd by the next background pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quotaflow.clock import SystemClock
from quotaflow.store._spool import Spool, record_to_line
from quotaflow.store.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from quotaflow.clock import Clock
    from quotaflow.store.base import Store
    from quotaflow.store.records import SpendRecord

__all__ = ["SpendWriter", "SpendWriterCounters"]

logger = logging.getLogger("quotaflow.store.spend")


@dataclass(frozen=True, slots=True)
class SpendWriterCounters:
    """A snapshot of the writer's counters, for metrics."""

    buffered: int
    """Records in memory now."""
    spooled: int
    """Records appended to the spool since start."""
    written: int
    """Records in batches the database acknowledged since start (a re-written one counts again)."""
    dropped: int
    """Records lost since start: the spool was full, or a spooled line could not be read."""
    spool_bytes: int
    """Bytes in the spool now."""


class SpendWriter:
    """Buffers spend records and writes them in batches; spools to disk when the DB fails."""

    def __init__(
        self,
        store: Store,
        spool_dir: Path,
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        max_buffer: int = 10_000,
        max_spool_bytes: int = 1 << 30,
        write_timeout_s: float = 10.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._spool = Spool(spool_dir, max_bytes=max_spool_bytes)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_buffer = max_buffer
        self._write_timeout_s = write_timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._clock = clock or SystemClock()
        self._buffer: deque[SpendRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._retry_at: float | None = None
        self._retry_delay_s = retry_initial_s
        self._outage_logged = False
        self._drop_logged = False
        self._spooled = 0
        self._written = 0
        self._dropped = 0

    @property
    def counters(self) -> SpendWriterCounters:
        """The counters now."""
        return SpendWriterCounters(
            buffered=len(self._buffer),
            spooled=self._spooled,
            written=self._written,
            dropped=self._dropped,
            spool_bytes=self._spool.size_bytes,
        )

    def submit(self, record: SpendRecord) -> None:
        """Queue ``record`` for writing; O(1), never waits, never touches the database."""
        if self._closing:
            msg = "the spend writer is closed"
            raise RuntimeError(msg)
        if len(self._buffer) < self._max_buffer:
            self._buffer.append(record)
            if len(self._buffer) >= self._batch_size:
                self._wake.set()
            return
        self._to_spool([record], sync=False)

    async def start(self) -> None:
        """Drain what a previous process left in the spool, then start the background task."""
        if self._spool.has_data():
            await self._drain()
        self._task = asyncio.create_task(self._run(), name="quotaflow-spend-writer")

    async def aclose(self) -> None:
        """Stop the task and write the buffer to the database, or to the spool if it fails."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._retry_at is None:
            await self._flush_buffer()
        self._spool_buffer()
        self._spool.close()

    async def _run(self) -> None:
        while True:
            timed_out = await self._sleep()
            if self._closing:
                return
            try:
                await self._cycle(full_only=not timed_out)
            except Exception:
                logger.exception("spend writer pass failed; its records stay in memory or spool")

    async def _sleep(self) -> bool:
        """Wait for a full batch or the interval (or the retry); whether the time ran out."""
        timeout_s = self._flush_interval_s
        if self._retry_at is not None:
            timeout_s = min(timeout_s, max(0.0, self._retry_at - self._clock.monotonic()))
        timed_out = False
        try:
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        except TimeoutError:
            timed_out = True
        self._wake.clear()
        return timed_out

    async def _cycle(self, *, full_only: bool = False) -> None:
        """One pass: in an outage, spool the buffer until it is time to retry; then drain the
        spool (oldest records first) and write the buffer (``full_only``: its full batches; the
        rest waits for the next full batch or the interval, at most ``flush_interval_s``)."""
        if self._retry_at is not None and self._clock.monotonic() < self._retry_at:
            self._spool_buffer()
            return
        if self._spool.has_data() and not await self._drain():
            self._spool_buffer()
            return
        await self._flush_buffer(full_only=full_only)
        self._spool.sync()

    async def _drain(self) -> bool:
        """Write the spool to the database, oldest segment first; ``False`` if a write failed."""
        while (segment := self._spool.oldest()) is not None:
            records, bad = self._spool.read(segment)
            if bad:
                self._dropped += bad
                logger.warning("spend spool %s had %d unreadable lines", segment.name, bad)
            for at in range(0, len(records), self._batch_size):
                if not await self._write(records[at : at + self._batch_size]):
                    return False
            self._spool.remove(segment)
        return True

    async def _flush_buffer(self, *, full_only: bool = False) -> None:
        """Write the buffer in batches (``full_only``: only full ones); a failed batch and the
        rest go to the spool."""
        least = self._batch_size if full_only else 1
        while len(self._buffer) >= least:
            batch = [
                self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))
            ]
            if not await self._write(batch):
                self._to_spool(batch, sync=True)
                self._spool_buffer()
                return

    async def _write(self, batch: Sequence[SpendRecord]) -> bool:
        """Write one batch; on failure start or extend the outage (backoff) and say so."""
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await self._store.spend.write_batch(batch)
        except (StoreError, TimeoutError) as exc:
            self._failed(repr(exc))
            return False
        except Exception:
            logger.exception("spend write failed unexpectedly; spooling the batch")
            self._failed("unexpected error")
            return False
        self._written += len(batch)
        if self._retry_at is not None or self._outage_logged:
            logger.info("spend writes succeed again; draining the spool")
        self._retry_at = None
        self._retry_delay_s = self._retry_initial_s
        self._outage_logged = False
        self._drop_logged = False
        return True

    def _failed(self, reason: str) -> None:
        if not self._outage_logged:
            logger.warning("spend writes failing (%s); spooling to disk and retrying", reason)
            self._outage_logged = True
        self._retry_at = self._clock.monotonic() + self._retry_delay_s
        self._retry_delay_s = min(self._retry_delay_s * 2, self._retry_max_s)

    def _spool_buffer(self) -> None:
        if self._buffer:
            records = list(self._buffer)
            self._buffer.clear()
            self._to_spool(records, sync=True)

    def _to_spool(self, records: Sequence[SpendRecord], *, sync: bool) -> None:
        try:
            accepted = self._spool.append([record_to_line(r) for r in records], sync=sync)
        except OSError:
            logger.exception("cannot write the spend spool")
            accepted = 0
        self._spooled += accepted
        lost = len(records) - accepted
        if lost:
            self._dropped += lost
            if not self._drop_logged:
                logger.warning(
                    "spend spool full (%d bytes): dropping spend records until the database "
                    "is back (see the dropped counter)",
                    self._spool.size_bytes,
                )
                self._drop_logged = True

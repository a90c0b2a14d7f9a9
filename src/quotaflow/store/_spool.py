"""The spend spool: append-only JSON-lines segment files that outlive the process.

``segment-<16-digit sequence>.jsonl`` in one directory, oldest first by sequence. Records
are appended to the newest (open) segment; ``seal`` closes it so it can be drained, and a
drained segment is removed only after its records are in the database. Segments found at
start are sealed. ``max_bytes`` bounds the whole directory. All calls are synchronous and
made from the event loop's thread only.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, BinaryIO

import orjson

from quotaflow.store.records import SpendRecord

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["Spool", "record_from_line", "record_to_line"]

_SEGMENT = re.compile(r"^segment-(\d{16})\.jsonl$")


def record_to_line(record: SpendRecord) -> bytes:
    """One JSON line (with its newline) for ``record``; money as a decimal string."""
    return orjson.dumps(asdict(record), default=str, option=orjson.OPT_APPEND_NEWLINE)


def record_from_line(line: bytes) -> SpendRecord:
    """The record of a line written by ``record_to_line``; ``ValueError`` if it is not one."""
    try:
        fields = orjson.loads(line)
        fields["started_at"] = datetime.fromisoformat(fields["started_at"])
        fields["ended_at"] = datetime.fromisoformat(fields["ended_at"])
        fields["cost_usd"] = Decimal(fields["cost_usd"])
        return SpendRecord(**fields)
    except (KeyError, TypeError, ArithmeticError, orjson.JSONDecodeError) as exc:
        msg = "not a spooled spend record"
        raise ValueError(msg) from exc


class Spool:
    """Segment files in ``directory``, at most ``max_bytes`` in all."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = 1 << 20) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        found = sorted(p for p in directory.iterdir() if _SEGMENT.match(p.name))
        self._sealed: list[Path] = found
        self._size = sum(p.stat().st_size for p in found)
        self._next = int(found[-1].name[8:24]) + 1 if found else 0
        self._current: BinaryIO | None = None
        self._current_path: Path | None = None
        self._current_size = 0
        self._dirty = False

    @property
    def size_bytes(self) -> int:
        """Bytes in every segment."""
        return self._size

    def has_data(self) -> bool:
        """Whether any record waits in the spool."""
        return bool(self._sealed) or self._current_size > 0

    def append(self, lines: Sequence[bytes], *, sync: bool) -> int:
        """Append the lines that fit in ``max_bytes``, in order; how many were appended.

        ``sync`` fsyncs before returning; otherwise the data is in the OS (it survives the
        process) and ``sync()`` makes it durable later.
        """
        accepted = 0
        for line in lines:
            if self._size + len(line) > self._max_bytes:
                break
            current = self._open_current()
            current.write(line)
            self._size += len(line)
            self._current_size += len(line)
            self._dirty = True
            accepted += 1
            if self._current_size >= self._segment_bytes:
                self.seal()
        if self._current is not None:
            self._current.flush()
        if sync:
            self.sync()
        return accepted

    def sync(self) -> None:
        """Make everything appended so far durable (fsync)."""
        if self._current is not None and self._dirty:
            self._current.flush()
            os.fsync(self._current.fileno())
        self._dirty = False

    def seal(self) -> None:
        """Close the open segment (fsync'd) so that ``oldest`` may hand it out."""
        if self._current is None or self._current_path is None:
            return
        self.sync()
        self._current.close()
        self._sealed.append(self._current_path)
        self._current = None
        self._current_path = None
        self._current_size = 0

    def oldest(self) -> Path | None:
        """The oldest segment to drain (sealing the open one if it is the only one)."""
        if not self._sealed and self._current_size > 0:
            self.seal()
        return self._sealed[0] if self._sealed else None

    def read(self, path: Path) -> tuple[list[SpendRecord], int]:
        """The records of a sealed segment, and how many lines could not be read (torn)."""
        records: list[SpendRecord] = []
        bad = 0
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                records.append(record_from_line(line))
            except ValueError:
                bad += 1
        return records, bad

    def remove(self, path: Path) -> None:
        """Delete a drained segment."""
        size = path.stat().st_size
        path.unlink()
        self._sealed.remove(path)
        self._size -= size

    def close(self) -> None:
        """Seal the open segment; its records stay for the next start."""
        self.seal()

    def _open_current(self) -> BinaryIO:
        if self._current is None:
            path = self._dir / f"segment-{self._next:016d}.jsonl"
            self._next += 1
            self._current = path.open("ab")
            self._current_path = path
            self._sync_directory()
        return self._current

    def _sync_directory(self) -> None:
        """fsync the directory, so a new segment's name survives a crash (POSIX only)."""
        with contextlib.suppress(OSError, AttributeError):
            fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

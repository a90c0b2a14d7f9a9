"""The spend spool: JSON-lines segments, rotation, limits, and what survives a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from quotaflow.store._spool import Spool, record_from_line, record_to_line
from quotaflow.store.records import SpendRecord

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


def spend(i: int) -> SpendRecord:
    return SpendRecord(f"r{i:04d}", T0, T0 + timedelta(seconds=1), Decimal("0.0000001"))


def test_a_line_round_trips_a_record_exactly():
    record = SpendRecord(
        "r1",
        T0,
        T0.astimezone(timezone(timedelta(hours=2))),
        Decimal("1234.000000000000000001"),
        key_hash="k",
        latency_ms=1.5,
        status=429,
        metadata={"a": [1, {"b": None}]},
    )
    line = record_to_line(record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert record_from_line(line) == record


@pytest.mark.parametrize("line", [b"{", b"[]", b'{"request_id": "x"}', b'{"cost_usd": "x"}'])
def test_garbage_is_not_a_record(line: bytes):
    with pytest.raises(ValueError, match="spooled"):
        record_from_line(line)


def test_segments_rotate_and_survive_a_reopen_in_order(tmp_path: Path):
    line = record_to_line(spend(0))
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=3 * len(line))
    assert spool.append([record_to_line(spend(i)) for i in range(7)], sync=False) == 7
    assert spool.size_bytes == 7 * len(line)
    spool.close()

    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.has_data()
    drained = []
    while (segment := reopened.oldest()) is not None:
        records, bad = reopened.read(segment)
        assert bad == 0
        drained += [r.request_id for r in records]
        reopened.remove(segment)
    assert drained == [f"r{i:04d}" for i in range(7)]
    assert (reopened.size_bytes, reopened.has_data()) == (0, False)
    reopened.append([line], sync=True)
    assert [p.name for p in tmp_path.iterdir()] == ["segment-0000000000000003.jsonl"]
    reopened.close()


def test_the_byte_limit_takes_whole_lines_only(tmp_path: Path):
    line = record_to_line(spend(0))
    spool = Spool(tmp_path, max_bytes=2 * len(line) + 5)
    assert spool.append([line, line, line], sync=True) == 2
    assert spool.append([line], sync=False) == 0
    assert spool.size_bytes == 2 * len(line)
    spool.close()

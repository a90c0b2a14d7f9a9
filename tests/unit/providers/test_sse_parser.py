"""Server-sent events split from network blocks that end anywhere."""

from __future__ import annotations

import pytest

from quotaflow.errors import UpstreamBadResponse
from quotaflow.providers.base import ServerSentEvent
from quotaflow.providers.http import _SSEParser

STREAM = (
    b'data: {"a":1}\n\n'
    b'event: message_start\r\ndata: {"b":2}\r\n\r\n'
    b": a comment\n"
    b"data: line one\ndata:line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent(b'{"a":1}'),
    ServerSentEvent(b'{"b":2}', "message_start"),
    ServerSentEvent(b"line one\nline two"),
    ServerSentEvent(b"[DONE]"),
]


def _parse(blocks: list[bytes]) -> list[ServerSentEvent]:
    parser = _SSEParser()
    events = [event for block in blocks for event in parser.feed(block)]
    last = parser.finish()
    return [*events, last] if last is not None else events


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(STREAM)])
def test_events_do_not_depend_on_where_blocks_end(size: int):
    blocks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert _parse(blocks) == EXPECTED


def test_a_last_event_without_its_blank_line_is_kept():
    assert _parse([b'data: {"x":1}\n']) == [ServerSentEvent(b'{"x":1}')]
    assert _parse([b'data: {"x":1}']) == [ServerSentEvent(b'{"x":1}')]
    assert _parse([b""]) == []


def test_an_endless_line_is_a_bad_response():
    parser = _SSEParser()
    with pytest.raises(UpstreamBadResponse):
        parser.feed(b"data: " + b"x" * (2 << 20))

"""What the fake received and answered, kept for assertions in tests and the demo."""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from quotaflow.fake.wire import Request

__all__ = ["FakeStats"]


class FakeStats:
    """Counters by operation, status and fault kind; tokens charged; the last requests."""

    def __init__(self, history_size: int) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.tokens_charged = 0
        self.cancelled_streams = 0
        self.in_flight = 0  # requests being answered now
        self.peak_in_flight = 0
        self.recent: deque[Request] = deque(maxlen=history_size)

    def reset(self) -> None:
        """Forget everything."""
        self.requests.clear()
        self.statuses.clear()
        self.faults.clear()
        self.tokens_charged = 0
        self.cancelled_streams = 0
        self.peak_in_flight = self.in_flight
        self.recent.clear()

    def to_json(self) -> dict[str, Any]:
        """The stats as JSON: recent requests with lowercased headers and parsed bodies."""
        return {
            "requests": dict(self.requests),
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "faults": dict(self.faults),
            "tokens_charged": self.tokens_charged,
            "cancelled_streams": self.cancelled_streams,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "recent": [_request_json(r) for r in self.recent],
        }


def _request_json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(request.body) if request.body else None
    except orjson.JSONDecodeError:
        body = request.body.decode("utf-8", "replace")
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query.decode("latin-1"),
        "headers": {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers},
        "body": body,
    }

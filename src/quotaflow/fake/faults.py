"""Scripted misbehaviour: queued faults, faults named by the model, and cutting a connection.

Queued faults are consumed first-in first-out by the next matching requests, each ``times``
times. Model-name scripts need no setup: ``fake-error-<status>``, ``fake-slow`` (1 s more
latency), ``fake-flaky-<n>`` (500 on the first ``n`` calls, then normal), ``fake-hang``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from quotaflow.fake.wire import Receive, Send

__all__ = [
    "FakeFault",
    "FaultKind",
    "FaultQueue",
    "ModelScripts",
    "cut_connection",
    "until_disconnect",
]

SCRIPT_PREFIX = "fake-"


class FaultKind(StrEnum):
    """What a fault does to the request it hits."""

    STATUS = "status"  # answer ``status`` with the provider's error body (429: retry-after)
    HANG = "hang"  # never answer; wait until the client goes away
    DELAY = "delay"  # wait ``delay_ms`` more, then answer normally
    RESET = "reset"  # close the connection without a response
    RESET_MID_STREAM = "reset_mid_stream"  # send ``after_chunks`` events (or half a body), then cut
    ERROR_MID_STREAM = "error_mid_stream"  # ``after_chunks`` events, then ``data: {"error": …}``
    GARBAGE = "garbage"  # 200 with an HTML body
    GARBAGE_STREAM = "garbage_stream"  # 200 SSE whose data lines are not JSON


@dataclass(frozen=True, slots=True)
class FakeFault:
    """One scripted misbehaviour, applied to the next ``times`` matching requests.

    ``model`` restricts it to requests for that model (OpenAI) or deployment (Azure).
    """

    kind: FaultKind
    times: int = 1
    status: int = 500
    retry_after_s: float | None = None
    delay_ms: float = 0.0
    after_chunks: int = 2
    model: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FakeFault:
        """Build a fault from control-API JSON; ``ValueError`` says what is wrong."""
        problems = [f"unknown field {key!r}" for key in data if key not in _JSON_TYPES]
        problems += [
            f"wrong type for {key!r}"
            for key, value in data.items()
            if key in _JSON_TYPES
            and (type(value) is bool or not isinstance(value, _JSON_TYPES[key]))
        ]
        kind = data.get("kind")
        if kind not in FaultKind.__members__.values():
            problems.append(f"unknown kind {kind!r}")
        if not problems:
            fault = cls(**{**data, "kind": FaultKind(str(kind))})
            if fault.times < 1 or fault.after_chunks < 0 or not 100 <= fault.status <= 599:
                problems.append("times must be >= 1, after_chunks >= 0, status an HTTP status")
            else:
                return fault
        msg = f"invalid fault {dict(data)!r}: {'; '.join(problems)}"
        raise ValueError(msg)

    def to_json(self) -> dict[str, Any]:
        """The fault as control-API JSON."""
        return asdict(self)


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "times": int,
    "status": int,
    "retry_after_s": (int, float, type(None)),
    "delay_ms": (int, float),
    "after_chunks": int,
    "model": (str, type(None)),
}
_FLAKY_FAILURE = FakeFault(FaultKind.STATUS, status=500)
_NAMED_SCRIPTS = {
    "slow": FakeFault(FaultKind.DELAY, delay_ms=1000.0),
    "hang": FakeFault(FaultKind.HANG),
}


@dataclass(eq=False, slots=True)
class _Pending:
    fault: FakeFault
    left: int


class FaultQueue:
    """Pending faults in arrival order, each with the number of hits it has left."""

    def __init__(self) -> None:
        self._pending: deque[_Pending] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, faults: Iterable[FakeFault]) -> None:
        """Queue faults behind those already pending."""
        self._pending.extend(_Pending(fault, fault.times) for fault in faults)

    def take(self, model: str) -> FakeFault | None:
        """The first pending fault matching ``model``, counting one use of it."""
        for entry in self._pending:
            if entry.fault.model is None or entry.fault.model == model:
                entry.left -= 1
                if entry.left == 0:
                    self._pending.remove(entry)
                return entry.fault
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        self._pending.clear()

    def to_json(self) -> list[dict[str, Any]]:
        """Pending faults with the hits each has left."""
        return [{**entry.fault.to_json(), "times": entry.left} for entry in self._pending]


class ModelScripts:
    """Faults chosen by model name; ``fake-flaky-<n>`` counts calls per name."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()

    def fault_for(self, model: str) -> FakeFault | None:
        """The fault the model name asks for, if it is a script name."""
        if not model.startswith(SCRIPT_PREFIX):
            return None
        name = model.removeprefix(SCRIPT_PREFIX)
        kind, _, number = name.rpartition("-")
        if kind == "error" and number.isdigit() and 100 <= int(number) <= 599:
            return FakeFault(FaultKind.STATUS, status=int(number))
        if kind == "flaky" and number.isdigit():
            self._calls[model] += 1
            return _FLAKY_FAILURE if self._calls[model] <= int(number) else None
        return _NAMED_SCRIPTS.get(name)

    def reset(self) -> None:
        """Forget how often each flaky model was called."""
        self._calls.clear()


async def cut_connection(receive: Receive, send: Send, *, flush: bool) -> None:
    """End the connection without completing the response.

    Under uvicorn the cycle behind ``send`` exposes its transport: it is closed (``flush``:
    after writing what was sent) or aborted, and we wait for the disconnect so that uvicorn
    logs nothing. Elsewhere (e.g. ``httpx.ASGITransport``) ``ConnectionResetError`` is raised.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    end = getattr(transport, "close" if flush else "abort", None)
    if not callable(end):
        msg = "fake provider cut the connection"
        raise ConnectionResetError(msg)
    end()
    await until_disconnect(receive)


async def until_disconnect(receive: Receive) -> None:
    """Wait until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass

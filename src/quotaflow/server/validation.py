"""Checks on client payloads before any upstream is called: a bad request costs nothing upstream.

Only the fields the gateway itself relies on are checked; every other field passes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quotaflow.errors import InvalidRequest
from quotaflow.providers.base import Operation

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["validate"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_POSITIVE_INTS = ("n", "max_tokens", "max_completion_tokens")
_MAX_TEMPERATURE = 2.0


def validate(op: Operation, payload: dict[str, Any]) -> None:
    """Raise ``InvalidRequest`` naming the first bad field."""
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _missing("model") if model is None else _wrong("model", "a non-empty string")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong("stream", "a boolean")
    _CHECKS[op](payload)


def _chat(payload: dict[str, Any]) -> None:
    messages = payload.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list) or not messages:
        raise _wrong("messages", "a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _wrong(f"messages[{index}]", "an object")
        role = message.get("role")
        if role not in _ROLES:
            roles = ", ".join(sorted(_ROLES))
            raise _wrong(f"messages[{index}].role", f"one of {roles}")
    _sampling(payload)


def _completion(payload: dict[str, Any]) -> None:
    prompt = payload.get("prompt")
    if prompt is None:
        raise _missing("prompt")
    if not isinstance(prompt, str | list):
        raise _wrong("prompt", "a string or an array")
    _sampling(payload)


def _embedding(payload: dict[str, Any]) -> None:
    data = payload.get("input")
    if data is None:
        raise _missing("input")
    if isinstance(data, str):
        if not data:
            raise _wrong("input", "a non-empty string")
    elif not isinstance(data, list) or not data:
        raise _wrong("input", "a non-empty string or array")
    dimensions = payload.get("dimensions")
    if dimensions is not None and not _positive_int(dimensions):
        raise _wrong("dimensions", "a positive integer")


def _sampling(payload: dict[str, Any]) -> None:
    for name in _POSITIVE_INTS:
        value = payload.get(name)
        if value is not None and not _positive_int(value):
            raise _wrong(name, "a positive integer")
    temperature = payload.get("temperature")
    if temperature is not None and not (
        _number(temperature) and 0 <= temperature <= _MAX_TEMPERATURE
    ):
        raise _wrong("temperature", "a number between 0 and 2")
    top_p = payload.get("top_p")
    if top_p is not None and not (_number(top_p) and 0 <= top_p <= 1):
        raise _wrong("top_p", "a number between 0 and 1")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _wrong(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': expected {expected}.", param=param, code="invalid_value"
    )


_CHECKS: dict[Operation, Callable[[dict[str, Any]], None]] = {
    Operation.CHAT: _chat,
    Operation.COMPLETION: _completion,
    Operation.EMBEDDING: _embedding,
}

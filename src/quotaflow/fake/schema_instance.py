"""A small, deterministic JSON value that validates against a JSON schema.

Covers what Pydantic and OpenAI tool definitions use: objects (every property filled),
arrays (``minItems`` items, at least one), strings (``enum``, ``const``, common ``format``\\s,
length bounds), numbers with bounds, booleans, ``$ref``/``$defs``, ``anyOf``/``oneOf`` (first
non-null branch), ``allOf`` (merged) and type lists. Past a few levels optionals become null
and arrays get only ``minItems`` items, so recursive models end. ``pattern`` and
``multipleOf`` are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_from_schema"]

_MAX_DEPTH = 32
_SHALLOW = 8  # deeper, optionals become null and arrays get ``minItems``: recursive models end

_FORMATTED = {
    "date": "2024-01-31",
    "date-time": "2024-01-31T12:00:00Z",
    "time": "12:00:00",
    "duration": "PT1S",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}


def instance_from_schema(schema: Mapping[str, Any]) -> Any:
    """A JSON-compatible value valid against ``schema`` (resolving refs against its root)."""
    return _Generator(schema).value(schema, 0)


class _Generator:
    """Walks one schema; ``root`` resolves local ``$ref`` pointers."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def value(self, schema: Mapping[str, Any], depth: int) -> Any:
        """The value for one (sub)schema."""
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        inner = self.inner(schema, depth)
        if inner is not None:
            return self.value(inner, depth + 1)
        return self.typed(schema, _type_of(schema), depth)

    def inner(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any] | None:
        """The schema that ``$ref``, ``anyOf``/``oneOf`` or ``allOf`` stands for, if any."""
        if "$ref" in schema:
            return self.resolve(schema["$ref"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return _branch(schema[key], null=depth >= _SHALLOW)
        if "allOf" in schema:
            return _merge(schema["allOf"])
        return None

    def typed(self, schema: Mapping[str, Any], kind: str, depth: int) -> Any:
        """The value for a schema of one JSON type."""
        if kind == "object":
            properties: Mapping[str, Any] = schema.get("properties", {})
            return {name: self.value(sub, depth + 1) for name, sub in properties.items()}
        if kind == "array":
            return self.array(schema, depth)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(schema)

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        """``prefixItems`` in order, else ``minItems`` items (one if allowed, ≤ ``maxItems``)."""
        if "prefixItems" in schema:
            return [self.value(sub, depth + 1) for sub in schema["prefixItems"]]
        count = max(schema.get("minItems", 0), 1 if depth < _SHALLOW else 0)
        if "maxItems" in schema:
            count = min(count, schema["maxItems"])
        items = schema.get("items", {})
        return [self.value(items, depth + 1) for _ in range(count)]

    def resolve(self, ref: str) -> Mapping[str, Any]:
        """Follow a local JSON pointer such as ``#/$defs/Address``."""
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref[1:].split("/"):
            if part:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
        return node if isinstance(node, Mapping) else {}


def _branch(branches: list[Mapping[str, Any]], *, null: bool) -> Mapping[str, Any]:
    """The first non-null branch, or (``null``) the null branch if there is one."""
    for branch in branches:
        if (branch.get("type") == "null") == null:
            return branch
    return branches[0] if branches else {}


def _merge(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        properties = {**merged.get("properties", {}), **part.get("properties", {})}
        merged.update(part)
        if properties:
            merged["properties"] = properties
    return merged


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _string(schema: Mapping[str, Any]) -> str:
    text = _FORMATTED.get(schema.get("format", ""), "fake")
    text = text.ljust(schema.get("minLength", 0), "x")
    return text[: schema.get("maxLength", len(text))]


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    value: float = 1 if integer else 1.5
    step = 1 if integer else 0.5
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + step
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - step
    return math.ceil(value) if integer else float(value)

"""JSON Schema → the OpenAPI subset Gemini accepts in ``functionDeclarations[].parameters``.

Gemini's ``Schema`` knows a fixed set of keys; anything else (``additionalProperties``,
``$schema``, ``$ref``, ``strict`` …) is answered with a 400. So, as Pydantic and OpenAI tool
definitions write schemas: local ``$ref``s are inlined (a recursive one cannot be, and is a 400
naming the parameter), ``allOf`` is merged, ``oneOf`` becomes ``anyOf``, a ``null`` branch or
type becomes ``nullable``, ``const`` becomes a one-value ``enum``, type names are upper-cased,
``format``s Gemini does not know are dropped, and every other unknown key is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quotaflow.errors import InvalidRequest

__all__ = ["gemini_schema"]

JSON = dict[str, Any]

_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "INTEGER": frozenset({"int32", "int64"}),
    "NUMBER": frozenset({"float", "double"}),
}
_NULL = "null"


def gemini_schema(schema: Mapping[str, Any], param: str) -> JSON:
    """``schema`` in Gemini's subset; ``InvalidRequest`` naming ``param`` if it cannot be."""
    return _Cleaner(schema, param).clean(schema, ())


class _Cleaner:
    """Cleans one schema; ``root`` resolves its local ``$ref`` pointers."""

    def __init__(self, root: Mapping[str, Any], param: str) -> None:
        self.root = root
        self.param = param

    def clean(self, schema: object, refs: tuple[str, ...]) -> JSON:
        """One (sub)schema; ``refs`` are the pointers being inlined above it."""
        if not isinstance(schema, Mapping):
            return {}  # ``true``: anything goes
        node, refs = self.flatten(schema, refs)
        node, nullable = _simplified(node)
        while "$ref" in node or "allOf" in node:  # the one non-null branch was a reference
            node, refs = self.flatten(node, refs)
            node, also_nullable = _simplified(node)
            nullable = nullable or also_nullable
        out: JSON = {}
        for key, value in node.items():
            if key in _KEYS:
                out[key] = self.value(key, value, refs)
        _fix_format_and_enum(out)
        if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
            out["required"] = [name for name in out["required"] if name in out["properties"]]
        if nullable:
            out["nullable"] = True
        return out

    def value(self, key: str, value: Any, refs: tuple[str, ...]) -> Any:
        """The cleaned value of one allowed key."""
        if key == "properties" and isinstance(value, Mapping):
            return {name: self.clean(sub, refs) for name, sub in value.items()}
        if key == "items":
            return self.clean(value, refs)
        if key == "anyOf" and isinstance(value, list):
            return [self.clean(branch, refs) for branch in value]
        if key == "type" and isinstance(value, str):
            return value.upper()
        return value

    def flatten(
        self, schema: Mapping[str, Any], refs: tuple[str, ...]
    ) -> tuple[JSON, tuple[str, ...]]:
        """``schema`` with its ``$ref``s inlined and its ``allOf`` merged."""
        node = dict(schema)
        while isinstance(node.get("$ref"), str):
            ref = node.pop("$ref")
            if ref in refs:
                msg = f"Invalid '{self.param}': the gemini provider cannot inline the recursive"
                raise InvalidRequest(f"{msg} reference {ref!r}.", param=self.param)
            node = {**self.resolve(ref), **node}
            refs = (*refs, ref)
        parts = node.pop("allOf", None)
        if isinstance(parts, list):
            for part in parts:
                merged, refs = self.flatten(part if isinstance(part, Mapping) else {}, refs)
                node = _merge(merged, node)
        return node, refs

    def resolve(self, ref: str) -> Mapping[str, Any]:
        """Follow a local JSON pointer such as ``#/$defs/Address``."""
        node: Any = self.root if ref.startswith("#") else None
        for part in ref[1:].split("/"):
            if part and isinstance(node, Mapping):
                node = node.get(part.replace("~1", "/").replace("~0", "~"))
        if not isinstance(node, Mapping):
            msg = f"Invalid '{self.param}': the reference {ref!r} does not resolve"
            raise InvalidRequest(f"{msg} to a definition in the schema.", param=self.param)
        return node


def _simplified(node: JSON) -> tuple[JSON, bool]:
    """``oneOf`` as ``anyOf``, ``const`` as ``enum``, no ``null`` type or branch; was there one?"""
    if "oneOf" in node and "anyOf" not in node:
        node = {**node, "anyOf": node["oneOf"]}
        del node["oneOf"]
    if "const" in node and "enum" not in node:
        node = {**node, "enum": [node["const"]]}
    kind = node.get("type")
    nullable = False
    if isinstance(kind, list):
        kinds = [k for k in kind if k != _NULL]
        nullable = len(kinds) < len(kind)
        node = {k: v for k, v in node.items() if k != "type"}
        if len(kinds) == 1:
            node["type"] = kinds[0]
        elif kinds:
            node["anyOf"] = [{"type": k} for k in kinds]
    branches = node.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == _NULL)]
        nullable = nullable or len(kept) < len(branches)
        node = {k: v for k, v in node.items() if k != "anyOf"}
        if len(kept) == 1 and isinstance(kept[0], Mapping):
            node = {**kept[0], **node}  # the annotations beside anyOf (title, default) win
        elif kept:
            node["anyOf"] = kept
    return node, nullable


def _fix_format_and_enum(out: JSON) -> None:
    """Drop formats Gemini rejects; an ``enum`` is for strings only."""
    kind = out.get("type")
    if "format" in out and out["format"] not in _FORMATS.get(str(kind), frozenset()):
        del out["format"]
    enum = out.get("enum")
    if enum is None:
        return
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        out.setdefault("type", "STRING")
    else:
        del out["enum"]  # numeric or mixed enums have no Gemini equivalent; the type still holds


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> JSON:
    """``extra`` over ``base``, with their ``properties`` and ``required`` combined."""
    merged = {**base, **extra}
    properties = {**base.get("properties", {}), **extra.get("properties", {})}
    if properties:
        merged["properties"] = properties
    required = [*base.get("required", []), *extra.get("required", [])]
    if required:
        merged["required"] = list(dict.fromkeys(required))
    return merged

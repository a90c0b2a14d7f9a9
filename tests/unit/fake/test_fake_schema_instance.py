"""Values generated from JSON schemas validate, including Pydantic's own schemas."""

from __future__ import annotations

import datetime
import enum
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel, Field

from quotaflow.fake.schema_instance import instance_from_schema


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Address(BaseModel):
    street: str
    postcode: str = Field(min_length=5, max_length=5)
    country: Literal["FR", "SE"]


class LineItem(BaseModel):
    sku: str
    quantity: int = Field(ge=5, lt=10)
    unit_price: float = Field(gt=2)


class Invoice(BaseModel):
    number: int
    priority: Priority
    due: datetime.date
    issued_at: datetime.datetime
    lines: list[LineItem] = Field(min_length=2)
    note: str | None = None
    ship_to: Address
    tags: set[str]
    pair: tuple[int, str]
    totals: dict[str, float]
    paid: bool


class Node(BaseModel):
    name: str
    children: list[Node] = []
    parent: Node | None = None


@pytest.mark.parametrize("model", [Invoice, Node, Address])
def test_pydantic_schemas_round_trip(model: type[BaseModel]) -> None:
    value = instance_from_schema(model.model_json_schema())
    model.model_validate_json(orjson.dumps(value))


def test_invoice_values() -> None:
    invoice = Invoice.model_validate(instance_from_schema(Invoice.model_json_schema()))
    assert invoice.due == datetime.date(2024, 1, 31)
    assert invoice.priority is Priority.LOW
    assert invoice.note == "fake"
    assert len(invoice.lines) == 2
    assert invoice.lines[0].quantity == 5
    assert invoice.ship_to.postcode == "fakex"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, "fake"),
        ({"type": ["null", "integer"]}, 1),
        ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, True),
        ({"oneOf": [{"const": 7}, {"type": "string"}]}, 7),
        ({"type": "string", "format": "date-time"}, "2024-01-31T12:00:00Z"),
        ({"type": "string", "maxLength": 2}, "fa"),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "number", "exclusiveMaximum": 1}, 0.5),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 3}, [1, 1, 1]),
        ({"type": "array", "maxItems": 0}, []),
        ({"prefixItems": [{"type": "integer"}, {"enum": ["a", "b"]}]}, [1, "a"]),
        (
            {"allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {}}}]},
            {"a": 1, "b": "fake"},
        ),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {}),
        (
            {"$defs": {"A~B": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/A~0B"}}},
            {"x": 1},
        ),
        ({"$ref": "https://example.com/remote.json"}, "fake"),
    ],
)
def test_schema_cases(schema: dict[str, Any], expected: object) -> None:
    assert instance_from_schema(schema) == expected

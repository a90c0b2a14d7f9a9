"""``GET /openapi.json``: the OpenAPI 3.1 document of the management API, from its pydantic
models, plus the model-call routes (whose bodies are OpenAI's, documented by OpenAI).

Built once per process and served as bytes; it needs no key (it describes, it does not tell).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic.json_schema import models_json_schema

from quotaflow.management.routes import ROUTES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel

    from quotaflow.management.routes import AdminRoute
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["document", "openapi_json"]

_Mode = Literal["validation", "serialization"]
_REF = "#/components/schemas/{model}"
_ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
_MODEL_CALLS = (
    ("/v1/chat/completions", "post", "Chat completions (OpenAI)"),
    ("/v1/completions", "post", "Completions (OpenAI)"),
    ("/v1/embeddings", "post", "Embeddings (OpenAI)"),
    ("/v1/responses", "post", "Responses (OpenAI), served by chat completions"),
    ("/v1/messages", "post", "Messages (Anthropic), served by chat completions"),
    ("/v1/models", "get", "The models this key may use"),
)


async def openapi_json(services: Services, exchange: Exchange) -> None:
    """Serve the document."""
    del services
    await exchange.send_json(200, _document_bytes())


@functools.cache
def _document_bytes() -> bytes:
    return orjson.dumps(document())


def document() -> dict[str, Any]:
    """The OpenAPI document as a mapping."""
    wanted: list[tuple[type[BaseModel], _Mode]] = []
    for route in ROUTES:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.answer is not None:
            wanted.append((route.answer, "serialization"))
    refs, defs = models_json_schema(wanted, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    for path, method, summary in _MODEL_CALLS:
        paths.setdefault(path, {})[method] = {
            "summary": summary,
            "tags": ["model calls"],
            "responses": {"200": {"description": "OK"}, "default": _error_response()},
        }
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": "quotaflow", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: AdminRoute, refs: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "description": (route.handler.__doc__ or "").strip(),
        "tags": [route.tag],
        "operationId": route.path.strip("/").replace("/", "_"),
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[route.body, "validation"]}},
        }
    if route.query is not None:
        operation["parameters"] = _parameters(route.query)
    answer = refs[route.answer, "serialization"] if route.answer is not None else {}
    operation["responses"] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
        "default": _error_response(),
    }
    return operation


def _parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    schema = query.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "description"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _error_response() -> dict[str, Any]:
    return {
        "description": "An error, in OpenAI's shape",
        "content": {"application/json": {"schema": _ERROR}},
    }

"""Reading management requests and writing their answers, on the gateway's raw ASGI exchange.

Bodies and query strings are validated by pydantic models that forbid unknown fields; the first
problem becomes a 400 naming its field. Answers are pydantic models serialised to JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, RootModel, ValidationError

from quotaflow.dashboard.session import session_principal
from quotaflow.errors import PermissionDenied
from quotaflow.management.errors import invalid_field

if TYPE_CHECKING:
    from quotaflow.auth import Principal
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["authenticate", "read_body", "read_query", "require_admin", "require_viewer", "send"]

_Model = TypeVar("_Model", bound=BaseModel)
_MAX_BODY_BYTES = 1 << 20


def authenticate(services: Services, exchange: Exchange) -> Principal:
    """The caller (401 without a valid key), noted in the exchange's outcome.

    Without an ``Authorization`` or ``api-key`` header, a dashboard session cookie may stand in
    for the key (``dashboard.session``; its CSRF token is required on every POST).
    """
    authorization, api_key = exchange.header(b"authorization"), exchange.header(b"api-key")
    principal = None
    if authorization is None and api_key is None:
        principal = session_principal(services, exchange)
    if principal is None:
        principal = services.authenticator.authenticate(authorization, api_key)
    exchange.outcome.principal = principal
    return principal


def require_admin(principal: Principal) -> None:
    """403 unless the caller is the master key or an admin."""
    if not principal.is_admin:
        raise PermissionDenied("Only the master key or an admin key may call this route.")


def require_viewer(principal: Principal) -> None:
    """403 unless the caller may read the management routes."""
    if not principal.can_view:
        raise PermissionDenied("Only the master key or an admin key may call this route.")


async def read_body(exchange: Exchange, model: type[_Model]) -> _Model:
    """The JSON body validated by ``model``."""
    payload = await exchange.read_json(_MAX_BODY_BYTES)
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise invalid_field(error) from None


def read_query(exchange: Exchange, model: type[_Model]) -> _Model:
    """The query string validated by ``model`` (a repeated parameter keeps its last value)."""
    raw: bytes = exchange.scope.get("query_string", b"")
    params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=False))
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise invalid_field(error, where="query") from None


async def send(
    exchange: Exchange, answer: BaseModel | RootModel[object], status: int = 200
) -> None:
    """``answer`` as JSON."""
    await exchange.send_json(status, answer.model_dump_json().encode())

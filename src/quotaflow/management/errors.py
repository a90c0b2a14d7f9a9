"""Management errors: the store's error tree and pydantic's, turned into ``GatewayError``s.

Store errors become 404 (``NotFound``), 409 (``Conflict``) or 503 (``StoreUnavailable``); a
validation error becomes a 400 that names the first bad field. Messages never echo a key.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from quotaflow.errors import ClientError, GatewayError, InvalidRequest
from quotaflow.store.errors import Conflict, NotFound, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pydantic import ValidationError

__all__ = [
    "AlreadyExists",
    "DatabaseUnavailable",
    "NoSuchRecord",
    "invalid_field",
    "store_errors",
]


class NoSuchRecord(ClientError):
    """The key, team or user named does not exist."""

    status_code = 404
    default_code = "not_found"


class AlreadyExists(ClientError):
    """An id or alias is already taken."""

    status_code = 409
    default_code = "conflict"


class DatabaseUnavailable(GatewayError):
    """The store cannot be reached; the write was not made."""

    status_code = 503
    error_type = "service_unavailable_error"
    default_code = "database_unavailable"


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Map store errors raised inside to client errors about ``what`` (e.g. "team 'dev'")."""
    try:
        yield
    except NotFound:
        raise NoSuchRecord(f"No such {what}.") from None
    except Conflict:
        raise AlreadyExists(f"The {what} already exists (its id or alias is taken).") from None
    except StoreUnavailable:
        raise DatabaseUnavailable(
            "The database is unavailable; nothing was changed. Retry later."
        ) from None


def invalid_field(error: ValidationError, *, where: str = "body") -> InvalidRequest:
    """The first problem of a pydantic validation error, naming its field."""
    first = error.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "extra_forbidden":
        message = f"Unknown field '{param}' in the request {where}."
    elif first["type"] == "missing":
        message = f"Missing required field '{param}' in the request {where}."
    elif param is None:
        message = f"Invalid request {where}: {first['msg']}."
    else:
        message = f"Invalid '{param}': {first['msg']}."
    return InvalidRequest(message, param=param, code="invalid_value")

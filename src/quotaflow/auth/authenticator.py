"""``Authenticator``: checks a request's key against the master key, in constant time."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from quotaflow.errors import AuthenticationFailed

__all__ = ["Authenticator", "Principal"]

_BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    is_admin: bool
    key_alias: str | None = None


_ANONYMOUS = Principal(is_admin=True, key_alias=None)
_MASTER = Principal(is_admin=True, key_alias="master")


class Authenticator:
    """With a master key every call must present it; without one the gateway is open."""

    def __init__(self, master_key: str | None) -> None:
        self._master = master_key.encode() if master_key else None

    @property
    def required(self) -> bool:
        """Whether calls must carry a key."""
        return self._master is not None

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The caller for an ``Authorization: Bearer`` or ``api-key`` header value."""
        if self._master is None:
            return _ANONYMOUS
        presented = _presented_key(authorization, api_key)
        if presented is None:
            raise AuthenticationFailed(
                "No API key provided. Send it as 'Authorization: Bearer <key>' or 'api-key: <key>'."
            )
        if hmac.compare_digest(presented.encode(), self._master):
            return _MASTER
        raise AuthenticationFailed("Incorrect API key provided.")


def _presented_key(authorization: str | None, api_key: str | None) -> str | None:
    if authorization:
        if authorization[:7].lower() == _BEARER:
            return authorization[7:].strip() or None
        return authorization.strip() or None
    if api_key:
        return api_key.strip() or None
    return None

"""``Authenticator``: a request's key → ``Principal``, without touching the database.

- The master key (compared in constant time) is the admin principal.
- Any other key is hashed and looked up in the ``KeyCache``: unknown → 401; blocked (the key or
  its team) → 401; expired → 401. The lookup is by hash, so its timing says nothing about the
  keys that exist.
- Without a master key the gateway is open: a call without a key, or with a key the cache does
  not know, is the anonymous admin; a known virtual key is still that key, with its limits.

Error messages never contain the key, its hash or the master key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.auth.keys import MasterKey, hash_key
from quotaflow.auth.principal import Principal
from quotaflow.errors import AuthenticationFailed

if TYPE_CHECKING:
    from quotaflow.auth.key_cache import KeyCache
    from quotaflow.clock import Clock

__all__ = ["Authenticator", "Principal"]

_BEARER = "bearer "
_ANONYMOUS = Principal(is_admin=True, key_alias=None, can_view=True)
_MASTER = Principal(is_admin=True, key_alias="master", can_view=True)


class Authenticator:
    """With a master key every call must present a valid key; without one the gateway is open."""

    def __init__(
        self, master_key: str | None, keys: KeyCache | None = None, clock: Clock | None = None
    ) -> None:
        self._master = MasterKey(master_key) if master_key else None
        self._keys = keys
        self._clock = clock

    @property
    def required(self) -> bool:
        """Whether calls must carry a key."""
        return self._master is not None

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The caller for an ``Authorization: Bearer`` or ``api-key`` header value."""
        presented = _presented_key(authorization, api_key)
        if presented is None:
            if self._master is None:
                return _ANONYMOUS
            raise AuthenticationFailed(
                "No API key provided. Send it as 'Authorization: Bearer <key>' or 'api-key: <key>'."
            )
        if self._master is not None and self._master.matches(presented):
            return _MASTER
        principal = self._keys.lookup(hash_key(presented)) if self._keys is not None else None
        if principal is None:
            if self._master is None:
                return _ANONYMOUS
            raise AuthenticationFailed("Incorrect API key provided.")
        if principal.blocked is not None:
            raise AuthenticationFailed(principal.blocked, code="key_blocked")
        if principal.expires_s is not None and self._now() >= principal.expires_s:
            raise AuthenticationFailed("This key has expired.", code="key_expired")
        return principal

    def _now(self) -> float:
        if self._clock is None:
            msg = "an Authenticator with expiring keys needs a clock"
            raise RuntimeError(msg)
        return self._clock.wall()


def _presented_key(authorization: str | None, api_key: str | None) -> str | None:
    if authorization:
        if authorization[:7].lower() == _BEARER:
            return authorization[7:].strip() or None
        return authorization.strip() or None
    if api_key:
        return api_key.strip() or None
    return None

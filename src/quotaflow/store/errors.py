"""The store's error tree; each backend translates its driver's exceptions into it.

    StoreError                   anything the store refuses or cannot do
    ├── Conflict                 a unique value is taken (team_id, user_id, token_hash, key_alias)
    ├── NotFound                 no row with that id
    ├── InvalidQuery             a cursor or page size the store cannot use
    └── StoreUnavailable         the database cannot be reached or is busy; retry later

These are not ``GatewayError``s: the management API decides what a client sees (409, 404, 503).
"""

from __future__ import annotations

__all__ = ["Conflict", "InvalidQuery", "NotFound", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class Conflict(StoreError):
    """A row with the same unique value (id or alias) already exists."""


class NotFound(StoreError):
    """The row asked for does not exist."""


class InvalidQuery(StoreError):
    """A cursor that did not come from the store, or a page size out of range."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, timed out or is locked; the operation may be retried."""

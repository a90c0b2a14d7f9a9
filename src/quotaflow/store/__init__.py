"""What must survive restarts: virtual keys, teams, users and spend, in SQLite or PostgreSQL.

``base.Store`` is the protocol, ``records`` the stored shapes, ``errors`` the error tree;
``open_store(url)`` picks the backend, ``upgrade(url)`` applies migrations (``quotaflow db
upgrade``), and ``SpendWriter`` carries spend records from the request path to the database
without losing one (a disk spool covers outages). See docs/store.md.

Must not import the server, auth, limits, routing or providers.
"""

from quotaflow.store.base import (
    KeyRepository,
    SpendRepository,
    Store,
    TeamRepository,
    UserRepository,
)
from quotaflow.store.errors import Conflict, InvalidQuery, NotFound, StoreError, StoreUnavailable
from quotaflow.store.opener import open_store, upgrade
from quotaflow.store.records import (
    EPOCH,
    UNSET,
    KeyChanges,
    Page,
    ReportRow,
    SpendFilter,
    SpendRecord,
    Team,
    TeamChanges,
    TeamMember,
    User,
    UserChanges,
    VirtualKey,
)
from quotaflow.store.spend_writer import SpendWriter, SpendWriterCounters

__all__ = [
    "EPOCH",
    "UNSET",
    "Conflict",
    "InvalidQuery",
    "KeyChanges",
    "KeyRepository",
    "NotFound",
    "Page",
    "ReportRow",
    "SpendFilter",
    "SpendRecord",
    "SpendRepository",
    "SpendWriter",
    "SpendWriterCounters",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Team",
    "TeamChanges",
    "TeamMember",
    "TeamRepository",
    "User",
    "UserChanges",
    "UserRepository",
    "VirtualKey",
    "open_store",
    "upgrade",
]

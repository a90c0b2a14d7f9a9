"""A database URL → the store for it; and ``upgrade``, what ``quotaflow db upgrade`` runs.

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's convention: the
path is what follows the third slash) and ``sqlite:///:memory:``; ``postgresql://`` or
``postgres://user:password@host:port/db`` (query parameters go to asyncpg, e.g.
``?sslmode=require``). The concrete backends are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quotaflow.clock import Clock
    from quotaflow.store.base import Store

__all__ = ["open_store", "sqlite_path", "upgrade"]

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///`` URL (``":memory:"`` included); ``None`` otherwise."""
    if not url.startswith(_SQLITE):
        return None
    path = url.removeprefix(_SQLITE)
    if not path:
        msg = "a sqlite URL needs a path: sqlite:///path/to/file.db"
        raise ValueError(msg)
    return path


async def open_store(url: str, *, clock: Clock | None = None) -> Store:
    """The store at ``url``, opened (not migrated: call ``migrate()`` or ``upgrade``).

    ``ValueError`` for a URL of no known kind; ``StoreUnavailable`` if it cannot be reached.
    """
    path = sqlite_path(url)
    if path is not None:
        from quotaflow.store.sqlite import SqliteStore  # noqa: PLC0415

        return await SqliteStore.open(path, clock=clock)
    if url.startswith(_POSTGRES):
        from quotaflow.store.postgres import PostgresStore  # noqa: PLC0415

        return await PostgresStore.open(url, clock=clock)
    scheme = url.split(":", 1)[0]
    msg = f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://"
    raise ValueError(msg)


async def upgrade(url: str) -> Sequence[str]:
    """Apply the pending migrations to the database at ``url``; the versions applied."""
    store = await open_store(url)
    try:
        return await store.migrate()
    finally:
        await store.close()

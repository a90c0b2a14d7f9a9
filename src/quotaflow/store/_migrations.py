"""The schema's migrations: ``migrations/NNNN_name.<dialect>.sql``, applied in version order.

Each version exists once per dialect (``sqlite``, ``postgres``) so both backends keep the
same schema in their own column types; ``schema_migrations`` records the versions applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["Dialect", "Migration", "migrations"]

Dialect = Literal["sqlite", "postgres"]

_FILE_NAME = re.compile(r"^(?P<version>\d{4}_[a-z0-9_]+)\.(?P<dialect>sqlite|postgres)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration script for one dialect."""

    version: str
    """``NNNN_name``; versions sort in the order they are applied."""
    sql: str


def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """Every migration of ``dialect``, in the order to apply them."""
    found: list[Migration] = []
    for entry in resources.files("quotaflow.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None and match["dialect"] == dialect:
            found.append(Migration(match["version"], entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))

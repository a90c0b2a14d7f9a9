"""Request models → store records and partial updates (``*Changes``).

A field present in an update request changes (``null`` clears it); a field left out stays.
Changing ``budget_duration`` restarts the budget period now (the new anchor).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from quotaflow.limits.periods import add_duration, parse_duration
from quotaflow.store.records import KeyChanges, TeamChanges, UserChanges

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from quotaflow.management.fields import LimitFields
    from quotaflow.management.registry import Registry

__all__ = ["BUDGET_FIELDS", "apply", "expiry", "limit_changes", "limit_values"]

BUDGET_FIELDS = frozenset({"max_budget", "budget_duration"})
_C = TypeVar("_C", KeyChanges, TeamChanges, UserChanges)
_PLAIN = ("max_budget", "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests")


def limit_values(
    body: LimitFields, registry: Registry, within: Iterable[str] = ()
) -> dict[str, Any]:
    """The limit fields of a create request, as record fields."""
    values: dict[str, Any] = {name: getattr(body, name) for name in _PLAIN}
    values["models"] = registry.models(body.models, within)
    values["metadata"] = dict(body.metadata or {})
    return values


def limit_changes(
    body: LimitFields, registry: Registry, within: Iterable[str] = ()
) -> dict[str, Any]:
    """The limit fields an update request sets, as ``*Changes`` fields."""
    given = body.model_fields_set
    changes: dict[str, Any] = {name: getattr(body, name) for name in _PLAIN if name in given}
    if "models" in given:
        changes["models"] = registry.models(body.models, within)
    if "metadata" in given:
        changes["metadata"] = dict(body.metadata or {})
    if "budget_duration" in given:
        changes["budget_reset_at"] = registry.now()
    return changes


def expiry(duration: str | None, now: datetime) -> datetime | None:
    """When a key made now with ``duration`` expires."""
    return add_duration(now, parse_duration(duration)) if duration else None


def apply(empty: _C, changes: dict[str, Any]) -> _C:
    """``empty`` (a ``*Changes`` with every field ``UNSET``) with ``changes`` set."""
    return replace(empty, **changes)

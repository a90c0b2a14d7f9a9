"""Checks that every model group the router settings name exists, and fallbacks have no cycle."""

from __future__ import annotations

import difflib
import graphlib
from typing import TYPE_CHECKING

from pydantic_core import InitErrorDetails, PydanticCustomError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quotaflow.config.schema import RouterSettings

__all__ = ["group_reference_problems"]

Chains = tuple[dict[str, tuple[str, ...]], ...]
_CHAIN_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def group_reference_problems(router: RouterSettings, groups: set[str]) -> list[InitErrorDetails]:
    """Every reference to a group that does not exist, and every fallback cycle."""
    names = groups | set(router.model_group_alias)
    problems: list[InitErrorDetails] = []
    for alias, target in router.model_group_alias.items():
        if target not in groups:
            problems.append(_unknown(("model_group_alias", alias), target, groups))
    for key in _CHAIN_KEYS:
        chains: Chains = getattr(router, key)
        problems.extend(
            _unknown(loc, name, groups)
            for loc, name in _chain_refs(key, chains)
            if name not in names
        )
        cycle = _cycle(chains)
        if cycle:
            message = "fallbacks form a cycle: " + " -> ".join(cycle)
            problems.append(_problem(("router_settings", key), "fallback_cycle", message))
    for position, target in enumerate(router.default_fallbacks):
        if target not in names:
            problems.append(_unknown(("default_fallbacks", position), target, groups))
    problems.extend(
        _unknown(("model_group_routing_strategy", group), group, groups)
        for group in router.model_group_routing_strategy
        if group not in groups
    )
    return problems


def _chain_refs(key: str, chains: Chains) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for index, entry in enumerate(chains):
        for source, targets in entry.items():
            yield (key, index, source), source
            for position, target in enumerate(targets):
                yield (key, index, source, position), target


def _cycle(chains: Chains) -> list[str]:
    """A cycle among the fallbacks, as the groups on it; empty when there is none."""
    graph: dict[str, set[str]] = {}
    for entry in chains:
        for source, targets in entry.items():
            graph.setdefault(source, set()).update(targets)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return [str(node) for node in error.args[1]]
    return []


def _unknown(loc: tuple[str | int, ...], name: str, groups: set[str]) -> InitErrorDetails:
    closest = difflib.get_close_matches(name, sorted(groups), n=1)
    hint = f"did you mean {closest[0]!r}?" if closest else f"groups: {', '.join(sorted(groups))}"
    message = f"no model group is called {name!r}; {hint}"
    return _problem(("router_settings", *loc), "unknown_model_group", message)


def _problem(loc: tuple[str | int, ...], kind: str, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message, None), loc=loc, input=None)

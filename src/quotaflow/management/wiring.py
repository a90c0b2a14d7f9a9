"""``build_key_services``: virtual keys, limits, spend records and the management API, built
from a store and installed into an app's ``Services`` — what ``create_app`` calls.

Start-up order matters: ``start`` loads every key, team and user, then seeds each budget's
counter from the store's spend in its current period. Start the ``SpendWriter`` first (it drains
the spool a crash left), so the spend it holds is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quotaflow.auth import Authenticator, KeyCache, MemoryInvalidations
from quotaflow.auth.key_sync import KeySync
from quotaflow.limits import Enforcer, MemoryLimitCounters, ReservationPrices
from quotaflow.limits.enforcer import level_of
from quotaflow.management.gate import Gate
from quotaflow.management.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.auth import Invalidations
    from quotaflow.catalog import ModelSpec
    from quotaflow.clock import Clock
    from quotaflow.config import Settings
    from quotaflow.limits import LimitCounters
    from quotaflow.routing.router import Router
    from quotaflow.server.services import Services
    from quotaflow.store.base import Store
    from quotaflow.store.spend_writer import SpendWriter

__all__ = ["KeyServices", "build_key_services"]


@dataclass(slots=True)
class KeyServices:
    """Everything virtual keys need, with its start and stop."""

    authenticator: Authenticator
    cache: KeyCache
    sync: KeySync
    enforcer: Enforcer
    gate: Gate
    registry: Registry

    def install(self, services: Services) -> None:
        """Put the authenticator, gate, registry and finish hook into an app's services."""
        services.authenticator = self.authenticator
        services.gate = self.gate
        services.registry = self.registry
        services.finish_hooks.append(self.gate.finish)

    async def start(self) -> None:
        """Load the cache, follow the change log, seed the budget counters."""
        await self.sync.start()
        cache = self.cache
        levels = [level_of(r) for rs in (cache.keys(), cache.teams(), cache.users()) for r in rs]
        store = self.registry.store
        await self.enforcer.seed(levels, store.spend.total)

    async def stop(self) -> None:
        """Stop following the change log; let the settlements in flight finish."""
        await self.sync.stop()
        await self.gate.drain()


def build_key_services(
    settings: Settings,
    *,
    store: Store,
    router: Router,
    prices: Mapping[str, ModelSpec],
    clock: Clock,
    spend: SpendWriter | None,
    counters: LimitCounters | None = None,
    invalidations: Invalidations | None = None,
) -> KeyServices:
    """Build the pieces; ``counters`` and ``invalidations`` default to this process only."""
    general, routing = settings.general_settings, settings.router_settings
    master_key = general.master_key.get_secret_value() if general.master_key else None
    cache = KeyCache()
    sync = KeySync(cache, store, invalidations or MemoryInvalidations())
    reservations = ReservationPrices.from_specs(
        {name: [d.id for d in group.deployments] for name, group in router.groups.items()},
        prices,
    )
    enforcer = Enforcer(
        counters or MemoryLimitCounters(clock),
        reservations,
        clock,
        budget_exceeded_status=general.budget_exceeded_status,
        lease_ttl_s=routing.timeout * (routing.num_retries + 1) + routing.queue_timeout,
    )
    gate = Gate(
        router,
        clock,
        enforcer=enforcer,
        spend=spend,
        default_max_tokens=routing.default_max_tokens,
    )
    names = [*router.model_names, *routing.model_group_alias]
    return KeyServices(
        authenticator=Authenticator(master_key, cache, clock),
        cache=cache,
        sync=sync,
        enforcer=enforcer,
        gate=gate,
        registry=Registry(store, cache, sync, enforcer, clock, names),
    )

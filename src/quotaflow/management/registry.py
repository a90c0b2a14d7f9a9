"""``Registry``: what every management route shares — the store, this replica's key cache, the
change log, the limit enforcer — and the views that turn records into answers.

Every write goes to the store first, then to the cache, then to the change log (so the other
replicas reload the row within a second). A budget that changes is seeded from the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.auth import Change, is_key_hash
from quotaflow.auth.key_cache import pages
from quotaflow.auth.keys import hash_key
from quotaflow.errors import GatewayError, InvalidRequest
from quotaflow.limits.enforcer import Level, level_of
from quotaflow.limits.periods import utc
from quotaflow.management.errors import store_errors
from quotaflow.management.key_models import KeyInfo
from quotaflow.management.team_models import Member, TeamInfo
from quotaflow.management.user_models import UserInfo
from quotaflow.store.records import EPOCH

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from datetime import datetime
    from decimal import Decimal

    from quotaflow.auth import KeyCache
    from quotaflow.auth.key_sync import KeySync
    from quotaflow.clock import Clock
    from quotaflow.limits import Enforcer
    from quotaflow.limits.budgets import LevelKind
    from quotaflow.server.services import Services
    from quotaflow.store.base import Store
    from quotaflow.store.records import Team, User, VirtualKey

__all__ = ["ManagementUnavailable", "Registry", "SpendView", "registry_of"]

_ALL_MODELS = "all-proxy-models"  # LiteLLM's spelling of "every model"


class Registry:
    """Shared state and helpers of the management routes."""

    def __init__(
        self,
        store: Store,
        cache: KeyCache,
        sync: KeySync,
        enforcer: Enforcer,
        clock: Clock,
        model_names: Collection[str],
    ) -> None:
        self.store = store
        self.cache = cache
        self.sync = sync
        self.enforcer = enforcer
        self.clock = clock
        self._model_names = frozenset(model_names)

    def now(self) -> datetime:
        """The wall time as an aware UTC datetime."""
        return utc(self.clock.wall())

    def models(self, models: list[str] | None, within: Iterable[str] = ()) -> tuple[str, ...]:
        """Validated model names: each must be served (and inside ``within`` when given)."""
        if not models or models == [_ALL_MODELS]:
            return ()
        allowed = frozenset(within)
        for index, name in enumerate(models):
            if name not in self._model_names:
                raise InvalidRequest(
                    f"Invalid 'models[{index}]': no model named '{name}' is served here.",
                    param="models",
                    code="invalid_value",
                )
            if allowed and name not in allowed:
                raise InvalidRequest(
                    f"Invalid 'models[{index}]': '{name}' is not among its team's models.",
                    param="models",
                    code="invalid_value",
                )
        return tuple(dict.fromkeys(models))

    def key_hash(self, key: str) -> str:
        """The hash of a key given as the key itself or as its hash."""
        return key if is_key_hash(key) else hash_key(key)

    async def key(self, key: str) -> VirtualKey:
        """A key by key or hash, from the store; 404 if unknown."""
        with store_errors("key"):
            return await self.store.keys.get_by_hash(self.key_hash(key))

    async def team(self, team_id: str) -> Team:
        """A team from the store; 404 if unknown."""
        with store_errors(f"team '{team_id}'"):
            return await self.store.teams.get(team_id)

    async def user(self, user_id: str) -> User:
        """A user from the store; 404 if unknown."""
        with store_errors(f"user '{user_id}'"):
            return await self.store.users.get(user_id)

    async def all_keys(self, **filters: str | None) -> list[VirtualKey]:
        """Every key (optionally of one ``team_id`` and/or ``user_id``), oldest first."""
        with store_errors("keys"):
            return [key async for key in pages(self.store.keys.list, **filters)]

    async def all_teams(self, **filters: str | None) -> list[Team]:
        """Every team (optionally only those ``user_id`` belongs to), oldest first."""
        with store_errors("teams"):
            return [team async for team in pages(self.store.teams.list, **filters)]

    async def all_users(self, **filters: str | None) -> list[User]:
        """Every user (optionally only the members of ``team_id``), oldest first."""
        with store_errors("users"):
            return [user async for user in pages(self.store.users.list, **filters)]

    async def delete_key(self, token_hash: str) -> None:
        """Delete the key from the store and the cache, and tell the other replicas."""
        with store_errors("key"):
            await self.store.keys.delete(token_hash)
        self.cache.drop_key(token_hash)
        await self.changed(Change("key", token_hash), budget=False)

    async def changed(self, change: Change, *, budget: bool) -> None:
        """Tell the other replicas; seed the budget's counter when it may have changed."""
        await self.sync.publish(change)
        if budget:
            level = self._level(change)
            if level is not None:
                await self.enforcer.seed([level], self._total)

    async def spend(self, record: VirtualKey | Team | User) -> SpendView:
        """The spend of a level in its current budget period (all time without a budget)."""
        level = level_of(record)
        spent, budget = await self.enforcer.spend(level)
        if budget is None:
            spent = await self._total(level.kind, level.ident, EPOCH)
            return SpendView(spent, None)
        return SpendView(spent, budget.period.end)

    async def key_info(self, key: VirtualKey) -> KeyInfo:
        """A key as answered."""
        spend = await self.spend(key)
        return KeyInfo(
            token=key.token_hash,
            key_name=key.key_name,
            key_alias=key.key_alias,
            team_id=key.team_id,
            user_id=key.user_id,
            expires=key.expires_at,
            blocked=key.blocked,
            **_limits(key, spend),
        )

    async def team_info(self, team: Team) -> TeamInfo:
        """A team as answered."""
        spend = await self.spend(team)
        return TeamInfo(
            team_id=team.team_id,
            team_alias=team.team_alias,
            members_with_roles=[Member(user_id=m.user_id, role=m.role) for m in team.members],
            blocked=team.blocked,
            **_limits(team, spend),
        )

    async def user_info(self, user: User) -> UserInfo:
        """A user as answered."""
        spend = await self.spend(user)
        return UserInfo(
            user_id=user.user_id,
            user_alias=user.user_alias,
            user_email=user.user_email,
            user_role=user.user_role,
            **_limits(user, spend),
        )

    def _level(self, change: Change) -> Level | None:
        cache = self.cache
        record: VirtualKey | Team | User | None
        if change.kind == "key":
            record = cache.key(change.ident)
        elif change.kind == "team":
            record = cache.team(change.ident)
        else:
            record = cache.user(change.ident)
        return level_of(record) if record is not None else None

    async def _total(self, kind: LevelKind, ident: str, since: datetime) -> Decimal:
        with store_errors(f"{kind} spend"):
            return await self.store.spend.total(kind, ident, since)


class ManagementUnavailable(GatewayError):
    """The gateway runs without a store, so there is nothing to manage."""

    status_code = 503
    error_type = "service_unavailable_error"
    default_code = "management_unavailable"


def registry_of(services: Services) -> Registry:
    """The app's ``Registry``; 503 when the gateway runs without a database."""
    registry = services.registry
    if registry is None:
        raise ManagementUnavailable(
            "Virtual keys, teams and users need a store: serve a config file (SQLite beside it), "
            "or set general_settings.data_dir or database_url."
        )
    return registry


class SpendView:
    """A level's spend and when its budget period ends."""

    __slots__ = ("reset_at", "spent")

    def __init__(self, spent: Decimal, reset_at: datetime | None) -> None:
        self.spent = spent
        self.reset_at = reset_at


def _limits(record: VirtualKey | Team | User, spend: SpendView) -> dict[str, object]:
    return {
        "models": list(record.models),
        "max_budget": float(record.max_budget) if record.max_budget is not None else None,
        "budget_duration": record.budget_duration,
        "budget_reset_at": spend.reset_at,
        "tpm_limit": record.tpm_limit,
        "rpm_limit": record.rpm_limit,
        "max_parallel_requests": record.max_parallel_requests,
        "metadata": dict(record.metadata),
        "spend": float(spend.spent),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }

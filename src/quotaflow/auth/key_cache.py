"""``KeyCache``: every key, team and user in memory, and a ``Principal`` ready per key.

The request path only reads it (``lookup``); management writes and the background sync
(``KeySync``) replace rows. A change to a team or user rebuilds the principals of its keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from quotaflow.auth.principal import Principal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from quotaflow.store.base import Store
    from quotaflow.store.records import Page, Team, User, VirtualKey

__all__ = ["KeyCache", "build_principal", "pages"]

_T = TypeVar("_T")
_PAGE = 1000
_ADMIN_ROLE = "proxy_admin"
_VIEWER_ROLE = "proxy_admin_viewer"


class KeyCache:
    """Keys by hash, teams and users by id, and one principal per key."""

    def __init__(self) -> None:
        self._keys: dict[str, VirtualKey] = {}
        self._teams: dict[str, Team] = {}
        self._users: dict[str, User] = {}
        self._principals: dict[str, Principal] = {}

    def lookup(self, token_hash: str) -> Principal | None:
        """The principal of a key hash; ``None`` when unknown."""
        return self._principals.get(token_hash)

    def key(self, token_hash: str) -> VirtualKey | None:
        """A key by hash."""
        return self._keys.get(token_hash)

    def team(self, team_id: str) -> Team | None:
        """A team by id."""
        return self._teams.get(team_id)

    def user(self, user_id: str) -> User | None:
        """A user by id."""
        return self._users.get(user_id)

    def keys(self) -> Iterable[VirtualKey]:
        """Every key."""
        return self._keys.values()

    def teams(self) -> Iterable[Team]:
        """Every team."""
        return self._teams.values()

    def users(self) -> Iterable[User]:
        """Every user."""
        return self._users.values()

    def replace_all(
        self, keys: Iterable[VirtualKey], teams: Iterable[Team], users: Iterable[User]
    ) -> None:
        """Forget everything and hold these rows."""
        self._teams = {team.team_id: team for team in teams}
        self._users = {user.user_id: user for user in users}
        self._keys = {key.token_hash: key for key in keys}
        self._principals = {h: self._principal(key) for h, key in self._keys.items()}

    def put_key(self, key: VirtualKey) -> None:
        """Add or replace a key."""
        self._keys[key.token_hash] = key
        self._principals[key.token_hash] = self._principal(key)

    def drop_key(self, token_hash: str) -> None:
        """Forget a key."""
        self._keys.pop(token_hash, None)
        self._principals.pop(token_hash, None)

    def put_team(self, team: Team) -> None:
        """Add or replace a team."""
        self._teams[team.team_id] = team
        self._rebuild(lambda key: key.team_id == team.team_id)

    def drop_team(self, team_id: str) -> None:
        """Forget a team."""
        if self._teams.pop(team_id, None) is not None:
            self._rebuild(lambda key: key.team_id == team_id)

    def put_user(self, user: User) -> None:
        """Add or replace a user."""
        self._users[user.user_id] = user
        self._rebuild(lambda key: key.user_id == user.user_id)

    def drop_user(self, user_id: str) -> None:
        """Forget a user."""
        if self._users.pop(user_id, None) is not None:
            self._rebuild(lambda key: key.user_id == user_id)

    async def load(self, store: Store) -> None:
        """Read every key, team and user from the store."""
        teams = [team async for team in pages(store.teams.list)]
        users = [user async for user in pages(store.users.list)]
        keys = [key async for key in pages(store.keys.list)]
        self.replace_all(keys, teams, users)

    def _rebuild(self, affected: Callable[[VirtualKey], bool]) -> None:
        for token_hash, key in self._keys.items():
            if affected(key):
                self._principals[token_hash] = self._principal(key)

    def _principal(self, key: VirtualKey) -> Principal:
        team = self._teams.get(key.team_id) if key.team_id is not None else None
        user = self._users.get(key.user_id) if key.user_id is not None else None
        return build_principal(key, team, user)


def build_principal(key: VirtualKey, team: Team | None, user: User | None) -> Principal:
    """The principal of a key, given its team and user (either may be missing)."""
    role = user.user_role if user is not None else None
    is_admin = key.is_admin or role == _ADMIN_ROLE
    models: frozenset[str] | None = None
    for allowed in (key.models, team.models if team else (), user.models if user else ()):
        if allowed:
            models = frozenset(allowed) if models is None else models & frozenset(allowed)
    blocked = None
    if key.blocked:
        blocked = "This key is blocked."
    elif team is not None and team.blocked:
        blocked = "This key's team is blocked."
    return Principal(
        is_admin=is_admin,
        key_alias=key.key_alias,
        key=key,
        team=team,
        user=user,
        models=models,
        can_view=is_admin or role == _VIEWER_ROLE,
        blocked=blocked,
        expires_s=key.expires_at.timestamp() if key.expires_at is not None else None,
    )


async def pages(
    listing: Callable[..., Awaitable[Page[_T]]], **filters: str | None
) -> AsyncIterator[_T]:
    """Every item of a paginated store listing."""
    cursor: str | None = None
    while True:
        page = await listing(cursor=cursor, limit=_PAGE, **filters)
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor

"""``Principal``: who is calling, as one immutable value built ahead of the request.

The key cache builds one principal per virtual key from the key, its team and its user, so
authenticating a request is a dictionary lookup. ``models`` is what the key may use: the
intersection of the non-empty model lists of key, team and user (``None``: every model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quotaflow.store.records import Team, User, VirtualKey

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, with the records its limits come from."""

    is_admin: bool
    key_alias: str | None = None
    key: VirtualKey | None = None
    team: Team | None = None
    user: User | None = None
    models: frozenset[str] | None = None
    can_view: bool = False
    """May read (GET) the management routes: admins and ``proxy_admin_viewer`` users."""
    blocked: str | None = None
    """Why the key may not be used (``None``: it may), safe to show."""
    expires_s: float | None = None
    """When the key expires, epoch seconds."""

    @property
    def key_hash(self) -> str | None:
        """The key's stored hash; ``None`` for the master key or an open gateway."""
        return self.key.token_hash if self.key is not None else None

    @property
    def team_id(self) -> str | None:
        """The key's team."""
        return self.key.team_id if self.key is not None else None

    @property
    def user_id(self) -> str | None:
        """The key's user."""
        return self.key.user_id if self.key is not None else None

    def may_use(self, model: str) -> bool:
        """Whether the key may call the model group ``model``."""
        return self.models is None or model in self.models

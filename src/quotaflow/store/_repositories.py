"""``SqlRepositories``: the four repositories every SQL store offers over its ``Database``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quotaflow.store._keys import SqlKeyRepository
from quotaflow.store._spend import SqlSpendRepository
from quotaflow.store._teams import SqlTeamRepository
from quotaflow.store._users import SqlUserRepository

if TYPE_CHECKING:
    from quotaflow.clock import Clock
    from quotaflow.store._sql import Database
    from quotaflow.store.base import KeyRepository, SpendRepository, TeamRepository, UserRepository

__all__ = ["SqlRepositories"]


class SqlRepositories:
    """Keys, teams, users and spend over one database; the SQL stores extend it."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._keys = SqlKeyRepository(database, clock)
        self._teams = SqlTeamRepository(database, clock)
        self._users = SqlUserRepository(database, clock)
        self._spend = SqlSpendRepository(database)

    @property
    def keys(self) -> KeyRepository:
        """Virtual keys."""
        return self._keys

    @property
    def teams(self) -> TeamRepository:
        """Teams and memberships."""
        return self._teams

    @property
    def users(self) -> UserRepository:
        """Users."""
        return self._users

    @property
    def spend(self) -> SpendRepository:
        """Spend records and reports."""
        return self._spend

"""The ``Store`` contract for keys, teams and users, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from quotaflow.store import (
    UNSET,
    Conflict,
    InvalidQuery,
    KeyChanges,
    NotFound,
    Page,
    SpendRecord,
    Team,
    TeamChanges,
    TeamMember,
    User,
    UserChanges,
    VirtualKey,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quotaflow.clock import ManualClock
    from quotaflow.store import Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def full_key(token_hash: str = "a" * 64, **changes: object) -> VirtualKey:
    key = VirtualKey(
        token_hash=token_hash,
        key_name="sk-...abcd",
        key_alias="ci",
        models=("gpt-4o", "claude"),
        max_budget=Decimal("12.3456789012"),
        budget_duration="30d",
        budget_reset_at=T0 + timedelta(days=30, microseconds=7),
        tpm_limit=100_000,
        rpm_limit=60,
        max_parallel_requests=4,
        team_id="team-1",
        user_id="user-1",
        expires_at=T0 + timedelta(days=365),
        blocked=False,
        is_admin=True,
        metadata={"owner": "ci", "tags": ["a", 1, None, True], "nested": {"x": 1.5}},
    )
    return replace(key, **changes)  # type: ignore[arg-type]


async def drain(
    pages: Callable[..., Awaitable[Page[Any]]], **kwargs: object
) -> tuple[list[Any], int]:
    """Every item of a paginated listing, following cursors; and the page count."""
    items: list[Any] = []
    cursor: str | None = None
    count = 0
    while True:
        page = await pages(cursor=cursor, **kwargs)
        items.extend(page.items)
        count += 1
        if page.next_cursor is None:
            return items, count
        cursor = page.next_cursor


class TestKeys:
    async def test_create_round_trips_every_field(self, store: Store, clock: ManualClock):
        created = await store.keys.create(full_key())
        assert created.created_at == created.updated_at == datetime.fromtimestamp(clock.wall(), UTC)
        assert await store.keys.get_by_hash("a" * 64) == created
        assert await store.keys.get_by_alias("ci") == created
        assert created == replace(
            full_key(), created_at=created.created_at, updated_at=created.updated_at
        )

    async def test_defaults_round_trip(self, store: Store):
        created = await store.keys.create(VirtualKey("b" * 64))
        got = await store.keys.get_by_hash("b" * 64)
        assert got == created
        assert (got.models, got.metadata, got.max_budget, got.blocked) == ((), {}, None, False)

    async def test_taken_hash_or_alias_conflicts(self, store: Store):
        await store.keys.create(full_key())
        with pytest.raises(Conflict):
            await store.keys.create(full_key(key_alias="other"))
        with pytest.raises(Conflict):
            await store.keys.create(full_key("c" * 64))
        await store.keys.create(full_key("d" * 64, key_alias=None))
        await store.keys.create(full_key("e" * 64, key_alias=None))  # many keys without alias

    async def test_missing_key_is_not_found(self, store: Store):
        with pytest.raises(NotFound):
            await store.keys.get_by_hash("f" * 64)
        with pytest.raises(NotFound):
            await store.keys.get_by_alias("nope")
        with pytest.raises(NotFound):
            await store.keys.update("f" * 64, KeyChanges(blocked=True))
        with pytest.raises(NotFound):
            await store.keys.delete("f" * 64)
        with pytest.raises(NotFound):
            await store.keys.set_blocked("f" * 64, blocked=True)
        with pytest.raises(NotFound):
            await store.keys.regenerate("f" * 64, "0" * 64, key_name=None)

    async def test_update_changes_only_the_fields_given(self, store: Store, clock: ManualClock):
        created = await store.keys.create(full_key())
        clock.advance(5)
        updated = await store.keys.update(
            created.token_hash,
            KeyChanges(max_budget=None, models=(), metadata={"k": "v"}, tpm_limit=7),
        )
        assert updated == replace(
            created,
            max_budget=None,
            models=(),
            metadata={"k": "v"},
            tpm_limit=7,
            updated_at=created.updated_at + timedelta(seconds=5),
        )
        assert await store.keys.get_by_hash(created.token_hash) == updated
        unchanged = await store.keys.update(created.token_hash, KeyChanges())
        assert replace(unchanged, updated_at=updated.updated_at) == updated

    async def test_update_to_a_taken_alias_conflicts(self, store: Store):
        await store.keys.create(full_key())
        other = await store.keys.create(full_key("b" * 64, key_alias="other"))
        with pytest.raises(Conflict):
            await store.keys.update(other.token_hash, KeyChanges(key_alias="ci"))
        assert (await store.keys.get_by_hash(other.token_hash)).key_alias == "other"

    async def test_set_blocked_and_delete(self, store: Store):
        key = await store.keys.create(full_key())
        assert (await store.keys.set_blocked(key.token_hash, blocked=True)).blocked
        assert (await store.keys.get_by_hash(key.token_hash)).blocked
        assert not (await store.keys.set_blocked(key.token_hash, blocked=False)).blocked
        await store.keys.delete(key.token_hash)
        with pytest.raises(NotFound):
            await store.keys.get_by_hash(key.token_hash)

    async def test_regenerate_replaces_the_hash_and_keeps_spend(self, store: Store):
        old = await store.keys.create(full_key())
        record = SpendRecord("r1", T0, T0, Decimal("0.25"), key_hash=old.token_hash)
        await store.spend.write_batch([record])
        new = await store.keys.regenerate(old.token_hash, "9" * 64, key_name="sk-...wxyz")
        assert new == replace(
            old, token_hash="9" * 64, key_name="sk-...wxyz", updated_at=new.updated_at
        )
        with pytest.raises(NotFound):
            await store.keys.get_by_hash(old.token_hash)
        assert await store.keys.get_by_alias("ci") == new
        assert await store.spend.total("key", "9" * 64, T0) == Decimal("0.25")
        assert await store.spend.total("key", old.token_hash, T0) == 0
        [row] = await store.spend.report("key", T0.date(), T0.date())
        assert row.group == "9" * 64

    async def test_regenerate_to_a_taken_hash_conflicts(self, store: Store):
        await store.keys.create(full_key())
        await store.keys.create(full_key("b" * 64, key_alias=None))
        with pytest.raises(Conflict):
            await store.keys.regenerate("a" * 64, "b" * 64, key_name=None)
        assert (await store.keys.get_by_hash("a" * 64)).key_alias == "ci"

    async def test_list_pages_oldest_first_and_filters(self, store: Store, clock: ManualClock):
        made = []
        for i in range(7):
            team = "t-even" if i % 2 == 0 else "t-odd"
            key = VirtualKey(f"{i:064d}", team_id=team, user_id="u1" if i < 3 else "u2")
            made.append(await store.keys.create(key))
            if i != 3:  # keys 3 and 4 share a creation time: the hash breaks the tie
                clock.advance(1)
        items, pages = await drain(store.keys.list, limit=3)
        assert items == made
        assert pages == 3
        evens, _ = await drain(store.keys.list, team_id="t-even", limit=2)
        assert evens == made[0::2]
        both, _ = await drain(store.keys.list, team_id="t-even", user_id="u2", limit=1)
        assert both == [made[4], made[6]]
        exact = await store.keys.list(limit=7)
        assert (len(exact.items), exact.next_cursor) == (7, None)
        assert (await store.keys.list(team_id="nobody")).items == ()

    async def test_bad_cursor_or_limit_is_an_invalid_query(self, store: Store):
        with pytest.raises(InvalidQuery):
            await store.keys.list(cursor="not a cursor")
        with pytest.raises(InvalidQuery):
            await store.keys.list(limit=0)
        with pytest.raises(InvalidQuery):
            await store.teams.list(limit=1001)

    async def test_naive_datetimes_are_refused(self, store: Store):
        with pytest.raises(ValueError, match="naive"):
            await store.keys.create(
                VirtualKey("a" * 64, expires_at=datetime(2030, 1, 1))  # noqa: DTZ001
            )

    async def test_money_must_be_an_exact_finite_decimal(self, store: Store):
        with pytest.raises(TypeError, match="Decimal"):
            await store.keys.create(VirtualKey("a" * 64, max_budget=0.1))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="finite"):
            await store.keys.create(VirtualKey("a" * 64, max_budget=Decimal("NaN")))
        key = await store.keys.create(VirtualKey("a" * 64, max_budget=5))  # type: ignore[arg-type]
        assert (await store.keys.get_by_hash(key.token_hash)).max_budget == Decimal(5)


class TestTeams:
    async def test_create_get_round_trip_with_members(self, store: Store):
        team = Team(
            "team-1",
            team_alias="Platform",
            models=("gpt-4o",),
            max_budget=Decimal("100.00"),
            budget_duration="1mo",
            budget_reset_at=T0,
            tpm_limit=1,
            rpm_limit=2,
            max_parallel_requests=3,
            members=(TeamMember("zed", "admin"), TeamMember("amy")),
            metadata={"cost_center": 42},
            blocked=True,
        )
        created = await store.teams.create(team)
        assert await store.teams.get("team-1") == created
        assert created.members == (TeamMember("zed", "admin"), TeamMember("amy", "user"))
        with pytest.raises(Conflict):
            await store.teams.create(Team("team-1"))
        with pytest.raises(Conflict):
            await store.teams.create(Team("team-2", members=(TeamMember("a"), TeamMember("a"))))

    async def test_missing_team_is_not_found(self, store: Store):
        with pytest.raises(NotFound):
            await store.teams.get("nope")
        with pytest.raises(NotFound):
            await store.teams.update("nope", TeamChanges(blocked=True))
        with pytest.raises(NotFound):
            await store.teams.delete("nope")
        with pytest.raises(NotFound):
            await store.teams.add_member("nope", TeamMember("u"))
        with pytest.raises(NotFound):
            await store.teams.remove_member("nope", "u")

    async def test_members_are_added_in_order_and_removed(self, store: Store):
        await store.teams.create(Team("t", members=(TeamMember("b"),)))
        await store.teams.add_member("t", TeamMember("a", "admin"))
        team = await store.teams.add_member("t", TeamMember("c"))
        assert [m.user_id for m in team.members] == ["b", "a", "c"]
        assert team == await store.teams.get("t")
        with pytest.raises(Conflict):
            await store.teams.add_member("t", TeamMember("a"))
        team = await store.teams.remove_member("t", "a")
        assert [m.user_id for m in team.members] == ["b", "c"]
        with pytest.raises(NotFound):
            await store.teams.remove_member("t", "a")

    async def test_update_is_partial_and_keeps_members(self, store: Store, clock: ManualClock):
        created = await store.teams.create(
            Team("t", team_alias="x", max_budget=Decimal(5), members=(TeamMember("u"),))
        )
        clock.advance(2)
        updated = await store.teams.update(
            "t", TeamChanges(team_alias=None, max_budget=Decimal("7.5"), models=UNSET)
        )
        assert updated == replace(
            created, team_alias=None, max_budget=Decimal("7.5"), updated_at=updated.updated_at
        )
        assert updated.updated_at == created.updated_at + timedelta(seconds=2)

    async def test_list_filters_by_member_and_pages(self, store: Store, clock: ManualClock):
        for i in range(5):
            members = (TeamMember("u1"),) if i in (1, 3, 4) else ()
            await store.teams.create(Team(f"t{i}", members=members))
            clock.advance(1)
        teams, pages = await drain(store.teams.list, limit=2)
        assert [t.team_id for t in teams] == ["t0", "t1", "t2", "t3", "t4"]
        assert pages == 3
        mine, _ = await drain(store.teams.list, user_id="u1", limit=2)
        assert [t.team_id for t in mine] == ["t1", "t3", "t4"]
        assert all(t.members == (TeamMember("u1"),) for t in mine)

    async def test_delete_removes_memberships(self, store: Store):
        await store.teams.create(Team("t", members=(TeamMember("u1"),)))
        await store.users.create(User("u1"))
        await store.teams.delete("t")
        with pytest.raises(NotFound):
            await store.teams.get("t")
        assert (await store.users.list(team_id="t")).items == ()
        await store.teams.create(Team("t"))
        assert (await store.teams.get("t")).members == ()


class TestUsers:
    async def test_crud(self, store: Store, clock: ManualClock):
        user = User(
            "u1",
            user_alias="Ann",
            user_email="ann@example.com",
            user_role="proxy_admin",
            models=("m",),
            max_budget=Decimal("0.000001"),
            budget_duration="1d",
            budget_reset_at=T0,
            tpm_limit=1,
            rpm_limit=2,
            max_parallel_requests=3,
            metadata={"a": {"b": [1, 2]}},
        )
        created = await store.users.create(user)
        assert await store.users.get("u1") == created
        with pytest.raises(Conflict):
            await store.users.create(User("u1"))
        clock.advance(1)
        updated = await store.users.update("u1", UserChanges(user_email=None, rpm_limit=9))
        assert updated == replace(
            created, user_email=None, rpm_limit=9, updated_at=updated.updated_at
        )
        await store.users.delete("u1")
        for call in (
            store.users.get("u1"),
            store.users.update("u1", UserChanges()),
            store.users.delete("u1"),
        ):
            with pytest.raises(NotFound):
                await call

    async def test_list_by_team_and_delete_leaves_the_team(self, store: Store, clock: ManualClock):
        for user_id in ("u1", "u2", "u3"):
            await store.users.create(User(user_id))
            clock.advance(1)
        await store.teams.create(Team("t", members=(TeamMember("u3"), TeamMember("u1"))))
        users, pages = await drain(store.users.list, limit=1)
        assert ([u.user_id for u in users], pages) == (["u1", "u2", "u3"], 3)
        members, _ = await drain(store.users.list, team_id="t")
        assert [u.user_id for u in members] == ["u1", "u3"]
        await store.users.delete("u3")
        assert (await store.teams.get("t")).members == (TeamMember("u1"),)


async def test_ping(store: Store):
    await store.ping()

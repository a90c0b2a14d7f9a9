"""Keys, the key cache and authentication with virtual keys."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from quotaflow.auth import (
    Authenticator,
    Change,
    KeyCache,
    MasterKey,
    MemoryInvalidations,
    Principal,
    display_key,
    hash_key,
    is_key_hash,
    mint_key,
)
from quotaflow.clock import ManualClock
from quotaflow.errors import AuthenticationFailed
from quotaflow.store.records import Team, User, VirtualKey


def test_minted_keys_are_random_and_stored_as_hashes():
    keys = {mint_key() for _ in range(100)}
    assert len(keys) == 100
    key = keys.pop()
    assert key.startswith("sk-")
    assert len(key) == 3 + 43
    assert is_key_hash(hash_key(key))
    assert not is_key_hash(key)
    assert display_key(key) == f"sk-...{key[-4:]}"


def test_master_key_never_shows():
    master = MasterKey("sk-secret")
    assert master.matches("sk-secret")
    assert not master.matches("sk-secret ")
    assert "secret" not in repr(master)


KEY = "sk-" + "k" * 43
TEAM = Team(team_id="dev", models=("a", "b"))
RECORD = VirtualKey(token_hash=hash_key(KEY), key_alias="ci", team_id="dev", user_id="ana")


def _cache(*keys: VirtualKey, teams=(TEAM,), users=()) -> KeyCache:
    cache = KeyCache()
    cache.replace_all(keys or (RECORD,), teams, users)
    return cache


def test_principal_models_are_the_intersection_of_key_team_and_user():
    cache = _cache(replace(RECORD, models=("b", "c")), users=[User(user_id="ana")])
    principal = cache.lookup(RECORD.token_hash)
    assert principal is not None
    assert principal.models == frozenset({"b"})
    assert principal.team_id == "dev"
    assert not principal.is_admin
    cache.put_team(replace(TEAM, models=()))
    assert _principal(cache).models == frozenset({"b", "c"})
    cache.put_user(User(user_id="ana", user_role="proxy_admin"))
    assert _principal(cache).is_admin
    cache.drop_team("dev")
    assert _principal(cache).team is None
    cache.drop_key(RECORD.token_hash)
    assert cache.lookup(RECORD.token_hash) is None


def _principal(cache: KeyCache) -> Principal:
    principal = cache.lookup(RECORD.token_hash)
    assert principal is not None
    return principal


def test_authenticate_virtual_keys():
    clock = ManualClock(wall_start=1_000_000.0)
    expires = datetime.fromtimestamp(1_000_100.0, UTC)
    cache = _cache(replace(RECORD, expires_at=expires))
    auth = Authenticator("sk-master", cache, clock)
    assert auth.authenticate(f"Bearer {KEY}", None).key_alias == "ci"
    assert auth.authenticate(None, KEY).key_hash == RECORD.token_hash
    assert auth.authenticate("Bearer sk-master", None).is_admin
    clock.advance(100)
    with pytest.raises(AuthenticationFailed, match="expired") as info:
        auth.authenticate(f"Bearer {KEY}", None)
    assert KEY not in info.value.message
    cache.put_key(replace(RECORD, blocked=True))
    with pytest.raises(AuthenticationFailed, match="blocked"):
        auth.authenticate(f"Bearer {KEY}", None)
    cache.put_key(RECORD)
    cache.put_team(replace(TEAM, blocked=True))
    with pytest.raises(AuthenticationFailed, match="team is blocked"):
        auth.authenticate(f"Bearer {KEY}", None)
    with pytest.raises(AuthenticationFailed, match="Incorrect"):
        auth.authenticate("Bearer sk-unknown", None)


def test_open_gateway_still_knows_its_virtual_keys():
    auth = Authenticator(None, _cache(replace(RECORD, rpm_limit=1)))
    assert auth.authenticate(None, None).is_admin
    assert auth.authenticate("Bearer sk-anything", None).is_admin
    known = auth.authenticate(f"Bearer {KEY}", None)
    assert not known.is_admin
    assert known.key is not None


async def test_memory_invalidations_log():
    log = MemoryInvalidations(capacity=2)
    cursor, changes = await log.since(None)
    assert (cursor, changes) == (0, ())
    await log.publish(Change("key", "h1"))
    cursor, changes = await log.since(cursor)
    assert (cursor, changes) == (1, (Change("key", "h1"),))
    for ident in ("t1", "t2", "t3"):
        await log.publish(Change("team", ident))
    assert await log.since(1) == (4, None)  # the log no longer reaches back
    assert await log.since(2) == (4, (Change("team", "t2"), Change("team", "t3")))

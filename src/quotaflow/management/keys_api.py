"""``/key/*``: generate, update, delete, regenerate, block, unblock, info, list.

Admin routes, except ``/key/info`` for the caller's own key. A key is shown only in the answer
that made it (``/key/generate``, ``/key/regenerate``); afterwards it is known by ``token``, its
hash.
"""

from __future__ import annotations

import hmac
import math
from typing import TYPE_CHECKING

from quotaflow.auth import Change, display_key, hash_key, mint_key
from quotaflow.errors import InvalidRequest, PermissionDenied
from quotaflow.limits.enforcer import level_of
from quotaflow.management.changes import (
    BUDGET_FIELDS,
    apply,
    expiry,
    limit_changes,
    limit_values,
)
from quotaflow.management.errors import NoSuchRecord, store_errors
from quotaflow.management.http import (
    authenticate,
    read_body,
    read_query,
    require_admin,
    require_viewer,
    send,
)
from quotaflow.management.key_models import (
    GeneratedKey,
    KeyDeleted,
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyInfoAnswer,
    KeyInfoQuery,
    KeyList,
    KeyListQuery,
    KeyRef,
    KeyUpdateRequest,
)
from quotaflow.management.registry import registry_of
from quotaflow.store.records import KeyChanges, VirtualKey

if TYPE_CHECKING:
    from quotaflow.management.registry import Registry
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services
    from quotaflow.store.records import Team

__all__ = ["block", "delete", "generate", "info", "listing", "regenerate", "unblock", "update"]


async def generate(services: Services, exchange: Exchange) -> None:
    """``POST /key/generate``."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, KeyGenerateRequest)
    team = await _team_of(registry, body.team_id)
    key = mint_key()
    record = VirtualKey(
        token_hash=hash_key(key),
        key_name=display_key(key),
        key_alias=body.key_alias,
        team_id=body.team_id,
        user_id=body.user_id,
        expires_at=expiry(body.duration, registry.now()),
        blocked=body.blocked,
        **limit_values(body, registry, team.models if team else ()),
    )
    with store_errors(f"key alias '{body.key_alias}'"):
        created = await registry.store.keys.create(record)
    await _changed(registry, created, budget=created.max_budget is not None)
    info = await registry.key_info(created)
    await send(exchange, GeneratedKey(**info.model_dump(), key=key))


async def update(services: Services, exchange: Exchange) -> None:
    """``POST /key/update``: the fields given change."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, KeyUpdateRequest)
    current = await registry.key(body.key)
    given = body.model_fields_set
    team_id = body.team_id if "team_id" in given else current.team_id
    team = await _team_of(registry, team_id)
    changes = limit_changes(body, registry, team.models if team else ())
    for name in ("key_alias", "team_id", "user_id"):
        if name in given:
            changes[name] = getattr(body, name)
    if "duration" in given:
        changes["expires_at"] = expiry(body.duration, registry.now())
    if body.blocked is not None:
        changes["blocked"] = body.blocked
    with store_errors("key (or its new alias is taken)"):
        updated = await registry.store.keys.update(current.token_hash, apply(KeyChanges(), changes))
    await _changed(registry, updated, budget=bool(BUDGET_FIELDS & given))
    await send(exchange, await registry.key_info(updated))


async def delete(services: Services, exchange: Exchange) -> None:
    """``POST /key/delete``: by key (or hash), or by alias."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, KeyDeleteRequest)
    hashes = [registry.key_hash(key) for key in body.keys or ()]
    for alias in body.key_aliases or ():
        with store_errors(f"key with alias '{alias}'"):
            hashes.append((await registry.store.keys.get_by_alias(alias)).token_hash)
    for token_hash in hashes:
        await registry.delete_key(token_hash)
    await send(exchange, KeyDeleted(deleted_keys=hashes))


async def regenerate(services: Services, exchange: Exchange) -> None:
    """``POST /key/regenerate``: a new key with the old one's settings, spend and budget."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, KeyRef)
    old = await registry.key(body.key)
    key = mint_key()
    with store_errors("key"):
        new = await registry.store.keys.regenerate(
            old.token_hash, hash_key(key), key_name=display_key(key)
        )
    registry.cache.drop_key(old.token_hash)
    await registry.changed(Change("key", old.token_hash), budget=False)
    await registry.enforcer.carry(level_of(old), level_of(new))
    await _changed(registry, new, budget=False)
    info = await registry.key_info(new)
    await send(exchange, GeneratedKey(**info.model_dump(), key=key))


async def block(services: Services, exchange: Exchange) -> None:
    """``POST /key/block``: every call with the key is refused (401) within a second."""
    await _set_blocked(services, exchange, blocked=True)


async def unblock(services: Services, exchange: Exchange) -> None:
    """``POST /key/unblock``."""
    await _set_blocked(services, exchange, blocked=False)


async def info(services: Services, exchange: Exchange) -> None:
    """``GET /key/info``: any key for admins; a key may read itself."""
    registry = registry_of(services)
    principal = authenticate(services, exchange)
    query = read_query(exchange, KeyInfoQuery)
    if query.key is None:
        if principal.key is None:
            raise InvalidRequest("Missing query parameter 'key'.", param="key")
        wanted = principal.key.token_hash
    else:
        wanted = registry.key_hash(query.key)
    own = principal.key_hash
    if not principal.can_view and (own is None or not hmac.compare_digest(own, wanted)):
        raise PermissionDenied("A key may read only its own information.")
    key = await registry.key(wanted)
    await send(exchange, KeyInfoAnswer(key=key.token_hash, info=await registry.key_info(key)))


async def listing(services: Services, exchange: Exchange) -> None:
    """``GET /key/list``: paginated by ``page`` and ``size``."""
    registry = registry_of(services)
    require_viewer(authenticate(services, exchange))
    query = read_query(exchange, KeyListQuery)
    keys = [
        key
        for key in await registry.all_keys(team_id=query.team_id, user_id=query.user_id)
        if query.key_alias is None or key.key_alias == query.key_alias
    ]
    start = (query.page - 1) * query.size
    page = keys[start : start + query.size]
    await send(
        exchange,
        KeyList(
            keys=[await registry.key_info(k) for k in page]
            if query.return_full_object
            else [k.token_hash for k in page],
            total_count=len(keys),
            current_page=query.page,
            total_pages=math.ceil(len(keys) / query.size),
        ),
    )


async def _set_blocked(services: Services, exchange: Exchange, *, blocked: bool) -> None:
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, KeyRef)
    with store_errors("key"):
        key = await registry.store.keys.set_blocked(registry.key_hash(body.key), blocked=blocked)
    await _changed(registry, key, budget=False)
    await send(exchange, await registry.key_info(key))


async def _team_of(registry: Registry, team_id: str | None) -> Team | None:
    if team_id is None:
        return None
    try:
        return await registry.team(team_id)
    except NoSuchRecord:
        raise InvalidRequest(
            f"Invalid 'team_id': no team '{team_id}'.", param="team_id", code="invalid_value"
        ) from None


async def _changed(registry: Registry, key: VirtualKey, *, budget: bool) -> None:
    registry.cache.put_key(key)
    await registry.changed(Change("key", key.token_hash), budget=budget)

"""``/user/*``: new, update, delete, info, list.

Admin routes, except ``/user/info`` for the caller's own user. ``/user/new`` also makes a key
for the user unless ``auto_create_key`` is false; deleting a user deletes its keys.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

from quotaflow.auth import Change, display_key, hash_key, mint_key
from quotaflow.errors import InvalidRequest, PermissionDenied
from quotaflow.management.changes import BUDGET_FIELDS, apply, limit_changes, limit_values
from quotaflow.management.errors import store_errors
from quotaflow.management.http import (
    authenticate,
    read_body,
    read_query,
    require_admin,
    require_viewer,
    send,
)
from quotaflow.management.registry import registry_of
from quotaflow.management.user_models import (
    NewUser,
    UserDeleted,
    UserDeleteRequest,
    UserInfoAnswer,
    UserInfoQuery,
    UserList,
    UserListQuery,
    UserNewRequest,
    UserUpdateRequest,
)
from quotaflow.store.records import TeamMember, User, UserChanges, VirtualKey

if TYPE_CHECKING:
    from quotaflow.management.registry import Registry
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = ["delete", "info", "listing", "new", "update"]


async def new(services: Services, exchange: Exchange) -> None:
    """``POST /user/new``."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, UserNewRequest)
    for team_id in body.teams:
        await registry.team(team_id)
    user = User(
        user_id=body.user_id or str(uuid.uuid4()),
        user_alias=body.user_alias,
        user_email=body.user_email,
        user_role=body.user_role,
        **limit_values(body, registry),
    )
    with store_errors(f"user '{user.user_id}'"):
        created = await registry.store.users.create(user)
    await _changed(registry, created, budget=created.max_budget is not None)
    for team_id in body.teams:
        with store_errors(f"member '{created.user_id}' of team '{team_id}'"):
            team = await registry.store.teams.add_member(team_id, TeamMember(created.user_id))
        registry.cache.put_team(team)
        await registry.changed(Change("team", team_id), budget=False)
    key = token = None
    if body.auto_create_key:
        key = mint_key()
        record = VirtualKey(
            token_hash=hash_key(key), key_name=display_key(key), user_id=created.user_id
        )
        with store_errors("key"):
            made = await registry.store.keys.create(record)
        registry.cache.put_key(made)
        await registry.changed(Change("key", made.token_hash), budget=False)
        token = made.token_hash
    view = await registry.user_info(created)
    await send(exchange, NewUser(**view.model_dump(), key=key, token=token))


async def update(services: Services, exchange: Exchange) -> None:
    """``POST /user/update``: the fields given change."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, UserUpdateRequest)
    changes = limit_changes(body, registry)
    for name in ("user_alias", "user_email"):
        if name in body.model_fields_set:
            changes[name] = getattr(body, name)
    if body.user_role is not None:
        changes["user_role"] = body.user_role
    with store_errors(f"user '{body.user_id}'"):
        user = await registry.store.users.update(body.user_id, apply(UserChanges(), changes))
    await _changed(registry, user, budget=bool(BUDGET_FIELDS & body.model_fields_set))
    await send(exchange, await registry.user_info(user))


async def delete(services: Services, exchange: Exchange) -> None:
    """``POST /user/delete``: the users and their keys."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, UserDeleteRequest)
    for user_id in body.user_ids:
        await registry.user(user_id)  # 404 before anything is deleted
    deleted_keys = 0
    for user_id in body.user_ids:
        for key in await registry.all_keys(user_id=user_id):
            await registry.delete_key(key.token_hash)
            deleted_keys += 1
        teams = await registry.all_teams(user_id=user_id)
        with store_errors(f"user '{user_id}'"):
            await registry.store.users.delete(user_id)
        registry.cache.drop_user(user_id)
        await registry.changed(Change("user", user_id), budget=False)
        for team in teams:  # its memberships went with it
            await registry.changed(Change("team", team.team_id), budget=False)
    await send(exchange, UserDeleted(deleted_users=body.user_ids, deleted_keys=deleted_keys))


async def info(services: Services, exchange: Exchange) -> None:
    """``GET /user/info``: any user for admins; a key may read its own user."""
    registry = registry_of(services)
    principal = authenticate(services, exchange)
    query = read_query(exchange, UserInfoQuery)
    user_id = query.user_id or principal.user_id
    if user_id is None:
        raise InvalidRequest("Missing query parameter 'user_id'.", param="user_id")
    if not principal.can_view and user_id != principal.user_id:
        raise PermissionDenied("A key may read only its own user.")
    user = await registry.user(user_id)
    keys = [await registry.key_info(k) for k in await registry.all_keys(user_id=user_id)]
    teams = [await registry.team_info(t) for t in await registry.all_teams(user_id=user_id)]
    answer = UserInfoAnswer(
        user_id=user_id, user_info=await registry.user_info(user), keys=keys, teams=teams
    )
    await send(exchange, answer)


async def listing(services: Services, exchange: Exchange) -> None:
    """``GET /user/list``: paginated by ``page`` and ``page_size``."""
    registry = registry_of(services)
    require_viewer(authenticate(services, exchange))
    query = read_query(exchange, UserListQuery)
    users = await registry.all_users(team_id=query.team_id)
    start = (query.page - 1) * query.page_size
    page = users[start : start + query.page_size]
    await send(
        exchange,
        UserList(
            users=[await registry.user_info(user) for user in page],
            total=len(users),
            page=query.page,
            page_size=query.page_size,
            total_pages=math.ceil(len(users) / query.page_size),
        ),
    )


async def _changed(registry: Registry, user: User, *, budget: bool) -> None:
    registry.cache.put_user(user)
    await registry.changed(Change("user", user.user_id), budget=budget)

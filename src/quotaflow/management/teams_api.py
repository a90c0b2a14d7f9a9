"""``/team/*``: new, update, delete, member_add, member_delete, info, list.

Admin routes, except ``/team/info`` for the caller's own team. Deleting a team deletes its keys.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pydantic import RootModel

from quotaflow.auth import Change
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
from quotaflow.management.team_models import (
    MemberAddRequest,
    MemberDeleteRequest,
    TeamDeleted,
    TeamDeleteRequest,
    TeamInfo,
    TeamInfoAnswer,
    TeamInfoQuery,
    TeamListQuery,
    TeamNewRequest,
    TeamUpdateRequest,
)
from quotaflow.store.records import Team, TeamChanges, TeamMember

if TYPE_CHECKING:
    from quotaflow.management.registry import Registry
    from quotaflow.server.exchange import Exchange
    from quotaflow.server.services import Services

__all__ = [
    "TeamInfos",
    "delete",
    "info",
    "listing",
    "member_add",
    "member_delete",
    "new",
    "update",
]


class TeamInfos(RootModel[list[TeamInfo]]):
    """``GET /team/list``: a JSON list of teams."""


async def new(services: Services, exchange: Exchange) -> None:
    """``POST /team/new``."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, TeamNewRequest)
    team = Team(
        team_id=body.team_id or str(uuid.uuid4()),
        team_alias=body.team_alias,
        members=tuple(TeamMember(m.user_id, m.role) for m in body.members_with_roles),
        blocked=body.blocked,
        **limit_values(body, registry),
    )
    with store_errors(f"team '{team.team_id}'"):
        created = await registry.store.teams.create(team)
    await _changed(registry, created, budget=created.max_budget is not None)
    await send(exchange, await registry.team_info(created))


async def update(services: Services, exchange: Exchange) -> None:
    """``POST /team/update``: the fields given change."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, TeamUpdateRequest)
    changes = limit_changes(body, registry)
    if "team_alias" in body.model_fields_set:
        changes["team_alias"] = body.team_alias
    if body.blocked is not None:
        changes["blocked"] = body.blocked
    with store_errors(f"team '{body.team_id}'"):
        team = await registry.store.teams.update(body.team_id, apply(TeamChanges(), changes))
    await _changed(registry, team, budget=bool(BUDGET_FIELDS & body.model_fields_set))
    await send(exchange, await registry.team_info(team))


async def delete(services: Services, exchange: Exchange) -> None:
    """``POST /team/delete``: the teams and their keys."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, TeamDeleteRequest)
    for team_id in body.team_ids:
        await registry.team(team_id)  # 404 before anything is deleted
    deleted_keys = 0
    for team_id in body.team_ids:
        for key in await registry.all_keys(team_id=team_id):
            await registry.delete_key(key.token_hash)
            deleted_keys += 1
        with store_errors(f"team '{team_id}'"):
            await registry.store.teams.delete(team_id)
        registry.cache.drop_team(team_id)
        await registry.changed(Change("team", team_id), budget=False)
    await send(exchange, TeamDeleted(deleted_teams=body.team_ids, deleted_keys=deleted_keys))


async def member_add(services: Services, exchange: Exchange) -> None:
    """``POST /team/member_add``: one member or several."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, MemberAddRequest)
    members = body.member if isinstance(body.member, list) else [body.member]
    team = await registry.team(body.team_id)
    for member in members:
        with store_errors(f"member '{member.user_id}' of team '{body.team_id}'"):
            team = await registry.store.teams.add_member(
                body.team_id, TeamMember(member.user_id, member.role)
            )
    await _changed(registry, team, budget=False)
    await send(exchange, await registry.team_info(team))


async def member_delete(services: Services, exchange: Exchange) -> None:
    """``POST /team/member_delete``."""
    registry = registry_of(services)
    require_admin(authenticate(services, exchange))
    body = await read_body(exchange, MemberDeleteRequest)
    with store_errors(f"member '{body.user_id}' of team '{body.team_id}'"):
        team = await registry.store.teams.remove_member(body.team_id, body.user_id)
    await _changed(registry, team, budget=False)
    await send(exchange, await registry.team_info(team))


async def info(services: Services, exchange: Exchange) -> None:
    """``GET /team/info``: any team for admins; a key may read its own team."""
    registry = registry_of(services)
    principal = authenticate(services, exchange)
    query = read_query(exchange, TeamInfoQuery)
    team_id = query.team_id or principal.team_id
    if team_id is None:
        raise InvalidRequest("Missing query parameter 'team_id'.", param="team_id")
    if not principal.can_view and team_id != principal.team_id:
        raise PermissionDenied("A key may read only its own team.")
    team = await registry.team(team_id)
    keys = [await registry.key_info(k) for k in await registry.all_keys(team_id=team_id)]
    await send(
        exchange,
        TeamInfoAnswer(team_id=team_id, team_info=await registry.team_info(team), keys=keys),
    )


async def listing(services: Services, exchange: Exchange) -> None:
    """``GET /team/list``."""
    registry = registry_of(services)
    require_viewer(authenticate(services, exchange))
    query = read_query(exchange, TeamListQuery)
    teams = await registry.all_teams(user_id=query.user_id)
    await send(exchange, TeamInfos([await registry.team_info(team) for team in teams]))


async def _changed(registry: Registry, team: Team, *, budget: bool) -> None:
    registry.cache.put_team(team)
    await registry.changed(Change("team", team.team_id), budget=budget)

"""``/team/*`` and ``/user/*`` in process, on a real SQLite store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.management.keyed import Keyed, client, keyed_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[Keyed]:
    async with keyed_app(tmp_path) as keyed:
        yield keyed


async def _post(keyed: Keyed, path: str, body: dict[str, Any], caller: str | None = None):
    async with client(keyed.app, *(caller,) if caller else ()) as http:
        return await http.post(path, json=body)


async def _get(keyed: Keyed, path: str, caller: str | None = None, **params):
    async with client(keyed.app, *(caller,) if caller else ()) as http:
        return await http.get(path, params=params)


async def test_team_lifecycle(keyed: Keyed):
    made = await _post(
        keyed,
        "/team/new",
        {
            "team_id": "dev",
            "team_alias": "Developers",
            "models": ["gpt-4-preview"],
            "max_budget": "10",
            "budget_duration": "1mo",
            "members_with_roles": [{"user_id": "ana", "role": "admin"}],
        },
    )
    assert made.status_code == 200, made.text
    assert made.json()["members_with_roles"] == [{"user_id": "ana", "role": "admin"}]
    updated = await _post(keyed, "/team/update", {"team_id": "dev", "rpm_limit": 60})
    assert updated.json()["rpm_limit"] == 60
    assert updated.json()["max_budget"] == 10.0
    added = await _post(
        keyed, "/team/member_add", {"team_id": "dev", "member": [{"user_id": "bo"}]}
    )
    assert [m["user_id"] for m in added.json()["members_with_roles"]] == ["ana", "bo"]
    again = await _post(keyed, "/team/member_add", {"team_id": "dev", "member": {"user_id": "bo"}})
    assert again.status_code == 409
    removed = await _post(keyed, "/team/member_delete", {"team_id": "dev", "user_id": "ana"})
    assert [m["user_id"] for m in removed.json()["members_with_roles"]] == ["bo"]
    key = (await _post(keyed, "/key/generate", {"team_id": "dev"})).json()
    info = (await _get(keyed, "/team/info", team_id="dev")).json()
    assert info["team_info"]["rpm_limit"] == 60
    assert [k["token"] for k in info["keys"]] == [key["token"]]
    assert [t["team_id"] for t in (await _get(keyed, "/team/list")).json()] == ["dev"]
    deleted = await _post(keyed, "/team/delete", {"team_ids": ["dev"]})
    assert deleted.json() == {"deleted_teams": ["dev"], "deleted_keys": 1}
    assert (await _get(keyed, "/key/info", caller=key["key"])).status_code == 401
    assert (await _get(keyed, "/team/info", team_id="dev")).status_code == 404


async def test_team_without_id_gets_one_and_bad_fields_are_named(keyed: Keyed):
    made = (await _post(keyed, "/team/new", {})).json()
    assert made["team_id"]
    bad = await _post(
        keyed, "/team/new", {"members_with_roles": [{"user_id": "x", "role": "boss"}]}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "members_with_roles.0.role"
    assert (await _post(keyed, "/team/update", {"team_id": "ghost"})).status_code == 404
    assert (await _post(keyed, "/team/delete", {"team_ids": []})).status_code == 400


async def test_a_key_reads_its_own_team_only(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev"})
    await _post(keyed, "/team/new", {"team_id": "ops"})
    key = (await _post(keyed, "/key/generate", {"team_id": "dev"})).json()["key"]
    own = await _get(keyed, "/team/info", caller=key)
    assert own.status_code == 200
    assert own.json()["team_id"] == "dev"
    assert (await _get(keyed, "/team/info", caller=key, team_id="ops")).status_code == 403


async def test_blocking_a_team_blocks_its_keys(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev"})
    key = (await _post(keyed, "/key/generate", {"team_id": "dev"})).json()["key"]
    await _post(keyed, "/team/update", {"team_id": "dev", "blocked": True})
    refused = await _get(keyed, "/key/info", caller=key)
    assert refused.status_code == 401
    assert "team is blocked" in refused.json()["error"]["message"]


async def test_user_lifecycle(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev"})
    made = await _post(
        keyed,
        "/user/new",
        {"user_id": "ana", "user_email": "ana@example.com", "teams": ["dev"], "max_budget": 5},
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["key"].startswith("sk-")
    assert body["user_role"] == "internal_user"
    own = await _get(keyed, "/user/info", caller=body["key"])
    assert own.status_code == 200
    assert [t["team_id"] for t in own.json()["teams"]] == ["dev"]
    assert [k["token"] for k in own.json()["keys"]] == [body["token"]]
    await _post(keyed, "/user/new", {"user_id": "bo", "auto_create_key": False})
    assert (await _get(keyed, "/user/info", caller=body["key"], user_id="bo")).status_code == 403
    updated = await _post(keyed, "/user/update", {"user_id": "ana", "user_role": "proxy_admin"})
    assert updated.json()["user_role"] == "proxy_admin"
    # ana's key is an admin key now.
    assert (await _get(keyed, "/user/info", caller=body["key"], user_id="bo")).status_code == 200
    listed = (await _get(keyed, "/user/list", page_size=1, page=2)).json()
    assert listed["total"] == 2
    assert [u["user_id"] for u in listed["users"]] == ["bo"]
    deleted = await _post(keyed, "/user/delete", {"user_ids": ["ana"]})
    assert deleted.json() == {"deleted_users": ["ana"], "deleted_keys": 1}
    assert (await _get(keyed, "/user/info", user_id="ana")).status_code == 404
    assert (await _post(keyed, "/user/new", {"user_role": "king"})).status_code == 400


async def test_viewer_reads_but_does_not_write(keyed: Keyed):
    made = (await _post(keyed, "/user/new", {"user_role": "proxy_admin_viewer"})).json()
    assert (await _get(keyed, "/key/list", caller=made["key"])).status_code == 200
    assert (await _post(keyed, "/team/new", {}, caller=made["key"])).status_code == 403

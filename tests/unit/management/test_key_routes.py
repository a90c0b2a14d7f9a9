"""``/key/*`` in process, on a real SQLite store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from quotaflow.app import create_app
from quotaflow.auth import hash_key
from quotaflow.config import load_settings
from tests.unit.management.keyed import Keyed, client, keyed_app, settings

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


def _error(response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def test_generate_shows_the_key_once_and_stores_only_its_hash(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev", "models": ["gpt-4-preview"]})
    answer = await _post(
        keyed,
        "/key/generate",
        {
            "key_alias": "ci",
            "team_id": "dev",
            "max_budget": 1.5,
            "budget_duration": "30d",
            "rpm_limit": 10,
            "metadata": {"owner": "ana"},
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = body["key"]
    assert key.startswith("sk-")
    assert len(key) >= 3 + 43
    assert body["token"] == hash_key(key)
    assert body["key_name"] == f"sk-...{key[-4:]}"
    assert body["max_budget"] == 1.5
    assert body["spend"] == 0.0
    assert body["budget_reset_at"] is not None
    stored = await keyed.store.keys.get_by_hash(hash_key(key))
    assert stored.key_alias == "ci"
    assert key not in repr(stored)
    info = await _get(keyed, "/key/info", caller=key)
    assert info.status_code == 200
    assert "key" not in info.json()["info"]
    assert info.json()["key"] == hash_key(key)


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        ({"max_budget": -1}, "max_budget", "greater than or equal to 0"),
        ({"rpm_limit": -5}, "rpm_limit", "greater than or equal"),
        ({"budget_duration": "often"}, "budget_duration", "invalid duration"),
        ({"duration": "0d"}, "duration", "invalid duration"),
        ({"models": ["gpt-5"]}, "models", "gpt-5"),
        ({"team_id": "nope"}, "team_id", "nope"),
        ({"surprise": True}, "surprise", "Unknown field"),
        ({"max_budget": "lots"}, "max_budget", "decimal"),
        ({"metadata": [1]}, "metadata", "dictionary"),
    ],
)
async def test_bad_input_is_400_naming_the_field(keyed: Keyed, body, param, needle):
    answer = await _post(keyed, "/key/generate", body)
    assert answer.status_code == 400
    error = _error(answer)
    assert error["param"] == param
    assert needle in error["message"]
    assert error["type"] == "invalid_request_error"


async def test_key_models_must_be_among_the_team_models(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev", "models": ["gpt-4-preview"]})
    answer = await _post(keyed, "/key/generate", {"team_id": "dev", "models": ["gpt-4o-mini"]})
    assert answer.status_code == 400
    assert "team's models" in _error(answer)["message"]


async def test_credentials_are_checked_and_never_echoed(keyed: Keyed):
    async with client(keyed.app, "sk-wrong-secret") as http:
        wrong = await http.post("/key/generate", json={})
    assert wrong.status_code == 401
    assert "sk-wrong-secret" not in wrong.text
    key = (await _post(keyed, "/key/generate", {})).json()["key"]
    denied = await _post(keyed, "/key/generate", {}, caller=key)
    assert denied.status_code == 403
    assert _error(denied)["code"] == "permission_denied"
    for path in ("/key/list", "/team/list", "/user/list", "/global/spend/report"):
        assert (await _get(keyed, path, caller=key)).status_code == 403, path


async def test_a_key_reads_only_itself(keyed: Keyed):
    mine = (await _post(keyed, "/key/generate", {})).json()
    other = (await _post(keyed, "/key/generate", {})).json()
    assert (await _get(keyed, "/key/info", caller=mine["key"])).status_code == 200
    assert (await _get(keyed, "/key/info", mine["key"], key=mine["token"])).status_code == 200
    refused = await _get(keyed, "/key/info", mine["key"], key=other["token"])
    assert refused.status_code == 403
    assert other["token"] not in refused.text


async def test_update_changes_given_fields_and_null_clears(keyed: Keyed):
    made = (await _post(keyed, "/key/generate", {"max_budget": 2, "rpm_limit": 5})).json()
    updated = await _post(
        keyed, "/key/update", {"key": made["key"], "max_budget": None, "tpm_limit": 100}
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["max_budget"] is None
    assert body["rpm_limit"] == 5
    assert body["tpm_limit"] == 100
    by_hash = await _post(keyed, "/key/update", {"key": made["token"], "key_alias": "renamed"})
    assert by_hash.json()["key_alias"] == "renamed"
    missing = await _post(keyed, "/key/update", {"key": "sk-nobody"})
    assert missing.status_code == 404


async def test_block_unblock_and_expiry_apply_at_once(keyed: Keyed):
    key = (await _post(keyed, "/key/generate", {})).json()["key"]
    assert (await _post(keyed, "/key/block", {"key": key})).json()["blocked"] is True
    blocked = await _get(keyed, "/key/info", caller=key)
    assert blocked.status_code == 401
    assert _error(blocked)["code"] == "key_blocked"
    await _post(keyed, "/key/unblock", {"key": key})
    assert (await _get(keyed, "/key/info", caller=key)).status_code == 200


async def test_delete_by_key_and_by_alias(keyed: Keyed):
    first = (await _post(keyed, "/key/generate", {})).json()
    second = (await _post(keyed, "/key/generate", {"key_alias": "two"})).json()
    deleted = await _post(keyed, "/key/delete", {"keys": [first["key"]], "key_aliases": ["two"]})
    assert deleted.json() == {"deleted_keys": [first["token"], second["token"]]}
    assert (await _get(keyed, "/key/info", caller=first["key"])).status_code == 401
    assert (await _post(keyed, "/key/delete", {"keys": [first["key"]]})).status_code == 404
    assert (await _post(keyed, "/key/delete", {})).status_code == 400


async def test_regenerate_replaces_the_key_and_keeps_its_settings(keyed: Keyed):
    old = (await _post(keyed, "/key/generate", {"key_alias": "svc", "rpm_limit": 7})).json()
    new = (await _post(keyed, "/key/regenerate", {"key": old["key"]})).json()
    assert new["key"] != old["key"]
    assert new["key_alias"] == "svc"
    assert new["rpm_limit"] == 7
    assert (await _get(keyed, "/key/info", caller=old["key"])).status_code == 401
    assert (await _get(keyed, "/key/info", caller=new["key"])).status_code == 200


async def test_list_pages_and_filters(keyed: Keyed):
    await _post(keyed, "/team/new", {"team_id": "dev"})
    tokens = [
        (await _post(keyed, "/key/generate", {"team_id": "dev"})).json()["token"] for _ in range(3)
    ]
    await _post(keyed, "/key/generate", {})
    page = (await _get(keyed, "/key/list", team_id="dev", size=2, page=2)).json()
    assert page == {"keys": tokens[2:], "total_count": 3, "current_page": 2, "total_pages": 2}
    full = (await _get(keyed, "/key/list", return_full_object="true", size=10)).json()
    assert full["total_count"] == 4
    assert full["keys"][0]["token"] == tokens[0]
    assert (await _get(keyed, "/key/list", size=0)).status_code == 400


async def test_duplicate_alias_is_409(keyed: Keyed):
    await _post(keyed, "/key/generate", {"key_alias": "same"})
    again = await _post(keyed, "/key/generate", {"key_alias": "same"})
    assert again.status_code == 409
    assert _error(again)["code"] == "conflict"


async def test_without_a_store_management_is_503(tmp_path: Path):
    app = create_app(load_settings(data=settings(), environ={}).settings)
    async with client(app) as http:
        answer = await http.post("/key/generate", json={})
    assert answer.status_code == 503
    assert "database_url" in answer.json()["error"]["message"]

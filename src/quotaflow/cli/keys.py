"""``quotaflow keys create|list|revoke|block|unblock``: virtual keys through ``/key/*``.

A key is named on the command line by the key itself (``sk-…``), its ``token`` (the 64-hex
hash that ``keys list`` shows) or its alias. Output never contains a key except the new one
that ``keys create`` shows once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from quotaflow.auth import display_key, is_key_hash
from quotaflow.cli.client import CliError
from quotaflow.cli.table import Cell, render

if TYPE_CHECKING:
    import argparse

    from quotaflow.cli.client import AdminClient

__all__ = ["block", "create", "listing", "revoke"]

_KEY_PREFIX = "sk-"
_PAGE_SIZE = 100
_SHOWN_ONCE = "This key is shown once: store it now. The gateway keeps only its hash (token)."
# Request field ← argparse destination, for the optional fields of ``keys create``.
_CREATE_FIELDS = {
    "key_alias": "alias",
    "team_id": "team",
    "user_id": "user",
    "models": "models",
    "max_budget": "max_budget",
    "budget_duration": "budget_duration",
    "rpm_limit": "rpm",
    "tpm_limit": "tpm",
    "max_parallel_requests": "max_parallel",
    "duration": "duration",
}


def create(client: AdminClient, args: argparse.Namespace) -> str:
    """``POST /key/generate``; the key once, then its settings."""
    body: dict[str, object] = {}
    for field, dest in _CREATE_FIELDS.items():
        value = getattr(args, dest)
        if value is not None:
            body[field] = str(value) if field == "max_budget" else value
    made: dict[str, Any] = client.post("/key/generate", body)
    if args.json:
        return json.dumps(made, indent=2)
    lines = [f"key:      {made['key']}", _SHOWN_ONCE, ""]
    lines.append(_describe(made))
    return "\n".join(lines)


def listing(client: AdminClient, args: argparse.Namespace) -> str:
    """``GET /key/list`` page by page; a table, or a JSON list of every key."""
    keys = list_keys(client, team_id=args.team, user_id=args.user)
    if args.json:
        return json.dumps(keys, indent=2)
    if not keys:
        return "no keys"
    now = datetime.now(UTC)
    rows: list[list[Cell]] = [
        [
            key["token"][:12],
            key.get("key_name"),
            key.get("key_alias"),
            key.get("team_id"),
            key.get("user_id"),
            ",".join(key.get("models") or []) or "all",
            _budget(key),
            key.get("rpm_limit"),
            key.get("tpm_limit"),
            _status(key, now),
        ]
        for key in keys
    ]
    headers = ["TOKEN", "NAME", "ALIAS", "TEAM", "USER", "MODELS", "SPEND/BUDGET", "RPM", "TPM"]
    return render([*headers, "STATUS"], rows)


def revoke(client: AdminClient, args: argparse.Namespace) -> str:
    """``POST /key/delete`` by key, token or alias."""
    wanted: str = args.key
    body = {"key_aliases": [wanted]} if _is_alias(wanted) else {"keys": [wanted]}
    answer: dict[str, Any] = client.post("/key/delete", body)
    if args.json:
        return json.dumps(answer, indent=2)
    return f"revoked key {_shown(wanted)}; calls with it now fail with 401"


def block(client: AdminClient, args: argparse.Namespace) -> str:
    """``POST /key/block`` or ``/key/unblock`` (``args.blocked``) by key, token or alias."""
    wanted: str = args.key
    token = _token_of(client, wanted) if _is_alias(wanted) else wanted
    path = "/key/block" if args.blocked else "/key/unblock"
    answer: dict[str, Any] = client.post(path, {"key": token})
    if args.json:
        return json.dumps(answer, indent=2)
    done = "blocked" if args.blocked else "unblocked"
    return f"{done} key {_shown(wanted)}\n\n{_describe(answer)}"


def list_keys(
    client: AdminClient, *, team_id: str | None = None, user_id: str | None = None
) -> list[dict[str, Any]]:
    """Every key (whole objects), optionally of one team and/or user."""
    keys: list[dict[str, Any]] = []
    page = 1
    while True:
        answer: dict[str, Any] = client.get(
            "/key/list",
            {
                "team_id": team_id,
                "user_id": user_id,
                "page": page,
                "size": _PAGE_SIZE,
                "return_full_object": True,
            },
        )
        keys.extend(answer["keys"])
        if page >= answer["total_pages"]:
            return keys
        page += 1


def _token_of(client: AdminClient, alias: str) -> str:
    answer: dict[str, Any] = client.get(
        "/key/list", {"key_alias": alias, "return_full_object": True}
    )
    if not answer["keys"]:
        raise CliError(f"no key has the alias {alias!r}")
    token: str = answer["keys"][0]["token"]
    return token


def _is_alias(text: str) -> bool:
    return not text.startswith(_KEY_PREFIX) and not is_key_hash(text)


def _shown(wanted: str) -> str:
    """How to name a key in output: never the key itself."""
    if wanted.startswith(_KEY_PREFIX):
        return display_key(wanted)
    return wanted[:12] if is_key_hash(wanted) else repr(wanted)


def _describe(key: dict[str, Any]) -> str:
    fields: list[tuple[str, Cell]] = [
        ("token", key["token"]),
        ("name", key.get("key_name")),
        ("alias", key.get("key_alias")),
        ("team", key.get("team_id")),
        ("user", key.get("user_id")),
        ("models", ",".join(key.get("models") or []) or "all"),
        ("budget", _budget(key)),
        ("rpm", key.get("rpm_limit")),
        ("tpm", key.get("tpm_limit")),
        ("parallel", key.get("max_parallel_requests")),
        ("expires", key.get("expires")),
        ("blocked", "yes" if key.get("blocked") else "no"),
    ]
    return "\n".join(f"{name + ':':<9} {'-' if value is None else value}" for name, value in fields)


def _budget(key: dict[str, Any]) -> str:
    spend = f"${key.get('spend', 0):.4f}"
    limit = key.get("max_budget")
    if limit is None:
        return f"{spend} / -"
    period = f" per {key['budget_duration']}" if key.get("budget_duration") else ""
    return f"{spend} / ${limit:.2f}{period}"


def _status(key: dict[str, Any], now: datetime) -> str:
    if key.get("blocked"):
        return "blocked"
    expires = key.get("expires")
    if expires and datetime.fromisoformat(expires) <= now:
        return "expired"
    return "active"

"""``quotaflow keys`` and ``quotaflow spend`` against a gateway on 127.0.0.1.

The gateway is built from a config file in the test's folder (its SQLite store lives there too,
migrated first by ``quotaflow db upgrade``); the CLI runs in a thread, as it would in a shell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from quotaflow.app import create_app
from quotaflow.auth import hash_key
from quotaflow.cli import add_admin_commands, run_admin_command
from quotaflow.config import load_settings
from quotaflow.serving import serve_app
from quotaflow.store import SpendRecord, open_store
from tests.unit.management.keyed import MASTER, settings

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support import Stack

pytestmark = pytest.mark.e2e


class Cli:
    """Runs admin commands against one gateway, as its operator would."""

    def __init__(self, url: str, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.config = config
        self.capsys = capsys
        parser = argparse.ArgumentParser(prog="quotaflow")
        add_admin_commands(parser.add_subparsers(dest="command", required=True))
        self.parser = parser

    async def __call__(self, *argv: str, auth: bool = True) -> tuple[int, str, str]:
        """Run a command against the gateway, with the config's master key unless not ``auth``."""
        where = ["--url", self.url] + (["--config", str(self.config)] if auth else [])
        return await self.run(*argv, *where)

    async def run(self, *argv: str) -> tuple[int, str, str]:
        """Run a command line: its exit code, stdout and stderr."""
        code = await asyncio.to_thread(run_admin_command, self.parser.parse_args(argv))
        out, err = self.capsys.readouterr()
        assert MASTER not in out + err
        return code, out, err

    async def ok(self, *argv: str) -> str:
        code, out, err = await self(*argv)
        assert (code, err) == (0, ""), err
        return out


async def _gateway(stack: Stack, tmp_path: Path, capsys) -> tuple[Cli, httpx.AsyncClient]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings()))
    cli = Cli("", config, capsys)
    upgraded = await cli.run("db", "upgrade", "--config", str(config))
    assert upgraded == (0, f"sqlite:///{tmp_path / 'quotaflow.db'}: applied 0001_initial\n", "")
    app = create_app(load_settings(config).settings)
    cli.url = await stack.enter(serve_app(app, lifespan=True))
    http = await stack.enter(httpx.AsyncClient(base_url=cli.url))
    made = await http.post(
        "/team/new",
        json={"team_id": "dev", "models": ["gpt-4o-mini", "gpt-4-preview"]},
        headers={"authorization": f"Bearer {MASTER}"},
    )
    assert made.status_code == 200, made.text
    return cli, http


async def _models(http: httpx.AsyncClient, key: str) -> int | list[str]:
    """The models a key may use (sorted), or the status of the refusal."""
    answer = await http.get("/v1/models", headers={"authorization": f"Bearer {key}"})
    if answer.status_code != 200:
        return answer.status_code
    return sorted(model["id"] for model in answer.json()["data"])


async def test_keys_create_and_list(stack: Stack, tmp_path: Path, capsys):
    cli, http = await _gateway(stack, tmp_path, capsys)
    out = await cli.ok(
        "keys", "create", "--alias", "dev-ci", "--team", "dev", "--models", "gpt-4o-mini",
        "--max-budget", "5", "--budget-duration", "1d", "--rpm", "60", "--tpm", "1000",
        "--max-parallel", "2", "--duration", "30d",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith("key:      sk-")
    key = lines[0].split()[-1]
    assert "shown once" in lines[1]
    for line in (f"token:    {hash_key(key)}", "budget:   $0.0000 / $5.00 per 1d", "rpm:      60"):
        assert line in lines
    assert await _models(http, key) == ["gpt-4o-mini"]

    made = json.loads(await cli.ok("keys", "create", "--user", "ana", "--json"))
    assert made["user_id"] == "ana"
    assert made["token"] == hash_key(made["key"])
    assert await _models(http, made["key"]) == ["gpt-4-preview", "gpt-4o-mini"]

    table = (await cli.ok("keys", "list")).splitlines()
    assert table[0].split() == [
        "TOKEN", "NAME", "ALIAS", "TEAM", "USER", "MODELS", "SPEND/BUDGET", "RPM", "TPM", "STATUS"
    ]  # fmt: skip
    assert len(table) == 4
    name = f"sk-...{key[-4:]}"
    assert table[2].split()[:6] == [hash_key(key)[:12], name, "dev-ci", "dev", "-", "gpt-4o-mini"]
    assert table[3].split()[2:5] == ["-", "-", "ana"]
    assert key not in "\n".join(table)
    listed = json.loads(await cli.ok("keys", "list", "--team", "dev", "--json"))
    assert [entry["key_alias"] for entry in listed] == ["dev-ci"]
    assert (await cli.ok("keys", "list", "--user", "nobody")) == "no keys\n"


async def test_keys_block_unblock_revoke(stack: Stack, tmp_path: Path, capsys):
    cli, http = await _gateway(stack, tmp_path, capsys)
    key = json.loads(await cli.ok("keys", "create", "--alias", "dev-ci", "--json"))["key"]
    other = json.loads(await cli.ok("keys", "create", "--json"))["key"]

    out = await cli.ok("keys", "block", "dev-ci")
    assert out.startswith("blocked key 'dev-ci'\n")
    assert "blocked:  yes" in out
    assert await _models(http, key) == 401
    assert "blocked" in (await cli.ok("keys", "list")).splitlines()[2]
    await cli.ok("keys", "unblock", hash_key(key))
    assert await _models(http, key) == ["gpt-4-preview", "gpt-4o-mini"]

    assert await cli.ok("keys", "revoke", "dev-ci") == (
        "revoked key 'dev-ci'; calls with it now fail with 401\n"
    )
    assert await _models(http, key) == 401
    out = await cli.ok("keys", "revoke", other)
    assert out == f"revoked key sk-...{other[-4:]}; calls with it now fail with 401\n"
    assert await _models(http, other) == 401
    assert await cli.ok("keys", "list") == "no keys\n"

    code, out, err = await cli("keys", "revoke", "dev-ci")
    assert (code, out) == (1, "")
    assert err == "quotaflow keys: error 404: No such key with alias 'dev-ci'.\n"


async def test_api_errors_print_the_api_message(stack: Stack, tmp_path: Path, capsys):
    cli, _ = await _gateway(stack, tmp_path, capsys)
    code, _, err = await cli("keys", "create", "--team", "ops")
    assert code == 1
    assert err == "quotaflow keys: error 400: Invalid 'team_id': no team 'ops'.\n"
    code, _, err = await cli("keys", "list", auth=False)
    assert code == 1
    assert err.startswith("quotaflow keys: error 401: ")
    assert "--master-key" in err
    code, _, err = await cli("spend", "--master-key", "sk-wrong", auth=False)
    assert code == 1
    assert err.startswith("quotaflow spend: error 401: ")
    code, _, err = await cli("keys", "block", "no-such-alias")
    assert (code, err) == (1, "quotaflow keys: no key has the alias 'no-such-alias'\n")


async def test_spend_matches_the_store(stack: Stack, tmp_path: Path, capsys):
    cli, _ = await _gateway(stack, tmp_path, capsys)
    made = json.loads(
        await cli.ok("keys", "create", "--alias", "dev-ci", "--team", "dev", "--json")
    )
    now = datetime.now(UTC)
    records = [
        _record("a", now, "0.25", team="dev", key=made["token"], alias="dev-ci"),
        _record("b", now, "0.50", team="dev", key=made["token"], alias="dev-ci"),
        _record("c", now - timedelta(days=2), "1.125", team="dev", key=made["token"]),
        _record("d", now, "2", team=None, key=None),
        _record("e", now - timedelta(days=20), "100", team="dev", key=made["token"]),
    ]
    url = f"sqlite:///{tmp_path / 'quotaflow.db'}"
    store = await open_store(url)
    try:
        assert await store.spend.write_batch(records) == len(records)
        start = (now - timedelta(days=7)).date()
        rows = await store.spend.report("team", start, now.date())
    finally:
        await store.close()

    report = json.loads(await cli.ok("spend", "--by", "team", "--since", "7d", "--json"))
    assert report["start_date"] == start.isoformat()
    assert report["end_date"] == now.date().isoformat()
    answered = [
        (day["group_by_day"], group["group"], group["requests"], Decimal(str(group["total_spend"])))
        for day in report["days"]
        for group in day["groups"]
    ]
    assert answered == [
        (row.day.isoformat(), row.group, row.requests, row.cost_usd) for row in rows
    ]
    totals = {total["group"]: total for total in report["totals"]}
    assert totals["dev"]["requests"] == 3
    assert Decimal(str(totals["dev"]["total_spend"])) == Decimal("1.875")
    assert Decimal(str(report["total_spend"])) == Decimal("3.875")

    table = (await cli.ok("spend", "--since", "7d")).splitlines()
    assert table[0] == f"spend by team, {start.isoformat()} to {now.date().isoformat()} (UTC days)"
    assert table[2].split() == ["DAY", "TEAM", "REQUESTS", "TOKENS", "SPEND_USD"]
    today = now.date().isoformat()
    assert [today, "(none)", "1", "30", "2.0000"] in [line.split() for line in table]
    assert [today, "dev", "2", "60", "0.7500"] in [line.split() for line in table]
    totals_at = table.index("") + 1 + table[table.index("") + 1 :].index("") + 1
    assert [line.split() for line in table[totals_at:]] == [
        ["TEAM", "REQUESTS", "TOKENS", "SPEND_USD"],
        ["------", "--------", "------", "---------"],
        ["(none)", "1", "30", "2.0000"],
        ["dev", "3", "90", "1.8750"],
        ["total", "4", "120", "3.8750"],
    ]

    by_key = await cli.ok("spend", "--by", "key", "--since", "30d")
    assert "dev-ci" in by_key
    assert "101.8750" in by_key
    dated = await cli.ok("spend", "--by", "model", "--since", today, "--until", today)
    assert dated.splitlines()[-1].split() == ["total", "3", "90", "2.7500"]
    code, out, err = await cli("spend", "--since", "2999-01-01")
    assert (code, out) == (1, "")
    assert err == "quotaflow spend: error 400: 'start_date' is after 'end_date'.\n"


def _record(
    request_id: str,
    at: datetime,
    cost_usd: str,
    *,
    team: str | None,
    key: str | None,
    alias: str | None = None,
) -> SpendRecord:
    return SpendRecord(
        request_id=request_id,
        started_at=at,
        ended_at=at + timedelta(seconds=1),
        cost_usd=Decimal(cost_usd),
        key_hash=key,
        key_alias=alias,
        team_id=team,
        model_group="gpt-4o-mini",
        deployment_id="gpt-4o-mini-0",
        provider="openai",
        prompt_tokens=10,
        completion_tokens=20,
    )

"""The admin CLI without a gateway: arguments, tables, ``db upgrade`` on SQLite and PostgreSQL,
and what it says when no gateway answers."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg
import pytest
import yaml

from quotaflow.cli import ADMIN_COMMANDS, add_admin_commands, run_admin_command
from quotaflow.cli.db import redacted
from quotaflow.cli.table import render
from quotaflow.limits.periods import parse_duration
from tests.unit.management.keyed import settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

POSTGRES_URL = os.environ.get(
    "QUOTAFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quotaflow")
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_admin_command(parse(*argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_commands_are_registered():
    assert {parse("db", "upgrade").command, parse("keys", "list").command} <= ADMIN_COMMANDS
    assert parse("spend").command in ADMIN_COMMANDS


def test_keys_create_arguments():
    args = parse("keys", "create", "--models", "a, b,", "--max-budget", "0.10", "--rpm", "5")
    assert args.models == ["a", "b"]
    assert args.max_budget == Decimal("0.10")
    assert args.rpm == 5
    assert args.url == "http://127.0.0.1:4000"


@pytest.mark.parametrize(
    "argv",
    [
        ("keys", "create", "--max-budget", "lots"),
        ("spend", "--since", "yesterday"),
        ("spend", "--until", "7d"),
        ("spend", "--by", "region"),
        ("keys", "revoke"),
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err


def test_since_is_a_duration_or_a_day():
    assert parse("spend").since == parse_duration("7d")
    assert parse("spend", "--since", "1mo").since == parse_duration("1mo")
    assert parse("spend", "--since", "2025-06-01").since == date(2025, 6, 1)


def test_table_aligns_text_left_and_numbers_right():
    table = render(["NAME", "N", "USD"], [["a", 1, Decimal("0.5")], ["long", None, 12.25]])
    assert table.splitlines() == [
        "NAME  N      USD",
        "----  -  -------",
        "a     1   0.5000",
        "long  -  12.2500",
    ]


def test_redacted_hides_passwords():
    assert redacted("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redacted("postgresql://db/x?password=secret&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )
    assert redacted("sqlite:////tmp/q.db") == "sqlite:////tmp/q.db"


def test_db_upgrade_sqlite_from_config_then_up_to_date(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings()))
    code, out, err = run(capsys, "db", "upgrade", "--config", str(config))
    url = f"sqlite:///{tmp_path / 'quotaflow.db'}"
    assert (code, err) == (0, "")
    assert out == f"{url}: applied 0001_initial\n"
    assert (tmp_path / "quotaflow.db").is_file()
    assert run(capsys, "db", "upgrade", "--database-url", url) == (0, f"{url}: up to date\n", "")


def test_db_upgrade_data_dir_and_database_url_from_config(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    data = settings(data_dir=str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    config.write_text(yaml.safe_dump(data))
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(config))
    assert code == 0
    assert out.startswith(f"sqlite:///{tmp_path / 'data' / 'quotaflow.db'}: applied")
    other = tmp_path / "other.db"
    config.write_text(yaml.safe_dump(settings(database_url=f"sqlite:///{other}")))
    assert run(capsys, "db", "upgrade", "--config", str(config))[0] == 0
    assert other.is_file()


def test_db_upgrade_failures(tmp_path, capsys):
    code, _, err = run(capsys, "db", "upgrade", "--database-url", "mysql://db/x")
    assert code == 1
    assert "unsupported database URL scheme 'mysql'" in err
    code, _, err = run(capsys, "db", "upgrade", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml" in err


def test_db_upgrade_unreachable_postgres_hides_the_password(capsys):
    port = _free_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/x"
    code, out, err = run(capsys, "db", "upgrade", "--database-url", url)
    assert (code, out) == (1, "")
    assert "cannot upgrade postgresql://postgres:***@127.0.0.1" in err
    assert "hunter2" not in err


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A throwaway schema on the test PostgreSQL; skipped when unreachable (failed in CI)."""
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


@pytest.mark.integration
async def test_db_upgrade_postgres(pg_schema, capsys):
    url = f"{POSTGRES_URL}?search_path={pg_schema}"
    first = await asyncio.to_thread(run, capsys, "db", "upgrade", "--database-url", url)
    assert first == (0, f"{url}: applied 0001_initial\n", "")
    again = await asyncio.to_thread(run, capsys, "db", "upgrade", "--database-url", url)
    assert again == (0, f"{url}: up to date\n", "")


def test_gateway_not_running(capsys):
    url = f"http://127.0.0.1:{_free_port()}"
    code, out, err = run(capsys, "keys", "list", "--url", url, "--master-key", "sk-secret-1")
    assert (code, out) == (1, "")
    assert err == (
        f"quotaflow keys: cannot reach the gateway at {url}: connection refused: "
        "is the gateway running there? (quotaflow serve)\n"
    )


def test_bad_url_exits_2(capsys):
    code, _, err = run(capsys, "spend", "--url", "ftp://gateway")
    assert code == 2
    assert "--url must be an http:// or https:// URL" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

"""The admin subcommands' arguments (argparse) and running one of them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from quotaflow.cli import db, keys, spend
from quotaflow.cli.client import AdminClient, CliError
from quotaflow.errors import ConfigError

__all__ = ["ADMIN_COMMANDS", "add_admin_commands", "run_admin_command"]

ADMIN_COMMANDS = frozenset({"db", "keys", "spend"})
"""The ``args.command`` values that ``run_admin_command`` runs."""

DEFAULT_URL = "http://127.0.0.1:4000"

Action = Callable[[AdminClient, argparse.Namespace], str]


def add_admin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``db``, ``keys`` and ``spend`` on the ``quotaflow`` command's subparsers."""
    _add_db(commands)
    _add_keys(commands)
    _add_spend(commands)


def run_admin_command(args: argparse.Namespace) -> int:
    """Run the admin command that ``args`` names; write its output; the exit code."""
    try:
        if args.command == "db":
            output = db.upgrade(args)
        else:
            action: Action = args.action
            output = action(_client(args), args)
    except CliError as error:
        sys.stderr.write(f"quotaflow {args.command}: {error.message}\n")
        return error.exit_code
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    sys.stdout.write(output + "\n")
    return 0


def _client(args: argparse.Namespace) -> AdminClient:
    master_key: str | None = args.master_key
    if master_key is None and args.config is not None:
        from quotaflow.config import load_settings  # noqa: PLC0415

        configured = load_settings(args.config).settings.general_settings.master_key
        master_key = configured.get_secret_value() if configured else None
    return AdminClient(args.url, master_key, args.timeout)


def _add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("db", help="manage the store's database")
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="apply pending migrations",
        description="Apply the store's pending migrations and print the versions applied.",
    )
    target = upgrade.add_mutually_exclusive_group()
    target.add_argument(
        "--config",
        type=Path,
        help="take the database from this config (default: $QUOTAFLOW_CONFIG)",
    )
    target.add_argument(
        "--database-url", help="sqlite:///path.db or postgresql://user@host:port/db"
    )


def _gateway_options() -> argparse.ArgumentParser:
    """What every command that talks to a running gateway accepts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})")
    common.add_argument("--master-key", help="admin key (default: the config's master_key)")
    common.add_argument("--config", type=Path, help="config file to read the master key from")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    return common


def _add_keys(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = _gateway_options()
    parser = commands.add_parser("keys", help="virtual keys on a running gateway")
    actions = parser.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", parents=[common], help="make a key (shown once)")
    create.set_defaults(action=keys.create)
    create.add_argument("--alias", help="a unique name for the key")
    create.add_argument("--team", help="team id")
    create.add_argument("--user", help="user id")
    create.add_argument("--models", type=_names, help="comma-separated model names (default all)")
    create.add_argument("--max-budget", type=_usd, help="USD per budget period")
    create.add_argument("--budget-duration", help="budget period: 1d, 7d, 1mo, …")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--max-parallel", type=int, help="calls in progress at once")
    create.add_argument("--duration", help="the key expires this long from now: 30d, 1mo, …")
    listing = actions.add_parser("list", parents=[common], help="list keys")
    listing.set_defaults(action=keys.listing)
    listing.add_argument("--team", help="only this team's keys")
    listing.add_argument("--user", help="only this user's keys")
    for name, action, blocked, text in (
        ("revoke", keys.revoke, None, "delete a key: calls with it fail with 401"),
        ("block", keys.block, True, "refuse every call with a key, until unblocked"),
        ("unblock", keys.block, False, "accept a blocked key again"),
    ):
        command = actions.add_parser(name, parents=[common], help=text)
        command.set_defaults(action=action, blocked=blocked)
        command.add_argument("key", help="the key (sk-…), its token (hash) or its alias")


def _add_spend(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "spend",
        parents=[_gateway_options()],
        help="spend per day and team, key, model, deployment or user",
    )
    parser.set_defaults(action=spend.report)
    parser.add_argument("--by", choices=spend.GROUPS, default="team", help="group (default team)")
    parser.add_argument(
        "--since",
        type=spend.since,
        default=spend.since("7d"),
        help="a duration back from now (7d, 24h, 1mo) or a day (2025-06-01); default 7d",
    )
    parser.add_argument("--until", type=spend.day, help="last UTC day, inclusive (default today)")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _usd(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        msg = f"expected a number of US dollars: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None

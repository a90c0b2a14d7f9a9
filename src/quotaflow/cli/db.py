"""``quotaflow db upgrade``: apply the store's pending migrations.

The database is ``--database-url``, else the one the gateway opens for the config
(``general_settings.database_url``, else SQLite ``quotaflow.db`` in ``general_settings.data_dir``,
else in the config file's folder). The gateway also migrates at start; this command lets a
deployment do it first, once, before rolling out replicas.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from quotaflow.cli.client import CliError

if TYPE_CHECKING:
    import argparse

__all__ = ["redacted", "upgrade"]

_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&#]*")


def upgrade(args: argparse.Namespace) -> str:
    """Migrate the database; which versions were applied, or that it was up to date."""
    from quotaflow.store import StoreError  # noqa: PLC0415 - only this command needs the store
    from quotaflow.store import upgrade as apply_migrations  # noqa: PLC0415

    url = args.database_url or _configured_url(args)
    try:
        applied = asyncio.run(apply_migrations(url))
    except (StoreError, ValueError, OSError) as error:
        raise CliError(f"cannot upgrade {redacted(url)}: {error}") from None
    if not applied:
        return f"{redacted(url)}: up to date"
    return f"{redacted(url)}: applied {', '.join(applied)}"


def redacted(url: str) -> str:
    """``url`` without its password, for output."""
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        name = user.split(":", 1)[0]
        url = url.replace(parts.netloc, f"{name}:***@{host}", 1)
    return _PASSWORD_PARAM.sub(r"\1***", url)


def _configured_url(args: argparse.Namespace) -> str:
    from quotaflow.app import store_url  # noqa: PLC0415 - the gateway's own rule, not a copy
    from quotaflow.config import load_settings  # noqa: PLC0415

    loaded = load_settings(args.config) if args.config else load_settings()
    url = store_url(loaded.settings)
    if url is None:
        msg = "no database: pass --database-url, or a --config file"
        raise CliError(msg, exit_code=2)
    return url

"""``quotaflow spend``: spend per UTC day and group, from ``GET /global/spend/report``.

``--since`` is a duration back from now (``7d``, ``24h``, ``2w``, ``1mo``) or a day
(``2025-06-01``); the report covers whole UTC days, from the day that moment falls on to
``--until`` (default today), both inclusive.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quotaflow.auth import is_key_hash
from quotaflow.cli.keys import list_keys
from quotaflow.cli.table import Cell, render
from quotaflow.limits.periods import Duration, add_duration, parse_duration

if TYPE_CHECKING:
    from quotaflow.cli.client import AdminClient

__all__ = ["GROUPS", "Since", "day", "report", "since"]

GROUPS = ("team", "key", "model", "deployment", "user")
Since = date | Duration


def since(text: str) -> Since:
    """An argparse type: a day (``YYYY-MM-DD``) or a duration back from now (``7d``)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        msg = f"expected a duration such as 7d, 24h, 2w, 1mo or a day such as 2025-06-01: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def day(text: str) -> date:
    """An argparse type: a UTC day, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"expected a day such as 2025-06-01: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


@dataclass
class _Total:
    requests: int = 0
    tokens: int = 0
    spend_usd: Decimal = field(default_factory=Decimal)


def report(client: AdminClient, args: argparse.Namespace) -> str:
    """The report as a table (per day and group, then totals per group) or JSON."""
    now = datetime.now(UTC)
    start = _start(args.since, now)
    end: date = args.until or now.date()
    days: list[dict[str, Any]] = client.get(
        "/global/spend/report",
        {"start_date": start.isoformat(), "end_date": end.isoformat(), "group_by": args.by},
    )
    totals: dict[str | None, _Total] = defaultdict(_Total)
    for entry in days:
        for group in entry["groups"]:
            total = totals[group["group"]]
            total.requests += group["requests"]
            total.tokens += group["total_tokens"]
            total.spend_usd += Decimal(str(group["total_spend"]))
    grand = sum((total.spend_usd for total in totals.values()), Decimal())
    if args.json:
        return json.dumps(
            {
                "group_by": args.by,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "days": days,
                "totals": [
                    {
                        "group": group,
                        "requests": total.requests,
                        "total_tokens": total.tokens,
                        "total_spend": float(total.spend_usd),
                    }
                    for group, total in totals.items()
                ],
                "total_spend": float(grand),
            },
            indent=2,
        )
    title = f"spend by {args.by}, {start.isoformat()} to {end.isoformat()} (UTC days)"
    if not days:
        return f"{title}: none"
    names = _key_names(client) if args.by == "key" else {}
    per_day: list[list[Cell]] = [
        [
            entry["group_by_day"],
            _label(group["group"], names),
            group["requests"],
            group["total_tokens"],
            Decimal(str(group["total_spend"])),
        ]
        for entry in days
        for group in entry["groups"]
    ]
    summed: list[list[Cell]] = [
        [_label(group, names), total.requests, total.tokens, total.spend_usd]
        for group, total in sorted(totals.items(), key=lambda item: -item[1].spend_usd)
    ]
    summed.append(
        [
            "total",
            sum(total.requests for total in totals.values()),
            sum(total.tokens for total in totals.values()),
            grand,
        ]
    )
    return "\n".join(
        [
            title,
            "",
            render(["DAY", args.by.upper(), "REQUESTS", "TOKENS", "SPEND_USD"], per_day),
            "",
            render([args.by.upper(), "REQUESTS", "TOKENS", "SPEND_USD"], summed),
        ]
    )


def _start(wanted: Since, now: datetime) -> date:
    if isinstance(wanted, date):
        return wanted
    return add_duration(now, wanted, -1).date()


def _key_names(client: AdminClient) -> dict[str, str]:
    """Key token → alias (or display name), so a report by key is readable."""
    return {
        key["token"]: key.get("key_alias") or key.get("key_name") or key["token"][:12]
        for key in list_keys(client)
    }


def _label(group: str | None, names: dict[str, str]) -> str:
    if group is None:
        return "(none)"
    return names.get(group, group[:12] if is_key_hash(group) else group)

"""``Outcome``: what one request came to, filled in while it is served.

Handlers note who called, what the router answered and what it cost; when the request is over,
``GatewayApp`` hands the exchange to each of the app's finish hooks (spend records, metrics, the
access log). Hooks run after the last byte was sent, so they never delay a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

    from quotaflow.auth import Principal
    from quotaflow.errors import GatewayError
    from quotaflow.providers.base import Usage
    from quotaflow.routing.router import RoutedReply, RoutedStream

__all__ = ["Outcome"]


@dataclass(slots=True)
class Outcome:
    """The caller, the routed answer, its usage and cost, and the error if there was one."""

    principal: Principal | None = None
    model: str | None = None  # the model name the client asked for
    routed: RoutedReply | RoutedStream | None = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    error: GatewayError | None = None
    streamed: bool = False

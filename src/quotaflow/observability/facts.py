"""``RequestFacts``: one finished request, read once from its exchange for metrics, logs, traces.

The exchange and its ``Outcome`` are read here and nowhere else in this package, so the access
log, the metrics and the spans always agree. Label values are bounded here too: a model name
the gateway does not serve becomes ``unknown`` (clients choose model names, Prometheus series
must not be theirs to choose), a request that named no model ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quotaflow.errors import AllAttemptsFailed

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from decimal import Decimal

    from quotaflow.auth import Principal
    from quotaflow.errors import Attempt, GatewayError
    from quotaflow.providers.base import Usage
    from quotaflow.routing.deployment import Deployment
    from quotaflow.server.exchange import Exchange

__all__ = ["UNKNOWN", "FactReader", "RequestFacts", "status_class", "team_of"]

UNKNOWN = "unknown"  # a model name that no group serves
NONE = "none"  # the request named no model (or never got that far)

# Paths whose successes the finish hook leaves alone: probes and scrapes would drown the access
# log. Their failures (a wrong key on ``/health``) are logged and counted like any request.
QUIET_PATHS = frozenset(
    {"/metrics", "/health", "/health/liveliness", "/health/liveness", "/health/readiness"}
)

_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


@dataclass(slots=True)
class RequestFacts:
    """What one request was and came to; label values in it are bounded."""

    request_id: str
    method: str
    path: str
    status: int
    started_s: float  # monotonic, from the exchange
    duration_s: float
    operation: str  # gen_ai.operation.name: chat, text_completion, embeddings, or "" (none)
    model: str | None  # as the client wrote it: for logs and spans, never a label
    model_group: str  # the served group it resolved to, else ``unknown``/``none``
    deployment: Deployment | None  # the one that answered
    attempts: Sequence[Attempt]
    queue_s: float
    upstream_s: float
    streamed: bool
    usage: Usage | None
    cost_usd: Decimal | None
    error: GatewayError | None
    key_alias: str | None
    team: str | None
    user: str | None

    @property
    def status_class(self) -> str:
        """``2xx``, ``4xx``, …; ``unknown`` when no status was sent."""
        return status_class(self.status)

    @property
    def ttft_s(self) -> float | None:
        """For a stream: the answering attempt's time to its first chunk (``None`` otherwise).

        The router measures a stream's attempt up to its first chunk, so the last attempt's
        duration is the upstream's time to first token, queueing and earlier attempts excluded.
        """
        if not self.streamed or not self.attempts:
            return None
        return self.attempts[-1].duration_s


def status_class(status: int) -> str:
    """``2xx`` for 200…299 and so on; ``unknown`` for anything else (0: nothing sent)."""
    return _STATUS_CLASSES.get(status // 100, UNKNOWN)


def team_of(principal: Principal | None) -> tuple[str | None, str | None]:
    """The caller's team (its alias, else its id) and user id, when the principal has them."""
    if principal is None:
        return None, None
    # TODO(#7): plain attribute access once the virtual-key Principal (team, user_id) has landed.
    team = getattr(principal, "team", None)
    name = getattr(team, "team_alias", None) or getattr(team, "team_id", None)
    user = getattr(principal, "user_id", None)
    return (
        name if isinstance(name, str) else None,
        user if isinstance(user, str) else None,
    )


def _operation(path: str) -> str:
    """The GenAI operation a path stands for (``""`` for anything else)."""
    if path.endswith(("/chat/completions", "/messages", "/responses")):
        return "chat"
    if path.endswith("/embeddings"):
        return "embeddings"
    if path.endswith("/completions"):
        return "text_completion"
    return ""


class FactReader:
    """Reads ``RequestFacts`` off finished exchanges; knows the served groups and deployments."""

    def __init__(
        self,
        groups: Mapping[str, Sequence[Deployment]],
        aliases: Mapping[str, str],
    ) -> None:
        self._groups: dict[str, str] = {name: name for name in groups}
        for alias, target in aliases.items():
            if target in groups:
                self._groups.setdefault(alias, target)
        self.deployments: dict[str, Deployment] = {
            deployment.id: deployment for members in groups.values() for deployment in members
        }

    def group_of(self, model: str | None) -> str:
        """The served group a model name resolves to; ``unknown`` or ``none`` otherwise."""
        if model is None:
            return NONE
        return self._groups.get(model, UNKNOWN)

    def read(self, exchange: Exchange, now_s: float) -> RequestFacts | None:
        """The facts of a finished exchange; ``None`` for probes and scrapes that succeeded."""
        scope = exchange.scope
        path: str = scope["path"]
        if path in QUIET_PATHS and exchange.status < 400:
            return None
        outcome = exchange.outcome
        routed = outcome.routed
        error = outcome.error
        if routed is not None:
            attempts: Sequence[Attempt] = routed.attempts
            deployment: Deployment | None = routed.deployment
            queue_s, upstream_s = routed.queue_s, routed.upstream_s
        else:
            attempts = error.attempts if isinstance(error, AllAttemptsFailed) else ()
            deployment, queue_s, upstream_s = None, 0.0, sum(a.duration_s for a in attempts)
        principal = outcome.principal
        team, user = team_of(principal)
        return RequestFacts(
            request_id=exchange.request_id,
            method=scope["method"],
            path=path,
            status=exchange.status,
            started_s=exchange.started,
            duration_s=now_s - exchange.started,
            operation=_operation(path),
            model=outcome.model,
            model_group=self.group_of(outcome.model),
            deployment=deployment,
            attempts=attempts,
            queue_s=queue_s,
            upstream_s=upstream_s,
            streamed=outcome.streamed,
            usage=outcome.usage,
            cost_usd=outcome.cost_usd,
            error=error,
            key_alias=principal.key_alias if principal is not None else None,
            team=team,
            user=user,
        )

"""``Gate``: virtual keys on the model-call path — allowed models, limits, spend records.

Before a call: a model the key may not use is 404 as if it did not exist (the message lists
only the models it may use); then ``Enforcer.admit`` reserves the call's maximum cost and
counts it against every limit of key, team and user, atomically. After the call (the app's
finish hook): the reservation is settled with the true tokens and cost, in a background task,
and one ``SpendRecord`` goes to the ``SpendWriter`` — failures too, with their status and
cost 0. Nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from quotaflow.errors import AllAttemptsFailed, ModelNotFound
from quotaflow.limits.enforcer import Demand, levels_of
from quotaflow.limits.periods import utc
from quotaflow.routing.estimate import arrival_tokens, prompt_chars
from quotaflow.store.records import SpendRecord

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable

    from quotaflow.auth import Principal
    from quotaflow.clock import Clock
    from quotaflow.limits import Enforcer, Ticket
    from quotaflow.routing.deployment import Deployment
    from quotaflow.routing.router import Call, Router
    from quotaflow.server.exchange import Exchange
    from quotaflow.store.spend_writer import SpendWriter

__all__ = ["Gate"]

logger = logging.getLogger("quotaflow.limits")

_ZERO = Decimal(0)
_CLIENT_GONE = 499  # the client left before an answer was sent


class Gate:
    """Checks a key's model calls before they are routed and accounts for them after."""

    def __init__(
        self,
        router: Router,
        clock: Clock,
        *,
        enforcer: Enforcer | None,
        spend: SpendWriter | None,
        default_max_tokens: int,
    ) -> None:
        self._router = router
        self._clock = clock
        self._enforcer = enforcer
        self._spend = spend
        self._default_max_tokens = default_max_tokens
        self._deployments: dict[str, Deployment] = {
            d.id: d for group in router.groups.values() for d in group.deployments
        }
        self._tickets: dict[int, Ticket] = {}  # by id(exchange) until its finish hook
        self._tasks: set[asyncio.Task[None]] = set()
        self._prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)

    def group_for(self, principal: Principal | None, model: str) -> str:
        """The model group ``model`` names; 404 if it does not exist or the key may not use it."""
        restricted = principal is not None and principal.models is not None
        try:
            group = self._router.group(model).name
        except ModelNotFound:
            if not restricted:
                raise
            group = None
        if (
            principal is not None
            and restricted
            and (group is None or not (principal.may_use(group) or principal.may_use(model)))
        ):
            known = ", ".join(self.visible(principal, self._router.model_names)) or "none"
            raise ModelNotFound(
                f"The model '{model}' does not exist. Available models: {known}.", param="model"
            )
        return group or model

    def visible(self, principal: Principal | None, names: Iterable[str]) -> list[str]:
        """The model names the caller may see."""
        if principal is None or principal.models is None:
            return list(names)
        return [name for name in names if principal.may_use(name)]

    async def admit(self, exchange: Exchange, call: Call) -> None:
        """Check the call against the key's models and limits; raise if it may not go ahead."""
        principal = exchange.outcome.principal
        if principal is None or principal.key is None:
            return  # the master key, or an open gateway: no limits
        group = self.group_for(principal, call.model)
        if self._enforcer is None:
            return
        prompt = math.ceil(prompt_chars(call.op, call.payload) / 4)
        total = arrival_tokens(call.op, call.payload, self._default_max_tokens)
        demand = Demand(f"{self._prefix}{next(self._ids):x}", group, prompt, total - prompt)
        levels = levels_of(principal.key, principal.team, principal.user)
        admitted = await self._enforcer.admit(levels, demand)
        if admitted is not None:
            self._tickets[id(exchange)] = admitted.ticket
            exchange.response_headers.extend(admitted.headers)

    def finish(self, exchange: Exchange) -> None:
        """Finish hook: settle the call's reservation and submit its spend record."""
        outcome = exchange.outcome
        usage = outcome.usage
        cost = outcome.cost_usd if outcome.cost_usd is not None else _ZERO
        ticket = self._tickets.pop(id(exchange), None)
        if ticket is not None and self._enforcer is not None:
            tokens = usage.prompt_tokens + usage.completion_tokens if usage is not None else 0
            self._spawn(self._enforcer.settle(ticket, tokens, cost))
        if self._spend is not None and outcome.model is not None and outcome.principal is not None:
            try:
                self._spend.submit(self._record(exchange, cost))
            except RuntimeError:
                logger.warning("spend record for request %s after shutdown", exchange.request_id)

    async def drain(self) -> None:
        """Wait for the settlements in flight (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _record(self, exchange: Exchange, cost: Decimal) -> SpendRecord:
        # Once per request, on the event loop: plain attribute reads, positional arguments.
        outcome = exchange.outcome
        principal, usage = outcome.principal, outcome.usage
        deployment = self._deployment(exchange)
        elapsed_s = max(self._clock.monotonic() - exchange.started, 0.0)
        ended_s = self._clock.wall()
        if principal is None or principal.key is None:  # the master key: no key, team, user
            key_hash = key_alias = team_id = user_id = None
        else:
            key_hash, key_alias = principal.key_hash, principal.key_alias
            team_id, user_id = principal.team_id, principal.user_id
        group: str | None
        deployment_id: str | None = None
        provider: str | None = None
        if deployment is not None:
            group, deployment_id = deployment.model_group, deployment.id
            provider = deployment.provider
        else:
            group = self._group_name(outcome.model)
        prompt = completion = cached = 0
        if usage is not None:
            prompt, completion, cached = (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
            )
        return SpendRecord(
            self._record_id(exchange),
            utc(ended_s - elapsed_s),
            utc(ended_s),
            cost,
            key_hash,
            key_alias,
            team_id,
            user_id,
            group,
            deployment_id,
            provider,
            prompt,
            completion,
            cached,
            round(elapsed_s * 1000, 3),
            _status(exchange),
        )

    def _deployment(self, exchange: Exchange) -> Deployment | None:
        outcome = exchange.outcome
        if outcome.routed is not None:
            return outcome.routed.deployment
        error = outcome.error
        if isinstance(error, AllAttemptsFailed) and error.attempts:
            return self._deployments.get(error.attempts[-1].deployment_id)
        return None

    def _group_name(self, model: str | None) -> str | None:
        if model is None:
            return None
        try:
            return self._router.group(model).name
        except ModelNotFound:
            return model

    def _record_id(self, exchange: Exchange) -> str:
        """The request id, made unique when the client chose it (clients may reuse theirs)."""
        if b"x-request-id" in exchange.headers and (
            exchange.header(b"x-request-id") == exchange.request_id
        ):
            return f"{exchange.request_id}~{self._prefix}{next(self._ids):x}"
        return exchange.request_id

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("settling a call failed: %r", task.exception())


def _status(exchange: Exchange) -> int:
    if exchange.status:
        return exchange.status
    error = exchange.outcome.error
    return error.status if error is not None else _CLIENT_GONE

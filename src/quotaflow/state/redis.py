"""``RedisState``: the fleet's leases, windows, cooldowns and latency in one Redis.

Every claim is one atomic script (``lua/claim.lua``) that refuses or charges the deployment and
returns the fleet's view of the whole group, which the strategies then read locally; every
release is one more script, sent in the background after the call. A heartbeat renews this
replica's leases (so the calls of a replica that died stop counting once their lease expires),
counts the live replicas and publishes the admission queue.

Redis is never a single point of failure: each call to it has a short timeout, and when one
fails the replica decides alone on its local windows with ``1 / replicas`` of every quota,
reports itself degraded, and says so once in the log. The heartbeat keeps probing; when Redis
answers again, what the replica did meanwhile is handed over (``lua/rejoin.lua``) and shared
decisions resume. No client call ever waits on Redis for longer than ``redis_timeout``, and
while degraded none waits on it at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import uuid
from importlib import resources
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from quotaflow._background import stop
from quotaflow.state._pipeline import ScriptPipeline
from quotaflow.state.base import Claim, StateStatus, StateUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from quotaflow.clock import Clock
    from quotaflow.config import RouterSettings
    from quotaflow.errors import UpstreamError
    from quotaflow.routing.deployment import Deployment
    from quotaflow.state.local import LocalState

__all__ = ["RedisState", "redis_client"]

logger = logging.getLogger("quotaflow.state")

_FAILURES = (RedisError, OSError, TimeoutError)
_MAX_HEARTBEAT_S = 1.0
_SOLO_MEMORY_S = 60.0  # a call sent while degraded still counts in the windows this long


def redis_client(settings: RouterSettings) -> aioredis.Redis:
    """A client for ``redis_url`` or ``redis_host``, with short timeouts and no retries."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }
    if settings.redis_url is not None:
        return aioredis.Redis.from_url(settings.redis_url.get_secret_value(), **options)
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return aioredis.Redis(
        host=settings.redis_host or "127.0.0.1",
        port=settings.redis_port,
        password=password,
        db=settings.redis_db,
        ssl=settings.redis_ssl,
        **options,
    )


def _script(name: str) -> str:
    return resources.files("quotaflow.state").joinpath("lua", name).read_text()


class RedisState:
    """Shared state for a fleet of replicas; ``health``/``usage`` are this replica's view."""

    def __init__(
        self,
        client: aioredis.Redis,
        local: LocalState,
        settings: RouterSettings,
        clock: Clock,
    ) -> None:
        self._redis = client
        self._local = local
        self._clock = clock
        self.health = local.health
        self.usage = local.usage
        self._prefix = "{" + settings.redis_key_prefix + "}:"
        self._timeout_s = settings.redis_timeout
        self._ttl_ms = int(settings.state_lease_seconds * 1000)
        self._replica = uuid.uuid4().hex[:12]
        self._leases = itertools.count(1)
        self._claim = client.register_script(_script("claim.lua"))
        self._release = client.register_script(_script("release.lua"))
        self._heartbeat = client.register_script(_script("heartbeat.lua"))
        self._rejoin = client.register_script(_script("rejoin.lua"))
        self._leave = client.register_script(_script("leave.lua"))
        self._open: dict[str, Claim] = {}  # claims whose lease is held, by lease id
        self._solo: list[Claim] = []  # claims made while degraded, to hand over on rejoin
        self._hints_sent: dict[str, float] = {}
        self._pipeline = ScriptPipeline(client)
        self._tasks: set[asyncio.Future[Any]] = set()  # releases on their way
        self._beat: asyncio.Task[None] | None = None
        self._degraded = False
        self._replicas = 1
        self._fleet_waiting = 0
        self._queue_waiting: Callable[[], int] = lambda: 0
        self._rejoin_hooks: list[Callable[[], Awaitable[None]]] = []
        self._rejoining = False
        self.last_error = ""

    @property
    def degraded(self) -> bool:
        """Whether the replica decides alone because Redis did not answer."""
        return self._degraded

    @property
    def replicas(self) -> int:
        """Live replicas last seen, this one included."""
        return self._replicas

    def script(self, source: str) -> Callable[[Sequence[str | int]], Awaitable[Any]]:
        """See ``SharedScripts.script``."""
        registered = self._redis.register_script(source)

        async def run(args: Sequence[str | int]) -> Any:
            if self._degraded and not self._rejoining:
                raise StateUnavailable(self.last_error)
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._pipeline.call(registered, [self._prefix, *args])
            except _FAILURES as error:
                self._degrade(error)
                raise StateUnavailable(self.last_error) from error

        return run

    def shared(self) -> RedisState:
        """See ``StateBackend.shared``: this backend runs the fleet's scripts."""
        return self

    def on_rejoin(self, hook: Callable[[], Awaitable[None]]) -> None:
        """See ``SharedScripts.on_rejoin``."""
        self._rejoin_hooks.append(hook)

    def watch_queue(self, waiting: Callable[[], int]) -> None:
        """Publish ``waiting()`` (calls in this replica's admission queue) with each heartbeat."""
        self._queue_waiting = waiting

    async def start(self) -> None:
        """Join the fleet (or start degraded if Redis does not answer) and start the heartbeat."""
        await self._tick()
        self._beat = asyncio.get_running_loop().create_task(self._beat_forever())

    async def claim(
        self,
        deployment: Deployment,
        peers: Sequence[Deployment],
        tokens: int,
        *,
        enforce: bool,
        least_busy: Sequence[Deployment] = (),
    ) -> Claim | None:
        """See ``StateBackend.claim``: one atomic round trip, or a local decision if degraded."""
        lease = f"{self._replica}:{next(self._leases)}"
        if self._degraded:
            return self._claim_alone(deployment, tokens, lease, enforce=enforce)
        if not any(peer is deployment for peer in peers):
            peers = [*peers, deployment]
        chosen = next(i for i, peer in enumerate(peers, start=1) if peer is deployment)
        candidates = {id(d) for d in least_busy}
        args: list[str | int] = [
            self._prefix, chosen, lease, tokens, int(enforce), self._ttl_ms, int(bool(candidates))
        ]  # fmt: skip
        for peer in peers:
            args += [peer.id, *self._limits(peer), int(id(peer) in candidates)]
        # Counted at once, so that calls choosing while this one waits on Redis see it.
        self.health.acquire(deployment.id)
        try:
            async with asyncio.timeout(self._timeout_s):
                reply = await self._pipeline.call(self._claim, args)
        except _FAILURES as error:
            self.health.release(deployment.id)
            self._degrade(error)
            return self._claim_alone(deployment, tokens, lease, enforce=enforce)
        except BaseException:
            self.health.release(deployment.id)
            raise
        granted, wait_ms, taken = int(reply[0]), int(reply[1]), peers[int(reply[2]) - 1]
        if taken is not deployment:  # the fleet's least busy candidate, not the one guessed
            self.health.release(deployment.id)
            self.health.acquire(taken.id)
            deployment = taken
        claim = None
        if granted:
            self.usage.charge(deployment, tokens)
            claim = Claim(deployment, tokens, lease, shared=True, claimed_at=self._now())
            self._open[lease] = claim
        else:
            self.health.release(deployment.id)
            self.usage.block(deployment.id, math.inf if wait_ms < 0 else wait_ms / 1000)
        self._merge(peers, reply[3:])
        return claim

    def settle(
        self,
        claim: Claim,
        error: UpstreamError | None = None,
        *,
        latency_s: float | None = None,
        sent: bool = True,
    ) -> None:
        """See ``StateBackend.settle``: recorded locally now, shared with the release."""
        self._local.settle(claim, error, latency_s=latency_s, sent=sent)

    def release(self, claim: Claim) -> None:
        """See ``StateBackend.release``: the shared release runs in the background."""
        self._local.release(claim)
        if self._open.pop(claim.lease, None) is None or self._degraded:
            return
        sent = self._pipeline.call(self._release, self._release_args(claim))
        self._tasks.add(sent)
        sent.add_done_callback(self._released)

    def status(self) -> StateStatus:
        """Redis, degraded or not, and the fleet as last seen."""
        return StateStatus(
            "redis",
            degraded=self._degraded,
            replicas=self._replicas,
            fleet_waiting=self._fleet_waiting,
            detail=self.last_error if self._degraded else "",
        )

    async def aclose(self) -> None:
        """Stop the heartbeat, finish pending releases, leave the fleet, close the client."""
        if self._beat is not None:
            await stop(self._beat)
        if self._tasks:  # releases on their way: they end within the timeout, or never
            await asyncio.wait(self._tasks, timeout=self._timeout_s * 4)
        await self._pipeline.aclose(self._timeout_s * 4)
        if not self._degraded:
            held = [part for c in self._open.values() for part in (c.deployment.id, c.lease)]
            with contextlib.suppress(*_FAILURES):
                async with asyncio.timeout(self._timeout_s * 4):
                    await self._leave(args=[self._prefix, self._replica, *held])
        await self._redis.aclose()

    # -- internals -------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.monotonic()

    @staticmethod
    def _limits(deployment: Deployment) -> tuple[int, int]:
        request_limit = -1 if deployment.rpm is None else math.ceil(deployment.rpm / 6)
        token_limit = -1 if deployment.tpm is None else deployment.tpm
        return request_limit, token_limit

    def _merge(self, peers: Sequence[Deployment], values: Sequence[Any]) -> None:
        for index, peer in enumerate(peers):
            in_flight, cooling_ms, requests, tokens, latency_us = (
                int(v) for v in values[5 * index : 5 * index + 5]
            )
            latency_s = latency_us / 1e6 if latency_us >= 0 else None
            self.health.merge_fleet(peer.id, in_flight, cooling_ms / 1000, latency_s)
            self.usage.merge_fleet(peer.id, requests, tokens)

    def _claim_alone(
        self, deployment: Deployment, tokens: int, lease: str, *, enforce: bool
    ) -> Claim | None:
        claim = self._local.claim_now(deployment, tokens, enforce=enforce)
        if claim is not None:
            claim.lease = lease
            self._solo.append(claim)
            self._open[lease] = claim
        return claim

    def _released(self, sent: asyncio.Future[Any]) -> None:
        self._tasks.discard(sent)
        error = None if sent.cancelled() else sent.exception()
        if error is not None:
            # The lease is no longer renewed, so it expires within state_lease_seconds.
            self._degrade(error)

    def _release_args(self, claim: Claim) -> list[str | int]:
        deployment_id = claim.deployment.id
        latency_us = -1 if claim.latency_s is None else int(claim.latency_s * 1e6)
        hint_args: list[int] = [-1, -1, 0]
        requests, tokens, until = self.usage.hint(deployment_id)
        if until > self._hints_sent.get(deployment_id, 0.0):
            self._hints_sent[deployment_id] = until
            ttl_ms = int((until - self._now()) * 1000)
            hint_args = [
                -1 if requests is None else requests,
                -1 if tokens is None else tokens,
                max(ttl_ms, 0),
            ]
        return [
            self._prefix,
            deployment_id,
            claim.lease,
            claim.tokens,
            int(claim.refund),
            int(claim.cooldown_s * 1000),
            latency_us,
            *hint_args,
        ]

    def _degrade(self, error: BaseException) -> None:
        if self._degraded:
            return
        self._degraded = True
        self.last_error = f"{type(error).__name__}: {error}"
        self.health.forget_fleet()
        self.usage.forget_fleet()
        self.usage.share = 1.0 / max(1, self._replicas)
        logger.warning(
            "Redis unreachable (%s); deciding alone with 1/%d of each quota until it is back",
            self.last_error,
            self._replicas,
        )

    async def _beat_forever(self) -> None:
        interval = min(_MAX_HEARTBEAT_S, self._ttl_ms / 3000)
        while True:
            await asyncio.sleep(interval)
            await self._tick()

    async def _tick(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s * 4):
                if self._degraded:
                    # Connections from before the outage may be dead: start afresh.
                    await self._redis.connection_pool.disconnect()
                    await self._pipeline.reset()
                    await self._hand_over()
                    self._rejoining = True
                    try:
                        for hook in self._rejoin_hooks:
                            await hook()
                    finally:
                        self._rejoining = False
                held = [
                    part
                    for claim in self._open.values()
                    if claim.shared
                    for part in (claim.deployment.id, claim.lease)
                ]
                replicas, waiting = await self._heartbeat(
                    args=[self._prefix, self._replica, self._ttl_ms, self._queue_waiting(), *held]
                )
        except _FAILURES as error:
            self._degrade(error)
            return
        except StateUnavailable:
            return  # a rejoin hook found Redis gone again: stay degraded, try next beat
        self._replicas, self._fleet_waiting = int(replicas), int(waiting)
        if self._degraded:
            self._degraded = False
            self.usage.share = 1.0
            logger.warning("Redis is back; shared decisions resume")

    async def _hand_over(self) -> None:
        """Tell Redis what this replica sent and still holds while it decided alone."""
        now = self._now()
        taken, self._solo = self._solo, []
        recent = [c for c in taken if now - c.claimed_at < _SOLO_MEMORY_S]
        args: list[str | int] = [self._prefix, self._replica, self._ttl_ms]
        for claim in recent:
            held = claim.lease in self._open
            windowed = claim.deployment.rpm is not None or claim.deployment.tpm is not None
            flags = int(held) | (2 if windowed and not claim.refund else 0)
            age_ms = int((now - claim.claimed_at) * 1000)
            args += [claim.deployment.id, claim.lease, claim.tokens, age_ms, flags]
        try:
            await self._rejoin(args=args)
        except BaseException:
            self._solo = taken + self._solo
            raise
        for claim in recent:
            claim.shared = True

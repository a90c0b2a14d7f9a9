"""Running one strategy: fake regions that enforce their quotas, the real router, open-loop load.

Everything shares one ``ScaledClock``: the fakes' quota windows, latencies and stream gaps, the
router's cooldowns and queue, and the arrivals, so minutes of traffic take seconds. Each region
is a fake Azure OpenAI app behind ``Upstream``, which adds the sampled latency, resets every
connection during an outage, and logs what the router's calls got. Each arrival is one task
calling ``Router.complete`` or ``Router.stream`` directly (no gateway HTTP in between); its
outcome is a ``RequestRecord``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quotaflow.app import build_router
from quotaflow.clock import ScaledClock
from quotaflow.config import load_settings
from quotaflow.errors import GatewayError
from quotaflow.fake import FakeProviderConfig, create_fake_app
from quotaflow.fake.faults import cut_connection
from quotaflow.providers import UpstreamClient
from quotaflow.providers.base import Operation
from quotaflow.routing import Call
from quotaflow.serving import serve_app
from quotaflow.simulator.scenario import MODEL, gateway_config

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from quotaflow.fake import FakeProvider
    from quotaflow.routing import RoutedReply, RoutedStream, Router
    from quotaflow.simulator.scenario import DeploymentSpec, Scenario

    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

__all__ = [
    "RESET",
    "UNFINISHED",
    "Job",
    "RequestRecord",
    "RunResult",
    "Timeline",
    "Upstream",
    "UpstreamEvent",
    "plan",
    "run_strategy",
]

RESET: int = 0
"""``UpstreamEvent.status`` of a connection reset (an outage)."""

UNFINISHED: int = 0
"""``RequestRecord.status`` of a request still running when the drain time ran out."""

_WORD = "lorem "  # 6 characters: the fake charges ceil(chars / 4) for the prompt


@dataclass(frozen=True, slots=True)
class Job:
    """One arrival: when (virtual seconds from the start) and what it asks for."""

    at_s: float
    prompt_tokens: int
    max_tokens: int
    stream: bool

    @property
    def charge(self) -> int:
        """Tokens the fake charges on arrival: the prompt's estimate plus ``max_tokens``."""
        return self.prompt_tokens + self.max_tokens

    def payload(self) -> dict[str, Any]:
        """The chat request body; its content is exactly ``4 * prompt_tokens`` characters."""
        chars = 4 * self.prompt_tokens
        text = (_WORD * (chars // len(_WORD) + 1))[:chars]
        body: dict[str, Any] = {
            "model": MODEL,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": self.max_tokens,
        }
        if self.stream:
            body["stream"] = True
        return body


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What one client request saw; times are virtual seconds from the start of the run.

    ``status`` is 200, the ``GatewayError``'s status, or ``UNFINISHED``.
    """

    job: Job
    end_s: float
    status: int
    retry_after: bool = False
    deployment: str | None = None
    attempts: int = 0
    queue_s: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the request was answered in full."""
        return self.status == 200

    @property
    def latency_s(self) -> float:
        """From arrival to the last byte (or the error)."""
        return self.end_s - self.job.at_s


@dataclass(frozen=True, slots=True)
class UpstreamEvent:
    """One call the router made to a region.

    When (virtual seconds), the status (``RESET`` for a connection reset), and the tokens the
    region charged for it (none for a refusal).
    """

    t_s: float
    deployment: str
    status: int
    tokens: int = 0


@dataclass(slots=True)
class RunResult:
    """Everything one strategy's run produced."""

    scenario: Scenario
    strategy: str
    requests: list[RequestRecord] = field(default_factory=list)
    upstream: list[UpstreamEvent] = field(default_factory=list)
    wall_s: float = 0.0


def plan(scenario: Scenario) -> list[Job]:
    """The arrivals, phase by phase: Poisson at each phase's rate, seeded by ``scenario.seed``."""
    rng = random.Random(scenario.seed)
    load = scenario.load
    jobs: list[Job] = []
    start = 0.0
    for phase in load.phases:
        rate, end = scenario.rate_of(phase), start + phase.duration_s
        t = start + rng.expovariate(rate) if rate > 0 else end
        while t < end:
            stream = rng.random() < load.stream_share
            prompt = round(load.prompt_tokens.sample(rng))
            jobs.append(Job(t, prompt, round(load.max_tokens.sample(rng)), stream))
            t += rng.expovariate(rate)
        start = end
    return jobs


class Timeline:
    """Virtual seconds since the run started, on the run's one clock."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self._origin = clock.monotonic()

    def start(self) -> None:
        """Make now time zero."""
        self._origin = self.clock.monotonic()

    def now_s(self) -> float:
        """Virtual seconds since ``start``."""
        return self.clock.monotonic() - self._origin


class Upstream:
    """A fake region as the router meets it: sampled latency, outages, and a log of calls."""

    def __init__(
        self, spec: DeploymentSpec, timeline: Timeline, events: list[UpstreamEvent], seed: int
    ) -> None:
        self.spec = spec
        self.fake: FakeProvider = create_fake_app(
            FakeProviderConfig(
                flavor="azure",
                api_key=f"sim-key-{spec.id}",
                region=spec.region,
                tpm=spec.tpm,
                rpm=spec.request_quota,
                inter_chunk_ms=spec.inter_chunk_ms,
            ),
            timeline.clock,
        )
        self._timeline = timeline
        self._events = events
        self._rng = random.Random(f"{seed}/{spec.id}")
        self._charged = 0

    def start(self) -> None:
        """The run starts: quota windows from now, nothing charged yet."""
        self.fake.reset()
        self._charged = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        """ASGI: reset the connection while down, else let the fake answer, late."""
        if scope["type"] != "http":
            await self.fake(scope, receive, send)
            return
        _no_delay(send)
        if self.spec.down_at(self._timeline.now_s()):
            self._log(RESET)
            await _drain(receive)
            await cut_connection(receive, send, flush=False)
            return
        await self.fake(scope, receive, _Answer(self, send).send)

    async def answering(self, status: int) -> None:
        """The fake starts an answer: log it, and hold a success back for the latency."""
        self._log(status)
        if status == 200:
            await self._timeline.clock.sleep(self.spec.latency_ms.sample(self._rng) / 1000)

    def _log(self, status: int) -> None:
        # The fake charged this call (if it did) just before answering, with no await between.
        charged = self.fake.stats.tokens_charged
        event = UpstreamEvent(self._timeline.now_s(), self.spec.id, status, charged - self._charged)
        self._charged = charged
        self._events.append(event)


class _Answer:
    """Wraps ASGI ``send`` so that ``Upstream`` sees the start of each answer.

    Keeps the server's ``transport`` reachable: the fake's ``cut_connection`` looks for it.
    """

    def __init__(self, upstream: Upstream, send: Send) -> None:
        self._upstream = upstream
        self._send = send
        self.transport = getattr(getattr(send, "__self__", None), "transport", None)

    async def send(self, message: Message) -> None:
        """Forward ``message``, after the latency if it starts a success."""
        if message["type"] == "http.response.start":
            await self._upstream.answering(int(message["status"]))
        await self._send(message)


async def run_strategy(
    scenario: Scenario, strategy: str, *, speed: float | None = None
) -> RunResult:
    """Run the scenario's load through the real router with ``strategy``."""
    timeline = Timeline(ScaledClock(speed or scenario.speed))
    result = RunResult(scenario, strategy)
    upstreams = [
        Upstream(d, timeline, result.upstream, scenario.seed) for d in scenario.deployments
    ]
    began = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        urls = {u.spec.id: await stack.enter_async_context(serve_app(u)) for u in upstreams}
        loaded = load_settings(data=gateway_config(scenario, strategy, urls), environ={})
        client = await stack.enter_async_context(UpstreamClient())
        router = build_router(
            loaded.settings, client, clock=timeline.clock, rng=random.Random(scenario.seed)
        )
        timeline.start()
        for upstream in upstreams:
            upstream.start()
        result.requests = await _drive(router, plan(scenario), timeline, scenario.drain_s)
    result.wall_s = time.perf_counter() - began
    return result


async def _drive(
    router: Router, jobs: list[Job], timeline: Timeline, drain_s: float
) -> list[RequestRecord]:
    """Start each job at its time; give stragglers ``drain_s`` after the last arrival."""
    tasks: dict[asyncio.Task[RequestRecord], Job] = {}
    for job in jobs:
        wait_s = job.at_s - timeline.now_s()
        if wait_s > 0:
            await timeline.clock.sleep(wait_s)
        tasks[asyncio.create_task(_request(router, job, timeline))] = job
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=drain_s / timeline.clock.speed)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return [
        RequestRecord(job, timeline.now_s(), UNFINISHED) if task.cancelled() else task.result()
        for task, job in tasks.items()
    ]


async def _request(router: Router, job: Job, timeline: Timeline) -> RequestRecord:
    """Send one job through the router and read its answer to the end."""
    call = Call(Operation.CHAT, MODEL, job.payload())
    routed: RoutedReply | RoutedStream
    try:
        if job.stream:
            routed = await router.stream(call)
            try:
                async for _ in routed.rest:
                    pass
            finally:
                await routed.aclose()
        else:
            routed = await router.complete(call)
    except GatewayError as error:
        return RequestRecord(job, timeline.now_s(), error.status, "retry-after" in error.headers)
    queue_s = getattr(routed, "queue_s", None)  # routers with an admission queue set it
    return RequestRecord(
        job,
        timeline.now_s(),
        200,
        deployment=routed.deployment.id,
        attempts=len(routed.attempts),
        queue_s=float(queue_s) if isinstance(queue_s, int | float) else None,
    )


def _no_delay(send: Send) -> None:
    """Turn Nagle's algorithm off for this connection.

    The fake writes an answer's head and body apart; with Nagle on, the body waits for the
    client's delayed ACK: 40 ms of real time, which a scaled clock turns into seconds.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _drain(receive: Receive) -> None:
    """Read the request body to its end."""
    while (await receive()).get("more_body", False):
        pass

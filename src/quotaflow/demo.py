"""``quotaflow demo``: two fake Azure OpenAI regions behind the gateway, driven by the openai SDK.

No API keys, no internet, one process and one event loop:

1. two fake Azure regions start on 127.0.0.1, with token quotas sized from the planned traffic:
   more than one region can serve alone, less than both together;
2. the gateway starts in front of them from a config in LiteLLM's exact format, shown first;
3. ``concurrency`` workers send ``requests`` chat completions (one in five streamed) over about
   ``duration_s`` seconds through the official ``openai`` SDK, with its own retries off, reading
   ``x-quotaflow-deployment`` and ``x-quotaflow-attempts`` from every answer;
4. a live panel (a progress line when the output is not a terminal) shows the spread over the
   regions, upstream 429s, in-flight calls and cooldowns; a summary closes the run.

Exit code: 0 when every request succeeded, 1 otherwise, 2 without the ``openai`` package.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from quotaflow._demo_view import DemoResult, LiveView, RegionState, Snapshot, summary_text
from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.fake import FakeProviderConfig, create_fake_app
from quotaflow.serving import quiet_loggers, serve_app

if TYPE_CHECKING:
    from collections.abc import Callable

    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from quotaflow.fake import FakeProvider
    from quotaflow.server import GatewayApp

__all__ = ["demo", "gateway_config", "plan", "run_demo"]

MODEL = "gpt-4-preview"
MASTER_KEY = "sk-demo-master"
API_VERSION = "2024-02-15-preview"
DEFAULT_DURATION_S = 10.0  # the burst's arrivals spread over this long, so one can watch it
_MIN_RATE = 10.0  # requests per second: fewer requests get a shorter burst
_GUARD_S = 45.0  # on top of duration_s: the router gives up on a call after 30 s
_CLIENT_TIMEOUT_S = 40.0
_SYSTEM = "You are a concise assistant for an online shop."
_PROMPTS = (
    "Summarise our refund policy for a customer in two sentences.",
    "Translate 'your invoice is overdue' into Swedish and French.",
    "Write a haiku about rate limits.",
    "Explain in one paragraph why a 429 is not an outage.",
    "List three ways to cut the token usage of a chat app.",
)
_MAX_TOKENS = (300, 400, 500)
_STREAM_EVERY = 5  # one request in five is streamed
_CHATTY_LOGGERS = ("uvicorn", "uvicorn.error", "httpx", "httpx2", "openai")
_INSTALL_HINT = "quotaflow demo needs the openai SDK: pip install 'quotaflow[demo]'\n"


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """A fake region: its name, how fast it answers, and its token quota as a share of demand."""

    name: str
    azure_region: str
    latency_ms: float
    inter_chunk_ms: float
    quota_share: float  # its TPM as a fraction of the tokens the whole burst asks for


# sweden is faster, so least-busy favours it, and has the smaller quota, so it runs out first;
# either alone is short of the burst (0.4 and 0.8 of it), both together exceed it (1.2).
REGIONS = (
    RegionSpec("sweden", "swedencentral", latency_ms=40.0, inter_chunk_ms=3.0, quota_share=0.4),
    RegionSpec("france", "francecentral", latency_ms=75.0, inter_chunk_ms=5.0, quota_share=0.8),
)


@dataclass(frozen=True, slots=True)
class Job:
    """One chat completion to send."""

    index: int
    prompt: str
    max_tokens: int
    stream: bool

    @property
    def charge(self) -> int:
        """Tokens an Azure region charges on arrival: ``ceil(prompt chars / 4) + max_tokens``."""
        return math.ceil((len(_SYSTEM) + len(self.prompt)) / 4) + self.max_tokens


def plan(requests: int) -> list[Job]:
    """The requests to send: a deterministic mix of prompts, sizes and streaming."""
    return [
        Job(
            index=i,
            prompt=_PROMPTS[i % len(_PROMPTS)],
            max_tokens=_MAX_TOKENS[i % len(_MAX_TOKENS)],
            stream=i % _STREAM_EVERY == _STREAM_EVERY - 1,
        )
        for i in range(requests)
    ]


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def region_config(spec: RegionSpec, jobs: list[Job]) -> FakeProviderConfig:
    """The fake region's settings: a TPM budget sized from the plan, an RPM that never binds."""
    demand = sum(job.charge for job in jobs)
    largest = max((job.charge for job in jobs), default=0)
    return FakeProviderConfig(
        flavor="azure",
        api_key=f"demo-key-{spec.name}",
        region=spec.azure_region,
        tpm=_round_up(max(spec.quota_share * demand, 2 * largest), 1000),
        rpm=_round_up(6 * len(jobs), 600),  # ceil(rpm / 6) per 10 s: the whole burst fits
        latency_ms=spec.latency_ms,
        inter_chunk_ms=spec.inter_chunk_ms,
    )


@dataclass(slots=True)
class Region:
    """A running fake region."""

    spec: RegionSpec
    fake: FakeProvider
    url: str

    @property
    def tpm(self) -> int:
        """Its token quota per minute."""
        return self.fake.config.tpm or 0


def gateway_config(regions: list[Region]) -> dict[str, Any]:
    """The gateway's config, in LiteLLM's ``config.yaml`` format."""
    return {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"azure/{MODEL}",
                    "api_base": region.url,
                    "api_key": f"demo-key-{region.spec.name}",
                    "api_version": API_VERSION,
                },
                "model_info": {"id": region.spec.name},
            }
            for region in regions
        ],
        "router_settings": {"routing_strategy": "least-busy", "num_retries": 2, "timeout": 30},
        "general_settings": {"master_key": MASTER_KEY},
    }


def _intro(
    regions: list[Region],
    mapping: dict[str, Any],
    jobs: list[Job],
    concurrency: int,
    duration_s: float,
) -> str:
    """What is about to happen: the regions, the gateway's config, the burst and its demand."""
    demand = sum(job.charge for job in jobs)
    combined = sum(region.tpm for region in regions)
    smallest = min(regions, key=lambda region: region.tpm)
    config = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
    rows = "".join(
        f"  {r.spec.name:<7} {r.url:<24} {r.tpm:>8,} TPM  {r.fake.config.rpm or 0:>6,} RPM"
        f"  ~{r.spec.latency_ms:.0f} ms\n"
        for r in regions
    )
    streamed = sum(job.stream for job in jobs)
    return (
        "quotaflow demo: two fake Azure OpenAI regions behind one gateway;"
        " no API keys, no internet.\n\n"
        f"{rows}\nThe gateway's config, in LiteLLM's config.yaml format:\n\n"
        + "".join(f"    {line}\n" for line in config.splitlines())
        + f"\nSending {len(jobs)} chat completions ({streamed} streamed) over ~{duration_s:.1f} s,"
        f" up to {concurrency} at a time,\nwith the official openai SDK, its own retries off so"
        f" that every error would show.\nTogether they ask for ~{demand:,} tokens of quota within"
        f" one minute: more than\n{smallest.spec.name}'s {smallest.tpm:,} TPM, less than both"
        f" regions together ({combined:,} TPM).\n\n"
    )


@dataclass(slots=True)
class Tally:
    """What the client saw, request by request."""

    started: float
    sent: int = 0
    ok: int = 0
    retried: int = 0
    served: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    first_retry_s: float | None = None

    def success(self, deployment: str, attempts: int, latency_s: float) -> None:
        """Count one request answered by ``deployment`` after ``attempts`` upstream attempts."""
        self.ok += 1
        self.served[deployment] += 1
        self.latencies_s.append(latency_s)
        if attempts > 1:
            self.retried += 1
            if self.first_retry_s is None:
                self.first_retry_s = time.perf_counter() - self.started


def _messages(job: Job) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": job.prompt}]


async def _call(client: openai.AsyncOpenAI, job: Job) -> tuple[str, int]:
    """Send one request and read it to the end; returns the region and the attempts it took."""
    completions = client.chat.completions.with_raw_response
    if job.stream:
        streamed = await completions.create(
            model=MODEL, messages=_messages(job), max_tokens=job.max_tokens, stream=True
        )
        async with streamed.parse() as chunks:
            async for _ in chunks:
                pass
        headers = streamed.headers
    else:
        answered = await completions.create(
            model=MODEL, messages=_messages(job), max_tokens=job.max_tokens
        )
        answered.parse()
        headers = answered.headers
    return headers.get("x-quotaflow-deployment", "?"), int(headers.get("x-quotaflow-attempts", 1))


def client_errors() -> tuple[type[Exception], ...]:
    """What a failed SDK call may raise: ``openai.APIError``, or its HTTP library's errors
    (``httpx2`` for openai 3.x, ``httpx`` before), which escape while a stream is read."""
    import openai  # noqa: PLC0415 - optional dependency, checked by run_demo

    errors: list[type[Exception]] = [openai.APIError]
    for name in ("httpx2", "httpx"):
        if importlib.util.find_spec(name) is not None:
            errors.append(importlib.import_module(name).HTTPError)
    return tuple(errors)


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    prefix = f"HTTP {status}" if isinstance(status, int) else type(error).__name__
    message = str(getattr(error, "message", error)).replace("\n", " ")
    return f"{prefix}: {message[:70]}"


async def _one(
    client: openai.AsyncOpenAI, job: Job, tally: Tally, errors: tuple[type[Exception], ...]
) -> None:
    tally.sent += 1
    began = time.perf_counter()
    try:
        deployment, attempts = await _call(client, job)
    except errors as error:
        tally.errors[_describe(error)] += 1
    else:
        tally.success(deployment, attempts, time.perf_counter() - began)


async def _drive(
    client: openai.AsyncOpenAI, jobs: list[Job], tally: Tally, concurrency: int, gap_s: float
) -> None:
    """``concurrency`` workers send the jobs, job ``i`` no earlier than ``i * gap_s`` in."""
    queue = iter(jobs)
    errors = client_errors()

    async def worker() -> None:
        for job in queue:
            delay = tally.started + job.index * gap_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await _one(client, job, tally, errors)

    async with asyncio.TaskGroup() as workers:
        for _ in range(max(1, min(concurrency, len(jobs)))):
            workers.create_task(worker())


@dataclass(slots=True)
class Stage:
    """Everything a snapshot is read from."""

    regions: list[Region]
    gateway: GatewayApp
    tally: Tally
    total: int

    def snapshot(self) -> Snapshot:
        """The demo as it stands now."""
        health = self.gateway.services.router.health
        now = self.gateway.services.clock.monotonic()
        tally = self.tally
        regions = tuple(
            RegionState(
                name=region.spec.name,
                served=tally.served[region.spec.name],
                rate_limited=region.fake.stats.statuses[429],
                in_flight=health.in_flight(region.spec.name),
                cooling_s=max(0.0, health.cooling_until(region.spec.name) - now),
                tokens=region.fake.stats.tokens_charged,
                tpm=region.tpm,
            )
            for region in self.regions
        )
        return Snapshot(
            elapsed_s=time.perf_counter() - tally.started,
            total=self.total,
            sent=tally.sent,
            ok=tally.ok,
            errors=sum(tally.errors.values()),
            retried=tally.retried,
            regions=regions,
        )


async def _watch(view: LiveView, snapshot: Callable[[], Snapshot]) -> None:
    while True:
        view.show(snapshot())
        await asyncio.sleep(view.period_s)


async def _traffic(
    stage: Stage,
    client: openai.AsyncOpenAI,
    jobs: list[Job],
    concurrency: int,
    duration_s: float,
    view: LiveView,
) -> bool:
    """Send the burst under an overall time limit while the view follows; True if it hit it."""
    gap_s = duration_s / len(jobs) if jobs else 0.0
    watcher = asyncio.create_task(_watch(view, stage.snapshot))
    try:
        async with asyncio.timeout(duration_s + _GUARD_S):
            await _drive(client, jobs, stage.tally, concurrency, gap_s)
    except TimeoutError:
        tally = stage.tally
        tally.errors["not finished within the time limit"] += (
            len(jobs) - tally.ok - sum(tally.errors.values())
        )
        return True
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        view.show(stage.snapshot())
        view.close()
    return False


async def _start_region(
    stack: contextlib.AsyncExitStack, spec: RegionSpec, jobs: list[Job]
) -> Region:
    fake = create_fake_app(region_config(spec, jobs))
    url = await stack.enter_async_context(serve_app(fake, "127.0.0.1", 0, lifespan=False))
    return Region(spec, fake, url)


async def demo(
    *,
    requests: int,
    concurrency: int,
    out: TextIO | None = None,
    live: bool | None = None,
    duration_s: float | None = None,
) -> int:
    """Run the demo in the running event loop; the exit code: 0 when every request succeeded.

    ``out`` defaults to stdout; ``live`` (the redrawn panel) defaults to ``out.isatty()``;
    ``duration_s`` (how long the arrivals are spread over) to 10 s, less for under 100 requests.
    """
    import openai  # noqa: PLC0415 - optional dependency, checked by run_demo

    began = time.perf_counter()
    out = sys.stdout if out is None else out
    jobs = plan(max(0, requests))
    if duration_s is None:
        duration_s = min(DEFAULT_DURATION_S, len(jobs) / _MIN_RATE)
    live = out.isatty() if live is None else live
    view = LiveView(out, live=live, width=shutil.get_terminal_size().columns if live else None)
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(quiet_loggers(*_CHATTY_LOGGERS))
        regions = [await _start_region(stack, spec, jobs) for spec in REGIONS]
        mapping = gateway_config(regions)
        out.write(_intro(regions, mapping, jobs, concurrency, duration_s))
        out.flush()
        gateway = create_app(load_settings(data=mapping, environ={}).settings)
        url = await stack.enter_async_context(serve_app(gateway, "127.0.0.1", 0, lifespan=True))
        client = openai.AsyncOpenAI(
            base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=_CLIENT_TIMEOUT_S
        )
        stack.push_async_callback(client.close)
        stage = Stage(regions, gateway, Tally(started=time.perf_counter()), len(jobs))
        timed_out = await _traffic(stage, client, jobs, concurrency, duration_s, view)
        final = stage.snapshot()
    result = DemoResult(
        final=final,
        latencies_s=tuple(stage.tally.latencies_s),
        wall_s=time.perf_counter() - began,
        errors=tuple(stage.tally.errors.most_common()),
        first_retry_s=stage.tally.first_retry_s,
        timed_out=timed_out,
    )
    out.write(summary_text(result, out))
    out.flush()
    return 0 if final.ok == final.total else 1


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed."""
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop  # noqa: PLC0415

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_demo(
    *,
    requests: int,
    concurrency: int,
    out: TextIO | None = None,
    live: bool | None = None,
    duration_s: float | None = None,
) -> int:
    """``quotaflow demo``: run ``demo`` in a new event loop (uvloop's when installed).

    Returns the exit code: 0 when every request succeeded, 1 otherwise, 2 without ``openai``,
    130 when interrupted.
    """
    if importlib.util.find_spec("openai") is None:
        sys.stderr.write(_INSTALL_HINT)
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(
                demo(
                    requests=requests,
                    concurrency=concurrency,
                    out=out,
                    live=live,
                    duration_s=duration_s,
                )
            )
    except KeyboardInterrupt:
        sys.stderr.write("\nquotaflow demo: interrupted\n")
        return 130

"""``quotaflow demo``: two fake Azure OpenAI regions behind the gateway, driven by the openai SDK.

No API keys, no internet, one process and one event loop:

1. two fake Azure regions start on 127.0.0.1, with token quotas sized from the planned traffic:
   more than one region can serve alone, less than both together; each counts, as its own
   billing would, the answers it served and the usage tokens it reported in them;
2. the gateway starts in front of them from a config in LiteLLM's exact format, shown first,
   with its SQLite store in a temporary folder, so virtual keys are on;
3. as the operator, with the master key and the management API, the demo creates team ``dev``
   (only ``gpt-4-preview``, a budget) and a virtual key for it, shown as ``sk-...abcd`` only;
   with that key, a call to another model the gateway serves is refused (404);
4. ``concurrency`` workers send ``requests`` chat completions (one in five streamed) over about
   ``duration_s`` seconds through the official ``openai`` SDK with the team's key, its own
   retries off, reading ``x-quotaflow-deployment`` and ``x-quotaflow-attempts`` from every answer;
5. a live panel (a progress line when the output is not a terminal) shows the spread over the
   regions, upstream 429s, in-flight calls and cooldowns;
6. the operator reads the team's spend and the per-region split back through the API, and the
   summary sets them beside what each region counted.

Exit code: 0 when every request succeeded, the other model was refused and the gateway's spend
report matches the regions' counts to the request and the token; 1 otherwise; 2 without the
``openai`` package.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO

import aiohttp
import orjson
import yaml

from quotaflow._demo_view import (
    DemoResult,
    LiveView,
    RegionState,
    RegionUsage,
    Snapshot,
    TeamUsage,
    summary_text,
)
from quotaflow.app import create_app
from quotaflow.config import load_settings
from quotaflow.fake import FakeProviderConfig, create_fake_app
from quotaflow.serving import quiet_loggers, serve_app

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from quotaflow.fake import FakeProvider
    from quotaflow.fake.wire import Receive, Scope, Send
    from quotaflow.server import GatewayApp

__all__ = ["demo", "gateway_config", "plan", "run_demo"]

MODEL = "gpt-4-preview"
BASE_MODEL = "azure/gpt-4-turbo"  # what the Azure deployments run: the prices spend is kept in
OTHER_MODEL = "text-embedding-3-small"  # the gateway serves it too, but not to team dev
MASTER_KEY = "sk-demo-master"
TEAM = "dev"
KEY_ALIAS = "dev-invoices"
TEAM_BUDGET_USD = 10.0
TEAM_BUDGET_PERIOD = "30d"
# Azure reports a stream's usage from 2024-09-01 on; without it a stream's tokens go unbilled
# in the gateway's spend (older versions, such as 2024-02-15-preview, still route fine).
API_VERSION = "2024-10-21"
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
_WRAP = 78
_STREAM_EVERY = 5  # one request in five is streamed
_SPEND_WAIT_S = 10.0  # spend records reach the store within about a second (the writer's pass)
_CHATTY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "httpx",
    "httpx2",
    "openai",
    "quotaflow",
    "quotaflow.access",
)
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


class Meter:
    """A region's own count, as its billing would show it: the answers it served and the usage
    tokens it reported in them, read from every 200 it sends, whole or streamed."""

    def __init__(self, app: FakeProvider) -> None:
        self._app = app
        self.answered = 0
        self.tokens = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: the fake's, with its answers read on their way out."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def metered(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                body.extend(message.get("body", b""))
            await send(message)

        await self._app(scope, receive, metered)
        if status == 200 and str(scope.get("path", "")).endswith("/chat/completions"):
            self.answered += 1
            self.tokens += _usage_tokens(bytes(body))


def _usage_tokens(body: bytes) -> int:
    """Prompt plus completion tokens of an answer's ``usage``, JSON or server-sent events."""
    if body.lstrip().startswith(b"{"):
        payloads = [body]
    else:
        payloads = [
            line[5:].strip()
            for line in body.splitlines()
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]"
        ]
    found = 0
    for payload in payloads:
        try:
            usage = orjson.loads(payload).get("usage")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(usage, dict):
            found = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    return found


@dataclass(slots=True)
class Region:
    """A running fake region."""

    spec: RegionSpec
    fake: FakeProvider
    meter: Meter
    url: str

    @property
    def tpm(self) -> int:
        """Its token quota per minute."""
        return self.fake.config.tpm or 0


def gateway_config(regions: list[Region], data_dir: str | None = None) -> dict[str, Any]:
    """The gateway's config, in LiteLLM's ``config.yaml`` format.

    ``gpt-4-preview`` on every region, and ``text-embedding-3-small`` on the first, which team
    ``dev`` will not be allowed to use. With ``data_dir`` the gateway keeps its SQLite store
    (virtual keys, teams, spend) there.
    """
    chat = [
        {
            "model_name": MODEL,
            "litellm_params": {
                "model": f"azure/{MODEL}",
                "api_base": region.url,
                "api_key": f"demo-key-{region.spec.name}",
                "api_version": API_VERSION,
            },
            "model_info": {"id": region.spec.name, "base_model": BASE_MODEL},
        }
        for region in regions
    ]
    other = [
        {
            "model_name": OTHER_MODEL,
            "litellm_params": {
                "model": f"azure/{OTHER_MODEL}",
                "api_base": region.url,
                "api_key": f"demo-key-{region.spec.name}",
                "api_version": API_VERSION,
            },
            "model_info": {"id": f"{region.spec.name}-embeddings"},
        }
        for region in regions[:1]
    ]
    general: dict[str, Any] = {"master_key": MASTER_KEY}
    if data_dir is not None:
        general["data_dir"] = data_dir
    return {
        "model_list": [*chat, *other],
        "router_settings": {"routing_strategy": "least-busy", "num_retries": 2, "timeout": 30},
        "general_settings": general,
    }


def _intro(regions: list[Region], mapping: dict[str, Any]) -> str:
    """The regions and the gateway's config."""
    config = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
    rows = "".join(
        f"  {r.spec.name:<7} {r.url:<24} {r.tpm:>8,} TPM  {r.fake.config.rpm or 0:>6,} RPM"
        f"  ~{r.spec.latency_ms:.0f} ms\n"
        for r in regions
    )
    return (
        "quotaflow demo: two fake Azure regions, one gateway; no API keys, no internet.\n\n"
        f"{rows}\n"
        + textwrap.fill(
            "The gateway's config, in LiteLLM's config.yaml format; data_dir is where quotaflow"
            " keeps keys, teams and spend (or give a database_url, as LiteLLM users do):",
            width=_WRAP,
        )
        + "\n\n"
        + "".join(f"    {line}\n" for line in config.splitlines())
        + "\n"
    )


def _burst_intro(
    regions: list[Region], jobs: list[Job], concurrency: int, duration_s: float
) -> str:
    """The burst about to be sent and how its demand compares with the quotas."""
    demand = sum(job.charge for job in jobs)
    combined = sum(region.tpm for region in regions)
    smallest = min(regions, key=lambda region: region.tpm)
    streamed = sum(job.stream for job in jobs)
    told = (
        f"Sending {len(jobs)} chat completions ({streamed} streamed) over ~{duration_s:.1f} s, up"
        f" to {concurrency} at a time, with the team's key and the official openai SDK, its own"
        " retries off so that every error would show. Together they ask for"
        f" ~{demand:,} tokens of quota within one minute: more than {smallest.spec.name}'s"
        f" {smallest.tpm:,} TPM, less than both regions together ({combined:,} TPM)."
    )
    return textwrap.fill(told, width=_WRAP) + "\n\n"


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
    meter = Meter(fake)
    url = await stack.enter_async_context(serve_app(meter, "127.0.0.1", 0, lifespan=False))
    return Region(spec, fake, meter, url)


class ManagementError(Exception):
    """A management API call did not answer 200."""


@dataclass(frozen=True, slots=True)
class Operator:
    """The operator: the master key and the management API, over plain HTTP."""

    session: aiohttp.ClientSession
    base_url: str

    async def call(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, **query: str
    ) -> Any:
        """The JSON answer of ``method path``; ``ManagementError`` unless it is a 200."""
        async with self.session.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            params=query or None,
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        ) as answer:
            text = await answer.text()
            if answer.status != 200:
                msg = f"{method} {path} answered {answer.status}: {text[:200]}"
                raise ManagementError(msg)
            return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class TeamKey:
    """The team's virtual key: the key itself for the client, its display form for the screen."""

    key: str
    shown: str  # sk-...abcd


async def _set_up_team(operator: Operator, out: TextIO) -> TeamKey:
    """Create the team and its key, as the operator, and tell what was done."""
    out.write("As the operator (master key), through the management API:\n")
    await operator.call(
        "POST",
        "/team/new",
        body={
            "team_id": TEAM,
            "models": [MODEL],
            "max_budget": TEAM_BUDGET_USD,
            "budget_duration": TEAM_BUDGET_PERIOD,
        },
    )
    out.write(
        f"  POST /team/new      team {TEAM}, models [{MODEL}],"
        f" budget ${TEAM_BUDGET_USD:.2f} per {TEAM_BUDGET_PERIOD}\n"
    )
    made = await operator.call(
        "POST", "/key/generate", body={"team_id": TEAM, "key_alias": KEY_ALIAS}
    )
    key = str(made["key"])
    shown = str(made.get("key_name") or f"sk-...{key[-4:]}")
    out.write(f"  POST /key/generate  key {KEY_ALIAS} for team {TEAM}: {shown}\n\n")
    out.flush()
    return TeamKey(key, shown)


async def _try_other_model(client: openai.AsyncOpenAI, out: TextIO) -> str | None:
    """Call the model the team may not use; ``None`` when it was refused with a 404 as it
    should be, else what happened instead."""
    import openai  # noqa: PLC0415 - optional dependency, checked by run_demo

    out.write(
        f"As team {TEAM} (its key, the official openai SDK; only base_url and api_key set):\n"
        f'  client.embeddings.create(model="{OTHER_MODEL}", ...)\n'
    )
    try:
        await client.embeddings.create(model=OTHER_MODEL, input="invoice 2024-117")
    except openai.NotFoundError as error:
        told = textwrap.fill(
            f"-> 404, blocked as expected: {_error_message(error)}",
            width=_WRAP,
            initial_indent="    ",
            subsequent_indent="       ",
        )
        out.write(f"{told}\n\n")
        out.flush()
        return None
    except client_errors() as error:
        problem = f"{OTHER_MODEL} with the team key: {_describe(error)}, not a 404"
    else:
        problem = f"{OTHER_MODEL} answered the team key; it should have been refused"
    out.write(f"    -> NOT blocked: {problem}\n\n")
    out.flush()
    return problem


def _error_message(error: Exception) -> str:
    """The gateway's own message from an SDK error's body."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(error)


async def _read_usage(operator: Operator, regions: list[Region], calls: int) -> TeamUsage:
    """The team's usage through the management API, once the ``calls`` made with its key are
    all in the spend report (spend records are written in the background, about once a
    second); each region's row beside the region's own count."""
    deadline = time.perf_counter() + _SPEND_WAIT_S
    while True:
        report = await operator.call("GET", "/global/spend/report", group_by="deployment")
        rows = _by_group(report)
        if sum(r[0] for r in rows.values()) >= calls or time.perf_counter() >= deadline:
            break
        await asyncio.sleep(0.1)
    team = (await operator.call("GET", "/team/info", team_id=TEAM))["team_info"]
    names = {region.spec.name for region in regions}
    return TeamUsage(
        team_id=TEAM,
        spend_usd=float(team["spend"]),
        max_budget=team.get("max_budget"),
        budget_duration=team.get("budget_duration"),
        regions=tuple(
            RegionUsage(
                name=region.spec.name,
                requests=rows.get(region.spec.name, (0, 0))[0],
                tokens=rows.get(region.spec.name, (0, 0))[1],
                counted_requests=region.meter.answered,
                counted_tokens=region.meter.tokens,
            )
            for region in regions
        ),
        unrouted=sum(count for group, (count, _) in rows.items() if group not in names),
    )


def _by_group(report: list[dict[str, Any]]) -> dict[str | None, tuple[int, int]]:
    """``/global/spend/report`` summed over its days: requests and tokens per group."""
    totals: dict[str | None, tuple[int, int]] = {}
    for day in report:
        for row in day["groups"]:
            requests, tokens = totals.get(row["group"], (0, 0))
            totals[row["group"]] = (requests + row["requests"], tokens + row["total_tokens"])
    return totals


@dataclass(frozen=True, slots=True)
class Scene:
    """What the story plays on: the regions, the gateway, the operator and the screen."""

    regions: list[Region]
    gateway: GatewayApp
    operator: Operator
    out: TextIO
    view: LiveView


async def _tell(
    scene: Scene,
    stack: contextlib.AsyncExitStack,
    jobs: list[Job],
    concurrency: int,
    duration_s: float,
) -> DemoResult:
    """The operator sets up the team; the team sends the burst; the operator reads the books."""
    import openai  # noqa: PLC0415 - optional dependency, checked by run_demo

    team_key = await _set_up_team(scene.operator, scene.out)
    client = openai.AsyncOpenAI(
        base_url=f"{scene.operator.base_url}/v1",
        api_key=team_key.key,
        max_retries=0,
        timeout=_CLIENT_TIMEOUT_S,
    )
    stack.push_async_callback(client.close)
    not_blocked = await _try_other_model(client, scene.out)
    scene.out.write(_burst_intro(scene.regions, jobs, concurrency, duration_s))
    scene.out.flush()
    stage = Stage(scene.regions, scene.gateway, Tally(started=time.perf_counter()), len(jobs))
    timed_out = await _traffic(stage, client, jobs, concurrency, duration_s, scene.view)
    final = stage.snapshot()
    problems = [not_blocked] if not_blocked else []
    usage = None
    try:
        usage = await _read_usage(scene.operator, scene.regions, stage.tally.sent + 1)
    except ManagementError as error:
        problems.append(f"reading the team's usage back: {error}")
    return DemoResult(
        final=final,
        latencies_s=tuple(stage.tally.latencies_s),
        wall_s=0.0,
        errors=tuple(stage.tally.errors.most_common()),
        first_retry_s=stage.tally.first_retry_s,
        timed_out=timed_out,
        team=TEAM,
        blocked_model=None if not_blocked else OTHER_MODEL,
        usage=usage,
        problems=tuple(problems),
    )


async def demo(
    *,
    requests: int,
    concurrency: int,
    out: TextIO | None = None,
    live: bool | None = None,
    duration_s: float | None = None,
) -> int:
    """Run the demo in the running event loop; the exit code: 0 when every request succeeded,
    the other model was refused and the team's usage matches what the regions counted.

    ``out`` defaults to stdout; ``live`` (the redrawn panel) defaults to ``out.isatty()``;
    ``duration_s`` (how long the arrivals are spread over) to 10 s, less for under 100 requests.
    """
    began = time.perf_counter()
    out = sys.stdout if out is None else out
    jobs = plan(max(0, requests))
    if duration_s is None:
        duration_s = min(DEFAULT_DURATION_S, len(jobs) / _MIN_RATE)
    live = out.isatty() if live is None else live
    view = LiveView(out, live=live, width=shutil.get_terminal_size().columns if live else None)
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(quiet_loggers(*_CHATTY_LOGGERS))
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="quotaflow-demo-"))
        regions = [await _start_region(stack, spec, jobs) for spec in REGIONS]
        mapping = gateway_config(regions, data_dir)
        out.write(_intro(regions, mapping))
        out.flush()
        gateway = create_app(load_settings(data=mapping, environ={}).settings)
        url = await stack.enter_async_context(serve_app(gateway, "127.0.0.1", 0, lifespan=True))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        scene = Scene(regions, gateway, Operator(session, url), out, view)
        try:
            result = await _tell(scene, stack, jobs, concurrency, duration_s)
        except ManagementError as error:
            out.write(f"\nThe management API failed: {error}\n")
            return 1
    result = replace(result, wall_s=time.perf_counter() - began)
    out.write(summary_text(result, out))
    out.flush()
    return 0 if result.passed else 1


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

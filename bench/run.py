"""Benchmark: what the quotaflow gateway adds on top of an instant upstream.

Starts the fake OpenAI upstream (``python -m quotaflow.fake``) and one gateway worker in front of
it, then drives both with ``wrk`` — directly against the fake, and through the gateway — for
{plain, streaming} x {1 connection (latency), 64 connections (throughput)}. The gateway is pinned
to one core and the fake plus the load generator to another, so the gateway's numbers are those of
one core. Prints a Markdown table (``--json PATH`` writes the same numbers as JSON).

Run: ``python bench/run.py [--quick] [--duration S] [--json PATH]``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

MASTER_KEY = "sk-bench-master"
UPSTREAM_KEY = "sk-upstream"
GATEWAY_MODEL = "bench-model"
UPSTREAM_MODEL = "gpt-4o-mini"
PROMPT = "Say hello in five words."
MAX_TOKENS = 16
MAX_FAILED_RATIO = 0.001  # more than 0.1 % of requests not 2xx fails the benchmark
MODES = ("plain", "streaming")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
BUSY_MACHINE_CORES = 0.1  # warn above this background load
TARGET_RPS = 5000.0  # one worker, master-key auth, 64 connections, plain
TARGET_ADDED_P50_MS = 0.4  # one connection, plain
PYTHON_LOAD_NOTE = (
    "using the built-in Python load generator (wrk not found, or --loadgen python). It spends "
    "far more CPU per request than wrk and competes with the fake upstream on the load core, so "
    "req/s and latencies are a floor of what the gateway can do, not its ceiling. Install wrk "
    "(Debian/Ubuntu: apt install wrk) for real numbers."
)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """The benchmark cannot produce trustworthy numbers; the message says why."""


# --- what is measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One HTTP endpoint under load: the fake directly, or the gateway."""

    name: str
    url: str
    model: str
    api_key: str

    def body(self, mode: str) -> str:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": MAX_TOKENS,
        }
        if mode == "streaming":
            payload["stream"] = True
        return json.dumps(payload, separators=(",", ":"))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Measurement:
    """What one load-generator run reports."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def failed_ratio(self) -> float:
        failed = self.non_2xx + self.socket_errors
        return failed / max(1, self.requests + self.socket_errors)


@dataclass
class RunResult:
    """One measured scenario, with the CPU it used."""

    target: str
    mode: str
    conns: int
    measurement: Measurement
    gateway_cpu_pct: float | None = None
    load_core_pct: float | None = None
    gateway_core_other_pct: float | None = None  # not the gateway: noise from other processes

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("measurement"))
        return data


@dataclass(frozen=True)
class Pinning:
    """``taskset`` prefixes for the gateway and for the load side (fake + load generator)."""

    gateway_prefix: tuple[str, ...]
    load_prefix: tuple[str, ...]
    gateway_cpu: int | None
    load_cpu: int | None
    description: str


@dataclass
class Report:
    """Everything the benchmark prints."""

    results: list[RunResult]
    start_to_ready_ms: float
    rss_mib: float
    peak_rss_mib: float
    pinning: str
    load_generator: str
    environment: dict[str, str]
    background_cores: float
    gateway_stderr_tail: list[str] = field(default_factory=list)


# --- subprocesses -----------------------------------------------------------------------------


class Processes:
    """Child processes with their stderr in files; all stopped on exit, whatever happened."""

    def __init__(self, logdir: Path) -> None:
        self._logdir = logdir
        self._children: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self._logdir / f"{name}.stderr").open("wb")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        except OSError as error:
            log.close()
            raise BenchError(f"cannot start {name}: {error}") from error
        self._children[name] = (proc, log)
        return proc

    def check_alive(self, name: str, during: str) -> None:
        code = self._children[name][0].poll()
        if code is not None:
            raise BenchError(f"{name} exited with code {code} during {during}")

    def tail(self, name: str, lines: int = 30) -> list[str]:
        path = self._logdir / f"{name}.stderr"
        if not path.exists():
            return []
        return path.read_text(errors="replace").splitlines()[-lines:]

    def print_tails(self) -> None:
        for name in self._children:
            text = "\n".join(self.tail(name)) or "(empty)"
            print(f"--- {name} stderr (tail) ---\n{text}\n--- end ---", file=sys.stderr)

    def stop_all(self) -> None:
        for proc, _log in self._children.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, log in self._children.values():
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, procs: Processes, name: str) -> None:
    """Poll ``url`` until it answers 200; fail if the process dies or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        procs.check_alive(name, "start-up")
        with contextlib.suppress(OSError), _NO_PROXY.open(url, timeout=1) as response:
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"{name} not ready at {url} after {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.002)  # noqa: TID251 - synchronous script, no event loop to block


def write_config(
    path: Path, upstream_port: int, redis_url: str | None = None, database_url: str | None = None
) -> None:
    text = (
        "model_list:\n"
        f"  - model_name: {GATEWAY_MODEL}\n"
        f"    litellm_params: {{model: openai/{UPSTREAM_MODEL}, "
        f'api_base: "http://127.0.0.1:{upstream_port}/v1", api_key: {UPSTREAM_KEY}}}\n'
        f"general_settings: {{master_key: {MASTER_KEY}}}\n"
    )
    if database_url:
        text = text.replace(
            "general_settings: {", f"general_settings: {{database_url: '{database_url}', "
        )
    if redis_url:
        # Shared state: every call claims its deployment in Redis and releases it after.
        text += (
            f"router_settings: {{redis_url: {redis_url}, redis_key_prefix: bench-{os.getpid()}}}\n"
        )
    path.write_text(text)


def start_fake(procs: Processes, pinning: Pinning) -> tuple[Target, int]:
    """Start the fake upstream; return its target and its port."""
    port = free_port()
    argv = [*pinning.load_prefix, sys.executable, "-m", "quotaflow.fake"]
    procs.start("fake", [*argv, "--flavor", "openai", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/v1/models", procs, "fake")
    return Target("direct", f"{base}/v1/chat/completions", UPSTREAM_MODEL, UPSTREAM_KEY), port


def start_gateway(
    procs: Processes, pinning: Pinning, config: Path
) -> tuple[Target, subprocess.Popen[bytes], float]:
    """Start one gateway worker; return its target, its process, and start-to-ready in ms."""
    port = free_port()
    argv = [*pinning.gateway_prefix, sys.executable, "-m", "quotaflow", "serve"]
    argv += ["--config", str(config), "--port", str(port), "--log-level", "warning"]
    started = time.perf_counter()
    proc = procs.start("gateway", argv)
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/health/readiness", procs, "gateway")
    ready_ms = (time.perf_counter() - started) * 1000
    target = Target("gateway", f"{base}/v1/chat/completions", GATEWAY_MODEL, MASTER_KEY)
    return target, proc, ready_ms


def with_virtual_key(gateway: Target) -> Target:
    """Issue a virtual key with every limit set (but far above the load) and a budget, so each
    call is authenticated by key, checked against rpm/tpm/parallel/budget, settled and recorded
    as spend; the benchmark then uses that key."""
    base = gateway.url.rsplit("/v1/", 1)[0]
    body = json.dumps({
        "key_alias": f"bench-{os.getpid()}", "models": [GATEWAY_MODEL],
        "rpm_limit": 10_000_000, "tpm_limit": 10_000_000_000, "max_parallel_requests": 10_000,
        "max_budget": 1_000_000,
    }).encode()  # fmt: skip
    request = urllib.request.Request(
        f"{base}/key/generate", data=body, method="POST",
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        key = json.loads(response.read())["key"]
    return Target(gateway.name, gateway.url, gateway.model, key)


def probe(target: Target, mode: str) -> tuple[int, bytes]:
    """Send one request; return its status and body (status 0: no HTTP answer)."""
    data = target.body(mode).encode()
    request = urllib.request.Request(target.url, data=data, headers=target.headers, method="POST")
    try:
        with _NO_PROXY.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


def smoke_test(target: Target, mode: str) -> None:
    """One request before loading, so a misconfiguration fails with a readable reason."""
    status, body = probe(target, mode)
    expected = b"data: [DONE]" if mode == "streaming" else b'"choices"'
    if status != 200 or expected not in body:
        raise BenchError(f"{target.name} {mode}: HTTP {status}: {body[:500]!r}")


# --- CPU pinning and accounting ---------------------------------------------------------------


def choose_pinning(args: argparse.Namespace) -> Pinning:
    taskset = shutil.which("taskset")
    cpus = sorted(os.sched_getaffinity(0))
    reason = None
    if args.no_pin:
        reason = "--no-pin"
    elif taskset is None:
        reason = "taskset not found"
    elif len(cpus) < 2:
        reason = f"only {len(cpus)} CPU available"
    if reason is not None:
        return Pinning((), (), None, None, f"none ({reason}); numbers are not per-core")
    for cpu in (args.gateway_cpu, args.load_cpu):
        if cpu not in cpus:
            raise BenchError(f"CPU {cpu} is not available; this process may use {cpus}")
    assert taskset is not None
    shared = " (same core: they compete)" if args.gateway_cpu == args.load_cpu else ""
    return Pinning(
        (taskset, "-c", str(args.gateway_cpu)),
        (taskset, "-c", str(args.load_cpu)),
        args.gateway_cpu,
        args.load_cpu,
        f"taskset: gateway on CPU {args.gateway_cpu}; fake upstream + load generator "
        f"on CPU {args.load_cpu}{shared}",
    )


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_ticks(cpu: int | None) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU, or of all CPUs for ``None``, from ``/proc/stat``."""
    prefix = "cpu " if cpu is None else f"cpu{cpu} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            values = [int(v) for v in line.split()[1:9]]
            return sum(values) - values[3] - values[4], sum(values)
    return 0, 0


def background_load(seconds: float = 1.0) -> float:
    """How many cores' worth of CPU the machine burns before we start anything."""
    busy, total = core_ticks(None)
    time.sleep(seconds)  # noqa: TID251 - synchronous script, no event loop to block
    busy2, total2 = core_ticks(None)
    return (os.cpu_count() or 1) * (busy2 - busy) / max(1, total2 - total)


class CpuMeter:
    """CPU use over one measured run: of the gateway process, and of each pinned core."""

    def __init__(self, gateway_pid: int | None, pinning: Pinning) -> None:
        self._pid = gateway_pid
        self._wall = time.perf_counter()
        self._gateway = process_cpu_s(gateway_pid) if gateway_pid else 0.0
        cores = (pinning.gateway_cpu, pinning.load_cpu)
        self._cores = {cpu: core_ticks(cpu) for cpu in cores if cpu is not None}

    def gateway_pct(self) -> float | None:
        """The gateway's CPU time over wall time, in % of one core."""
        if self._pid is None:
            return None
        elapsed = time.perf_counter() - self._wall
        return 100 * (process_cpu_s(self._pid) - self._gateway) / elapsed

    def core_pct(self, cpu: int | None) -> float | None:
        """How busy ``cpu`` was, whoever used it."""
        if cpu is None:
            return None
        busy, total = core_ticks(cpu)
        busy0, total0 = self._cores[cpu]
        return 100 * (busy - busy0) / max(1, total - total0)


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values["VmRSS"], values["VmHWM"]


# --- load generators --------------------------------------------------------------------------


class LoadGenerator(Protocol):
    name: str

    def run(self, target: Target, mode: str, conns: int, duration_s: int) -> Measurement: ...


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(text: str) -> Measurement:
    """Numbers from ``wrk --latency`` output; latencies converted to ms."""

    def grab(pattern: str) -> re.Match[str]:
        match = re.search(pattern, text, re.MULTILINE)
        if match is None:
            raise BenchError(f"cannot parse wrk output ({pattern!r}):\n{text}")
        return match

    def latency(percent: int) -> float:
        match = grab(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$")
        return float(match[1]) * _UNIT_MS[match[2]]

    done = grab(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Measurement(
        requests=int(done[1]),
        duration_s=float(done[2]) * _UNIT_MS[done[3]] / 1000,
        rps=float(grab(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=latency(50),
        p99_ms=latency(99),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


class Wrk:
    """``wrk -t1 -cN -dDs --latency`` with a generated Lua script for the POST body."""

    name = "wrk"

    def __init__(self, executable: str, prefix: tuple[str, ...], scripts: Path) -> None:
        self._wrk, self._prefix, self._scripts = executable, prefix, scripts

    def version(self) -> str:
        out = subprocess.run([self._wrk, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.split(" Copyright")[0].strip() or "unknown"

    def _script(self, target: Target, mode: str) -> Path:
        path = self._scripts / f"{target.name}-{mode}.lua"
        headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in target.headers.items())
        path.write_text(f'wrk.method = "POST"\nwrk.body = [==[{target.body(mode)}]==]\n{headers}')
        return path

    def run(self, target: Target, mode: str, conns: int, duration_s: int) -> Measurement:
        argv = [*self._prefix, self._wrk, "-t1", f"-c{conns}", f"-d{duration_s}s", "--latency"]
        argv += ["-s", str(self._script(target, mode)), target.url]
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
        if out.returncode != 0:
            raise BenchError(f"wrk exited with {out.returncode}: {out.stderr or out.stdout}")
        return parse_wrk(out.stdout)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    errors: int = 0


def percentile_ms(sorted_s: list[float], percent: float) -> float:
    """Exact nearest-rank percentile of sorted seconds, in ms."""
    if not sorted_s:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(sorted_s)))
    return sorted_s[rank - 1] * 1000


class PythonLoad:
    """Fallback when wrk is missing: ``conns`` aiohttp workers posting in a loop."""

    name = "python (aiohttp)"

    def run(self, target: Target, mode: str, conns: int, duration_s: int) -> Measurement:
        return asyncio.run(self._run(target, target.body(mode).encode(), conns, duration_s))

    async def _run(self, target: Target, body: bytes, conns: int, duration_s: int) -> Measurement:
        tally = _Tally()
        connector = aiohttp.TCPConnector(limit=conns)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            started = time.perf_counter()
            deadline = started + duration_s
            workers = (self._worker(session, target, body, deadline, tally) for _ in range(conns))
            await asyncio.gather(*workers)
            elapsed = time.perf_counter() - started
        ordered = sorted(tally.latencies)
        return Measurement(
            requests=len(ordered),
            duration_s=elapsed,
            rps=len(ordered) / elapsed,
            p50_ms=percentile_ms(ordered, 50),
            p99_ms=percentile_ms(ordered, 99),
            non_2xx=tally.non_2xx,
            socket_errors=tally.errors,
        )

    @staticmethod
    async def _worker(
        session: aiohttp.ClientSession, target: Target, body: bytes, deadline: float, tally: _Tally
    ) -> None:
        while (start := time.perf_counter()) < deadline:
            try:
                async with session.post(target.url, data=body, headers=target.headers) as response:
                    await response.read()
            except (aiohttp.ClientError, OSError):
                tally.errors += 1
                await asyncio.sleep(0.01)
                continue
            tally.latencies.append(time.perf_counter() - start)
            tally.non_2xx += response.status >= 400  # as wrk counts them


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """The running processes and how to load them."""

    procs: Processes
    direct: Target
    gateway: Target
    gateway_pid: int
    pinning: Pinning
    loader: LoadGenerator


def check_failures(stack: Stack, target: Target, mode: str, m: Measurement, label: str) -> None:
    """Report non-2xx answers and socket errors; fail above 0.1 % or if a process died."""
    if m.non_2xx or m.socket_errors:
        print(f"  ! {label}: {m.non_2xx} non-2xx, {m.socket_errors} socket errors", file=sys.stderr)
    if m.failed_ratio > MAX_FAILED_RATIO:
        status, body = probe(target, mode)
        raise BenchError(
            f"{label}: {m.failed_ratio:.2%} of requests failed ({m.non_2xx} non-2xx, "
            f"{m.socket_errors} socket errors, {m.requests} responses); limit is "
            f"{MAX_FAILED_RATIO:.1%}. One request sent now gets HTTP {status}: {body[:300]!r}"
        )
    stack.procs.check_alive("gateway", label)
    stack.procs.check_alive("fake", label)


def measure(
    stack: Stack, target: Target, mode: str, conns: int, args: argparse.Namespace
) -> RunResult:
    """Warm up, then one measured run with CPU accounting."""
    label = f"{target.name} {mode} c={conns}"
    if args.warmup > 0:
        warmup = stack.loader.run(target, mode, conns, args.warmup)
        check_failures(stack, target, mode, warmup, f"{label} warm-up")
    gateway_pid = stack.gateway_pid if target.name == "gateway" else None
    meter = CpuMeter(gateway_pid, stack.pinning)
    m = stack.loader.run(target, mode, conns, args.duration)
    result = RunResult(target.name, mode, conns, m, meter.gateway_pct())
    result.load_core_pct = meter.core_pct(stack.pinning.load_cpu)
    gateway_core = meter.core_pct(stack.pinning.gateway_cpu)
    if gateway_core is not None:
        result.gateway_core_other_pct = max(0.0, gateway_core - (result.gateway_cpu_pct or 0.0))
    check_failures(stack, target, mode, m, label)
    print(
        f"  {label:<26} {m.rps:>9,.0f} req/s  p50 {m.p50_ms:.3f} ms  p99 {m.p99_ms:.3f} ms",
        file=sys.stderr,
    )
    return result


def run_scenarios(stack: Stack, args: argparse.Namespace) -> list[RunResult]:
    results = []
    for mode in MODES:
        smoke_test(stack.direct, mode)
        smoke_test(stack.gateway, mode)
        for conns in args.connections:
            for target in (stack.direct, stack.gateway):
                results.append(measure(stack, target, mode, conns, args))
    return results


def choose_loader(args: argparse.Namespace, pinning: Pinning, workdir: Path) -> LoadGenerator:
    wrk = shutil.which("wrk")
    if args.loadgen == "wrk" and wrk is None:
        raise BenchError("--loadgen wrk: wrk is not installed (Debian/Ubuntu: apt install wrk)")
    if wrk is not None and args.loadgen != "python":
        return Wrk(wrk, pinning.load_prefix, workdir)
    print(f"NOTE: {PYTHON_LOAD_NOTE}", file=sys.stderr)
    if pinning.load_cpu is not None:
        os.sched_setaffinity(0, {pinning.load_cpu})
    return PythonLoad()


def environment(loader: LoadGenerator) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "load_generator": loader.version() if isinstance(loader, Wrk) else loader.name,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "quotaflow": metadata.version("quotaflow"),
        "cpu": f"{cpu} ({os.cpu_count()} logical CPUs)",
        "kernel": platform.release(),
    }


def run_benchmark(args: argparse.Namespace) -> Report:
    pinning = choose_pinning(args)
    background = background_load()
    if background > BUSY_MACHINE_CORES:
        print(
            f"WARNING: the machine is not idle ({background:.2f} cores busy before start); "
            "other processes will distort the numbers",
            file=sys.stderr,
        )
    with (
        tempfile.TemporaryDirectory(prefix="quotaflow-bench-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        workdir = Path(tmp)
        try:
            direct, upstream_port = start_fake(procs, pinning)
            config = workdir / "gateway.yaml"
            write_config(config, upstream_port, args.redis, args.database_url)
            gateway, proc, ready_ms = start_gateway(procs, pinning, config)
            if args.virtual_key:
                gateway = with_virtual_key(gateway)
            loader = choose_loader(args, pinning, workdir)
            print(f"CPU pinning: {pinning.description}", file=sys.stderr)
            stack = Stack(procs, direct, gateway, proc.pid, pinning, loader)
            results = run_scenarios(stack, args)
            rss, peak = memory_mib(proc.pid)
        except BenchError:
            procs.print_tails()
            raise
        return Report(
            results, ready_ms, rss, peak, pinning.description, loader.name, environment(loader),
            background, procs.tail("gateway", 10),
        )  # fmt: skip


# --- output -----------------------------------------------------------------------------------


def _find(results: list[RunResult], target: str, mode: str, conns: int) -> RunResult:
    return next(r for r in results if (r.target, r.mode, r.conns) == (target, mode, conns))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def table_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for mode in MODES:
        for conns in sorted({r.conns for r in report.results}):
            d = _find(report.results, "direct", mode, conns)
            g = _find(report.results, "gateway", mode, conns)
            dm, gm = d.measurement, g.measurement
            rows.append({
                "scenario": mode, "conns": conns,
                "direct_rps": dm.rps, "gateway_rps": gm.rps,
                "direct_p50_ms": dm.p50_ms, "gateway_p50_ms": gm.p50_ms,
                "added_p50_ms": gm.p50_ms - dm.p50_ms,
                "direct_p99_ms": dm.p99_ms, "gateway_p99_ms": gm.p99_ms,
                "added_p99_ms": gm.p99_ms - dm.p99_ms,
                "gateway_cpu_pct": g.gateway_cpu_pct, "load_core_pct": g.load_core_pct,
                "gateway_core_other_pct": g.gateway_core_other_pct,
            })  # fmt: skip
    return rows


def render_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| scenario | conns | direct req/s | gateway req/s | direct p50 ms | gateway p50 ms "
        "| added p50 ms | direct p99 ms | gateway p99 ms | added p99 ms "
        "| gateway CPU % | load core % | other on gw core % |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        ms = [
            f"{row[k]:.3f}"
            for k in (
                *("direct_p50_ms", "gateway_p50_ms", "added_p50_ms"),
                *("direct_p99_ms", "gateway_p99_ms", "added_p99_ms"),
            )
        ]
        cells = [row["scenario"], str(row["conns"]), f"{row['direct_rps']:,.0f}"]
        cells += [f"{row['gateway_rps']:,.0f}", *ms]
        cells += [_pct(row[k]) for k in ("gateway_cpu_pct", "load_core_pct")]
        cells.append(_pct(row["gateway_core_other_pct"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        if row["scenario"] != "plain":
            continue
        if row["conns"] == 64:
            ok = "met" if row["gateway_rps"] >= TARGET_RPS else "NOT met"
            lines.append(
                f"- target >= {TARGET_RPS:,.0f} req/s (plain, 64 conns): "
                f"{row['gateway_rps']:,.0f} -> {ok}"
            )
        if row["conns"] == 1:
            ok = "met" if row["added_p50_ms"] <= TARGET_ADDED_P50_MS else "NOT met"
            lines.append(
                f"- target <= {TARGET_ADDED_P50_MS} ms added p50 (plain, 1 conn): "
                f"{row['added_p50_ms']:.3f} ms -> {ok}"
            )
    return lines


def render(report: Report, rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    errors = [
        f"{r.target} {r.mode} c={r.conns}: {r.measurement.non_2xx} non-2xx, "
        f"{r.measurement.socket_errors} socket errors"
        for r in report.results
        if r.measurement.non_2xx or r.measurement.socket_errors
    ]
    env = report.environment
    noisy = " (NOT idle: numbers are noisy)" if report.background_cores > BUSY_MACHINE_CORES else ""
    lines = [
        f"## quotaflow gateway benchmark ({args.duration} s per run, {args.warmup} s warm-up)",
        "",
        *render_table(rows),
        "",
        f"- gateway start-to-ready: {report.start_to_ready_ms:.0f} ms",
        f"- gateway RSS after the runs: {report.rss_mib:.1f} MiB "
        f"(peak {report.peak_rss_mib:.1f} MiB)",
        f"- CPU pinning: {report.pinning}",
        f"- background load before start: {report.background_cores:.2f} cores busy{noisy}",
        f"- load generator: {env['load_generator']}",
        f"- Python: {env['python']}; quotaflow {env['quotaflow']}",
        f"- CPU: {env['cpu']}; kernel {env['kernel']}",
        f"- failed requests: {'; '.join(errors) if errors else 'none (all 2xx, no socket errors)'}",
        *target_lines(rows),
    ]
    if report.load_generator != Wrk.name:
        lines.append(f"- NOTE: {PYTHON_LOAD_NOTE}")
    if report.gateway_stderr_tail:
        lines += ["", "gateway stderr (tail):", *(f"    {x}" for x in report.gateway_stderr_tail)]
    return "\n".join(lines)


def write_json(
    path: Path, report: Report, rows: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    data = {
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
        },
        "environment": report.environment,
        "pinning": report.pinning,
        "gateway": {
            "start_to_ready_ms": report.start_to_ready_ms,
            "rss_mib": report.rss_mib,
            "peak_rss_mib": report.peak_rss_mib,
            "stderr_tail": report.gateway_stderr_tail,
        },
        "background_cores_busy": report.background_cores,
        "rows": rows,
        "runs": [r.as_dict() for r in report.results],
    }
    path.write_text(json.dumps(_rounded(data), indent=2) + "\n")


def _rounded(value: Any) -> Any:
    """The same data with floats rounded to 4 decimals (no 0.08700000000000001 in the JSON)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    parser.add_argument("--quick", action="store_true", help="3 s per run")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds before each run (1)")
    parser.add_argument(
        "--connections", default="1,64", help="comma-separated connection counts (1,64)"
    )
    parser.add_argument("--gateway-cpu", type=int, default=0, help="core for the gateway (0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="core for fake + wrk (1)")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    parser.add_argument(
        "--redis", metavar="URL", help="share routing state through this Redis (redis://...)"
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="the store (default: SQLite beside the config)"
    )
    parser.add_argument(
        "--virtual-key",
        action="store_true",
        help="call with a virtual key with limits and a budget (default: the master key)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 3
    try:
        args.connections = sorted({int(c) for c in args.connections.split(",")})
    except ValueError:
        parser.error(f"--connections: not a comma-separated list of integers: {args.connections}")
    if args.duration < 1 or min(args.connections) < 1:
        parser.error("--duration and --connections must be positive")
    return args


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop children


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        report = run_benchmark(args)
    except BenchError as error:
        print(f"\nBENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; all subprocesses stopped", file=sys.stderr)
        return 130
    rows = table_rows(report)
    print(render(report, rows, args))
    if args.json:
        write_json(args.json, report, rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

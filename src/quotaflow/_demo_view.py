"""Terminal rendering for ``quotaflow demo``: the live panel, progress lines and the summary.

Pure text from plain snapshots: nothing here knows about the gateway, the fakes or the SDK.
On a TTY the panel is redrawn in place with ANSI cursor movement; elsewhere (CI, pipes) one
plain progress line is written per call and no escape code ever appears.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

__all__ = [
    "DemoResult",
    "LiveView",
    "RegionState",
    "RegionUsage",
    "Snapshot",
    "TeamUsage",
    "percentile",
    "summary_text",
]

_BAR_WIDTH = 14
_EVENT_LINES = 3
_SUMMARY_BAR_WIDTH = 20
_WRAP = 78
_UP = "\x1b[{}F"  # cursor to the start of the line n lines up
_CLEAR = "\x1b[2K"
_HIDE_CURSOR = "\x1b[?25l"
_SHOW_CURSOR = "\x1b[?25h"


@dataclass(frozen=True, slots=True)
class RegionState:
    """One region at one moment, as the demo observed it."""

    name: str
    served: int  # successful client calls answered by this region
    rate_limited: int  # 429s the region's fake answered (upstream, before any retry)
    in_flight: int  # calls the gateway has open on it
    cooling_s: float  # cooldown left in seconds; 0 when the router may use it
    tokens: int  # tokens the region charged against its quota
    tpm: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole demo at one moment."""

    elapsed_s: float
    total: int
    sent: int
    ok: int
    errors: int
    retried: int  # succeeded, but only after more than one upstream attempt
    regions: tuple[RegionState, ...]


@dataclass(frozen=True, slots=True)
class RegionUsage:
    """One region in the gateway's spend report, beside what the region counted itself."""

    name: str
    requests: int  # the gateway's spend report: requests it put on this region
    tokens: int  # and their prompt + completion tokens
    counted_requests: int  # the region's own count: answers it served
    counted_tokens: int  # and the usage tokens it reported in them

    @property
    def agrees(self) -> bool:
        """Whether the gateway's books and the region's count match exactly."""
        return (self.requests, self.tokens) == (self.counted_requests, self.counted_tokens)


@dataclass(frozen=True, slots=True)
class TeamUsage:
    """The team's usage as the operator read it back through the management API."""

    team_id: str
    spend_usd: float  # /team/info: spend in the current budget period
    max_budget: float | None
    budget_duration: str | None
    regions: tuple[RegionUsage, ...]  # /global/spend/report?group_by=deployment
    unrouted: int  # requests the report puts on no deployment (the blocked call)

    @property
    def agrees(self) -> bool:
        """Whether every region's count matches the gateway's report."""
        return all(region.agrees for region in self.regions)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the summary reports: the last snapshot plus what only the end can tell."""

    final: Snapshot
    latencies_s: tuple[float, ...]
    wall_s: float
    errors: tuple[tuple[str, int], ...] = ()  # (description, count), most frequent first
    first_retry_s: float | None = None  # when the first 429 was absorbed, since traffic began
    timed_out: bool = False
    team: str | None = None  # the team whose virtual key carried the traffic
    blocked_model: str | None = None  # the model the team key was refused, when it was (404)
    usage: TeamUsage | None = None  # None: no usage was read back
    problems: tuple[str, ...] = ()  # what else failed: the blocked call, reading the usage

    @property
    def passed(self) -> bool:
        """Every request succeeded, the other model was blocked, the books match the regions."""
        final = self.final
        return (
            final.ok == final.total
            and self.blocked_model is not None
            and self.usage is not None
            and self.usage.agrees
            and not self.problems
        )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _bar(fraction: float, chars: str, width: int = _BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return chars[0] * filled + chars[1] * (width - filled)


def _bar_chars(out: TextIO) -> str:
    """Block characters when ``out`` can encode them, ``#`` and ``.`` otherwise."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        "█░".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "#."
    return "█░"


def _cooling(region: RegionState) -> str:
    return f"{region.cooling_s:.1f}s" if region.cooling_s > 0 else "no"


def _fit(line: str, width: int | None) -> str:
    """``line`` cut to ``width`` columns, so that a narrow terminal never wraps the panel."""
    return line if width is None or len(line) < width else line[: max(0, width - 1)]


def panel_lines(snapshot: Snapshot, bar_chars: str, events: Sequence[str] = ()) -> list[str]:
    """The live panel: totals, one line per region, the latest events; always the same height."""
    rate = snapshot.sent / snapshot.elapsed_s if snapshot.elapsed_s > 0 else 0.0
    served = sum(region.served for region in snapshot.regions)
    lines = [
        f" {snapshot.elapsed_s:5.1f}s {rate:6.1f} req/s   sent {snapshot.sent}/{snapshot.total}"
        f"   ok {snapshot.ok}   errors {snapshot.errors}   retried {snapshot.retried}",
        f" {'region':<7} {'served':>6}  {'share':<{_BAR_WIDTH + 5}} {'429s':>5}"
        f" {'in flight':>9} {'cooling':>7}  quota used (TPM)",
    ]
    for region in snapshot.regions:
        share = _share(region.served, served)
        lines.append(
            f" {region.name:<7} {region.served:6d}  {_bar(share, bar_chars)} {share:4.0%}"
            f" {region.rate_limited:5d} {region.in_flight:9d} {_cooling(region):>7}"
            f"  {_share(region.tokens, region.tpm):4.0%} of {region.tpm:,}"
        )
    shown = list(events[-_EVENT_LINES:])
    shown += [""] * (_EVENT_LINES - len(shown))
    lines += [f" {'events' if i == 0 else '':<7} {event}" for i, event in enumerate(shown)]
    return lines


def progress_line(snapshot: Snapshot) -> str:
    """One plain line of progress, for output that is not a terminal."""
    regions = "  ".join(
        f"{region.name} {region.served} (429s {region.rate_limited}"
        + (f", cooling {region.cooling_s:.0f}s" if region.cooling_s > 0 else "")
        + ")"
        for region in snapshot.regions
    )
    return (
        f"[{snapshot.elapsed_s:5.1f}s] sent {snapshot.sent}/{snapshot.total}  ok {snapshot.ok}"
        f"  errors {snapshot.errors}  retried {snapshot.retried}  |  {regions}"
    )


def events_between(before: Snapshot | None, now: Snapshot) -> list[str]:
    """What changed worth telling: new upstream 429s, cooldowns starting and ending."""
    if before is None:
        return []
    told = []
    for old, new in zip(before.regions, now.regions, strict=True):
        new_429s = new.rate_limited - old.rate_limited
        if new_429s > 0:
            told.append(f"{new.name}: {new_429s} x 429 upstream (quota spent), retried elsewhere")
        if new.cooling_s > 0 and old.cooling_s == 0:
            told.append(f"{new.name} cooling down for {new.cooling_s:.0f}s (its retry-after)")
        elif new.cooling_s == 0 and old.cooling_s > 0:
            told.append(f"{new.name} is back in rotation")
    return told


class LiveView:
    """Shows snapshots: redrawn in place on a terminal, one line each elsewhere."""

    def __init__(self, out: TextIO, *, live: bool, width: int | None = None) -> None:
        self._out = out
        self._live = live
        self._width = width if live else None
        self._bar_chars = _bar_chars(out)
        self._drawn = 0
        self._last: Snapshot | None = None
        self._events: list[str] = []

    @property
    def period_s(self) -> float:
        """How often the caller should call ``show``."""
        return 0.2 if self._live else 1.0

    def show(self, snapshot: Snapshot) -> None:
        """Draw ``snapshot`` and whatever happened since the last one."""
        events = events_between(self._last, snapshot)
        self._last = snapshot
        at = snapshot.elapsed_s
        self._events = [*self._events, *(f"{at:5.1f}s {e}" for e in events)][-_EVENT_LINES:]
        if self._live:
            lines = panel_lines(snapshot, self._bar_chars, self._events)
            prefix = _UP.format(self._drawn) if self._drawn else _HIDE_CURSOR
            body = "".join(f"{_CLEAR}{_fit(line, self._width)}\n" for line in lines)
            self._out.write(prefix + body)
            self._drawn = len(lines)
        else:
            self._out.write("".join(f"[{at:5.1f}s] {event}\n" for event in events))
            self._out.write(progress_line(snapshot) + "\n")
        self._out.flush()

    def close(self) -> None:
        """Give the terminal its cursor back."""
        if self._live and self._drawn:
            self._out.write(_SHOW_CURSOR)
            self._out.flush()


def _region_rows(final: Snapshot, bar_chars: str) -> list[str]:
    served = sum(region.served for region in final.regions)
    return [
        f"  served by {region.name:<16} {region.served:6d}  {_share(region.served, served):6.1%}"
        f"  {_bar(_share(region.served, served), bar_chars, _SUMMARY_BAR_WIDTH)}"
        for region in final.regions
    ]


def _numbers(result: DemoResult, bar_chars: str) -> list[str]:
    final = result.final
    upstream_429s = sum(region.rate_limited for region in final.regions)
    p50 = percentile(result.latencies_s, 0.50) * 1000
    p95 = percentile(result.latencies_s, 0.95) * 1000
    return [
        "Summary",
        f"  requests sent              {final.sent:6d}   of {final.total}",
        f"  succeeded                  {final.ok:6d}",
        f"  client-visible errors      {final.errors:6d}",
        f"  upstream 429s absorbed     {upstream_429s:6d}   each retried at once on another region",
        f"  needed more than 1 attempt {final.retried:6d}",
        *_region_rows(final, bar_chars),
        f"  latency p50 / p95          {p50:6.0f} ms / {p95:.0f} ms   as the openai SDK saw it",
        *_blocked_lines(result),
        f"  wall time                  {result.wall_s:6.1f} s",
    ]


def _blocked_lines(result: DemoResult) -> list[str]:
    if result.team is None:
        return []
    if result.blocked_model is None:
        return ["  other model refused (404)      0   expected 1: see what went wrong"]
    return [f"  other model refused (404)      1   {result.blocked_model}, as expected"]


def _counts(requests: int, tokens: int) -> str:
    return f"{requests:>5,} req  {tokens:>6,} tokens"


def _usage_lines(result: DemoResult) -> list[str]:
    """The team's usage as the operator read it, each region's row beside the region's count."""
    usage = result.usage
    if usage is None:
        return []
    budget = "no budget"
    if usage.max_budget is not None:
        per = f" per {usage.budget_duration}" if usage.budget_duration else ""
        budget = f"budget ${usage.max_budget:,.2f}{per}"
    lines = [
        "",
        f"Team {usage.team_id}'s usage, read back through the management API (master key)",
        f"  GET /team/info?team_id={usage.team_id:<6} spend ${usage.spend_usd:.4f}   {budget}",
        "  GET /global/spend/report?group_by=deployment, and each region's own count:",
        f"{'':<16}{'the gateway reports':<28}the region counted",
    ]
    for region in usage.regions:
        lines.append(
            f"    {region.name:<12}{_counts(region.requests, region.tokens)}"
            f"    {_counts(region.counted_requests, region.counted_tokens)}"
            f"   {'agree' if region.agrees else 'DIFFER'}"
        )
    if usage.unrouted:
        blocked = f"the blocked {result.blocked_model} call" if result.blocked_model else "failed"
        lines.append(f"    {'no region':<12}{usage.unrouted:>5,} req  ({blocked})")
    return lines


def _error_lines(result: DemoResult) -> list[str]:
    lines = [f"    {count} x {description}" for description, count in result.errors[:5]]
    if result.timed_out:
        lines.insert(0, "    the demo hit its time limit and stopped the requests still open")
    if result.usage is not None and not result.usage.agrees:
        lines.append("    the gateway's spend report and the regions' own counts differ")
    lines += [f"    {problem}" for problem in result.problems]
    return ["", "What went wrong:", *lines] if lines else []


def _story(result: DemoResult) -> str:
    final = result.final
    limited = max(final.regions, key=lambda region: region.rate_limited)
    others = " and ".join(r.name for r in final.regions if r is not limited)
    key = f", with team {result.team}'s virtual key," if result.team else ""
    told = (
        f"{final.sent} requests were sent with the official openai SDK{key} to one model name, "
        "and the gateway spread them over the regions, each time picking the one with the "
        "fewest requests in flight (least-busy). "
    )
    if limited.rate_limited and result.first_retry_s is not None:
        told += (
            f"About {result.first_retry_s:.0f} s in, {limited.name} had spent its "
            f"{limited.tpm:,}-token quota for the minute and answered 429. The gateway retried "
            f"those requests on {others} within the same client call, and instead of knocking "
            f"on {limited.name} again it left it alone for as long as its retry-after asked. "
        )
    if final.errors == 0:
        told += "Your code never saw a single error. "
    else:
        told += f"{final.errors} requests still failed; see above for why. "
    return told + _books(result)


def _books(result: DemoResult) -> str:
    """What the operator's read-back showed, in a sentence or two."""
    usage = result.usage
    if usage is None:
        return ""
    told = ""
    if result.blocked_model is not None:
        told = (
            f"The same key could not reach {result.blocked_model}: team {usage.team_id} may use "
            "only its own models. "
        )
    total = sum(region.requests for region in usage.regions)
    if usage.agrees:
        return told + (
            f"Afterwards the operator read team {usage.team_id}'s usage back through the "
            f"management API: ${usage.spend_usd:.4f} spent, and {total} requests spread over the "
            "regions exactly as each region counted them itself, request for request and token "
            "for token. "
        )
    return told + (
        f"Afterwards the operator read team {usage.team_id}'s usage back through the management "
        "API, and it does not match what the regions counted. "
    )


_NEXT = (
    "What next: write your own deployments in the same LiteLLM format (start from\n"
    "examples/config.yaml), run the gateway, and point any OpenAI client at it:\n\n"
    "    quotaflow serve --config examples/config.yaml\n"
    '    OpenAI(base_url="http://127.0.0.1:4000/v1", api_key="<your master_key>")\n\n'
    "Teams, keys and spend in a browser: with quotaflow serve running, open /ui.\n"
)


def summary_text(result: DemoResult, out: TextIO) -> str:
    """The closing report: numbers, what went wrong if anything, what happened, what next."""
    bar_chars = _bar_chars(out)
    lines = ["", *_numbers(result, bar_chars), *_usage_lines(result), *_error_lines(result), ""]
    lines += [textwrap.fill(_story(result).strip(), width=_WRAP), ""]
    return "\n".join(lines) + "\n" + _NEXT

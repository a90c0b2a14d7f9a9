"""``quotaflow simulate``: the real router against fake regions that enforce their quotas.

A scenario (``scenario``) names the deployments, the offered load and the strategies to compare;
``runner`` runs it once per strategy on a scaled clock; ``report`` turns each run into metrics,
a Markdown table, JSON and a PNG chart. See docs/simulator.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from typing import TYPE_CHECKING, TextIO

from quotaflow.config import ROUTING_STRATEGIES
from quotaflow.errors import ConfigError
from quotaflow.serving import quiet_loggers
from quotaflow.simulator.report import Summary, markdown_table, summarize, to_json, write_png
from quotaflow.simulator.runner import RunResult, run_strategy
from quotaflow.simulator.scenario import Scenario, load_scenario, parse_scenario

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

__all__ = [
    "RunResult",
    "Scenario",
    "Summary",
    "load_scenario",
    "markdown_table",
    "parse_scenario",
    "run_simulation",
    "run_strategy",
    "simulate",
    "summarize",
    "to_json",
    "write_png",
]

_CHATTY_LOGGERS = ("uvicorn", "uvicorn.error", "matplotlib")
_NO_MATPLOTLIB = "note: no PNG written: it needs matplotlib (pip install 'quotaflow[sim]')\n"


async def simulate(
    scenario: Scenario,
    strategies: Sequence[str] | None = None,
    *,
    speed: float | None = None,
    progress: TextIO | None = None,
) -> list[Summary]:
    """Run the scenario once per strategy, one after the other; their summaries in order."""
    chosen = list(strategies or scenario.strategies)
    summaries = []
    for index, strategy in enumerate(chosen, 1):
        if progress is not None:
            progress.write(
                f"[{index}/{len(chosen)}] {strategy}: {scenario.duration_s:g} s of load"
                f" at {speed or scenario.speed:g}x …\n"
            )
        result = await run_strategy(scenario, strategy, speed=speed)
        summaries.append(summarize(result))
    return summaries


def run_simulation(
    path: Path,
    *,
    strategies: Sequence[str] | None = None,
    json_path: Path | None = None,
    png_path: Path | None = None,
    speed: float | None = None,
    out: TextIO | None = None,
) -> int:
    """``quotaflow simulate``: run, print the table, write the JSON and PNG; the exit code."""
    out = out or sys.stdout
    scenario = load_scenario(path)
    unknown = [s for s in strategies or () if s not in ROUTING_STRATEGIES]
    if unknown:
        known = ", ".join(ROUTING_STRATEGIES)
        raise ConfigError([f"--strategies: unknown {', '.join(unknown)} (one of: {known})"])
    if speed is not None and speed <= 0:
        raise ConfigError(["--speed: must be positive"])
    with quiet_loggers(*_CHATTY_LOGGERS), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        summaries = runner.run(simulate(scenario, strategies, speed=speed, progress=sys.stderr))
    out.write(markdown_table(scenario, summaries) + "\n")
    if json_path is not None:
        text = json.dumps(to_json(scenario, summaries), indent=2, allow_nan=False)
        json_path.write_text(text + "\n", encoding="utf-8")
    if png_path is not None and not write_png(scenario, summaries, png_path):
        sys.stderr.write(_NO_MATPLOTLIB)
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed."""
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop  # noqa: PLC0415

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory

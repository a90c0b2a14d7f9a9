"""Rendering and linting the Helm chart offline with Helm itself, in a child process.

Helm is Go; the dev dependency ``helm-python-sdk`` ships Helm's SDK (v4, the same template engine
and Sprig functions as the ``helm`` command) as a shared library in its wheel and calls it through
``ctypes``: ``Chart.render`` is ``helm template``, ``lint`` is ``helm lint``. The library starts the
Go runtime and its threads in whatever process loads it, so it is loaded in a child process,
once for every case, never in the test process (whose later ``fork``s it would make unsafe).

    results = render_cases(chart_dir, {"default": {...values...}, ...})
    results["default"].manifests    # template path -> rendered text, or
    results["default"].error        # Helm's message, when rendering failed
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ChartResult", "HelmUnavailable", "lint", "render_cases"]

RELEASE = "quotaflow"
NAMESPACE = "inv-demo"
_TIMEOUT_S = 60


class HelmUnavailable(RuntimeError):
    """``helm-python-sdk`` is not installed, or has no native library for this platform."""


@dataclass(frozen=True)
class ChartResult:
    """One case: the manifests Helm rendered, or the error it stopped with."""

    manifests: dict[str, str]
    error: str | None = None


def render_cases(chart: Path, cases: dict[str, dict[str, Any]]) -> dict[str, ChartResult]:
    """Render ``chart`` once per values set, as release ``quotaflow`` in namespace ``inv-demo``."""
    reply = _child({"op": "render", "chart": str(chart), "cases": cases})
    return {
        name: ChartResult(result.get("manifests", {}), result.get("error"))
        for name, result in reply.items()
    }


def lint(chart: Path, values: dict[str, Any], kube_version: str) -> dict[str, Any]:
    """``helm lint --strict`` with these values: ``{"messages": [...], "errors": [...]}``."""
    request = {"op": "lint", "chart": str(chart), "values": values, "kube_version": kube_version}
    report: dict[str, Any] = _child(request)
    return report


def _child(request: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - this interpreter, running this file
        [sys.executable, __file__],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if completed.returncode == _UNAVAILABLE:
        raise HelmUnavailable(completed.stderr.strip())
    if completed.returncode != 0:
        msg = f"the Helm child process failed: {completed.stderr.strip()}"
        raise RuntimeError(msg)
    reply: dict[str, Any] = json.loads(completed.stdout)
    return reply


_UNAVAILABLE = 3


def _main() -> int:  # pragma: no cover - runs in the child process
    try:
        import helm_python as helm  # noqa: PLC0415 - only the child loads the Go runtime
    except ImportError as exc:
        sys.stderr.write(f"helm-python-sdk is not installed: {exc}\n")
        return _UNAVAILABLE
    try:
        helm.helm_sdk_version()  # loads the native library now
    except (OSError, helm.HelmError) as exc:
        sys.stderr.write(f"helm-python-sdk has no native library for this platform: {exc}\n")
        return _UNAVAILABLE
    request = json.load(sys.stdin)
    chart = request["chart"]
    if request["op"] == "lint":
        reply = helm.lint(
            chart, request["values"], strict=True, kube_version=request["kube_version"]
        )
    else:
        reply = {}
        with helm.Chart.load(chart) as loaded:
            for name, values in request["cases"].items():
                try:
                    rendered = loaded.render(
                        values, name=RELEASE, namespace=NAMESPACE, is_install=True
                    )
                except helm.HelmError as exc:
                    reply[name] = {"error": str(exc)}
                else:
                    reply[name] = {"manifests": rendered}
    json.dump(reply, sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())

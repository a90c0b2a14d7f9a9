"""The ``quotaflow`` command: parse arguments, load settings, run — nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from quotaflow.cli import ADMIN_COMMANDS, add_admin_commands, run_admin_command
from quotaflow.config import CONFIG_ENV_VAR as CONFIG_ENV
from quotaflow.config import LOG_FORMAT_ENV_VAR, LOG_LEVEL_ENV_VAR
from quotaflow.config import WORKERS_ENV_VAR as WORKERS_ENV
from quotaflow.errors import ConfigError
from quotaflow.observability import configure_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

logger = logging.getLogger("quotaflow")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quotaflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help=f"config file (default: ${CONFIG_ENV})")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=0.0,
        help="on SIGTERM, report not-ready but keep serving this long before shutting down",
    )
    serve.add_argument(
        "--grace-seconds",
        type=float,
        default=30.0,
        help="then wait this long, at most, for calls and streams in flight (default 30)",
    )
    serve.add_argument(
        "--log-format",
        choices=["auto", "json", "text"],
        default="auto",
        help="JSON lines, or text; auto: text on a terminal, else JSON (default auto)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    check = commands.add_parser("check-config", help="validate a config file and say what it means")
    check.add_argument("config", type=Path)

    demo = commands.add_parser("demo", help="two fake Azure regions behind the gateway, live")
    demo.add_argument("--requests", type=int, default=300, help="requests to send (default 300)")
    demo.add_argument("--concurrency", type=int, default=24)

    simulate = commands.add_parser("simulate", help="compare routing strategies under a scenario")
    simulate.add_argument("scenario", type=Path, help="scenario YAML (see docs/simulator.md)")
    simulate.add_argument(
        "--strategies",
        type=lambda names: [name.strip() for name in names.split(",") if name.strip()],
        help="comma-separated strategies (default: the scenario's)",
    )
    simulate.add_argument("--json", type=Path, dest="json_path", help="write every metric here")
    simulate.add_argument("--png", type=Path, dest="png_path", help="write a chart here")
    simulate.add_argument("--speed", type=float, help="virtual seconds per real second")
    add_admin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    log_format: Literal["auto", "json", "text"] = getattr(args, "log_format", "auto")
    if args.command == "serve":
        configure_logging(args.log_level, log_format)
        if args.workers > 1:  # for the worker processes
            os.environ[LOG_FORMAT_ENV_VAR] = log_format
            os.environ[LOG_LEVEL_ENV_VAR] = args.log_level
    else:
        logging.basicConfig(
            level=getattr(args, "log_level", "info").upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    try:
        if args.command in ADMIN_COMMANDS:
            return run_admin_command(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "simulate":
            from quotaflow.simulator import run_simulation  # noqa: PLC0415

            return run_simulation(
                args.scenario,
                strategies=args.strategies,
                json_path=args.json_path,
                png_path=args.png_path,
                speed=args.speed,
            )
        from quotaflow.demo import run_demo  # noqa: PLC0415 - only the demo needs the openai SDK

        exit_code: int = run_demo(requests=args.requests, concurrency=args.concurrency)
        return exit_code
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2


def _check_config(path: Path) -> int:
    from quotaflow.app import build_router  # noqa: PLC0415
    from quotaflow.config import describe, load_settings  # noqa: PLC0415
    from quotaflow.providers import UpstreamClient  # noqa: PLC0415

    loaded = load_settings(path)
    build_router(loaded.settings, UpstreamClient())  # provider-level checks
    for warning in loaded.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    sys.stdout.write(describe(loaded.settings) + "\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from quotaflow.app import create_app  # noqa: PLC0415
    from quotaflow.config import load_settings  # noqa: PLC0415
    from quotaflow.serving import DrainingServer, freeze_heap  # noqa: PLC0415

    loaded = load_settings(args.config) if args.config else load_settings()
    for warning in loaded.warnings:
        logger.warning("config: %s", warning)
    router_settings = loaded.settings.router_settings
    shared = router_settings.redis_host is not None or router_settings.redis_url is not None
    options = {
        "host": args.host,
        "port": args.port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "access_log": False,  # quotaflow's own access log has the routing details
        "log_config": None,  # uvicorn logs through the JSON, redacting handler
        "log_level": args.log_level,
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": max(1, round(args.grace_seconds)),
    }
    if args.workers > 1:
        if args.config:
            # Worker processes load the same file; the environment is how uvicorn hands it over.
            os.environ[CONFIG_ENV] = str(args.config.resolve())
        os.environ[WORKERS_ENV] = str(args.workers)
        if shared:
            logger.info("%d workers share routing state through Redis", args.workers)
        else:
            logger.warning(
                "%d workers without Redis: each may send a deployment 1/%d of its declared "
                "rpm/tpm, so together they never exceed it, but in-flight counts (least-busy), "
                "cooldowns, latency and the admission queue are per worker; set "
                "router_settings.redis_host to share them",
                args.workers,
                args.workers,
            )
        uvicorn.run(
            "quotaflow.app:app_from_environment", factory=True, workers=args.workers, **options
        )
        return 0
    app = create_app(loaded.settings)
    freeze_heap()
    server = DrainingServer(
        uvicorn.Config(app, **options),
        drain_s=args.drain_seconds,
        on_drain=app.begin_drain,
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

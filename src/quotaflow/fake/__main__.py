"""``python -m quotaflow.fake``: serve one fake provider until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from quotaflow.fake.app import create_fake_app
from quotaflow.fake.config import DEFAULT_MODELS, FakeProviderConfig
from quotaflow.serving import base_url, bind_socket, serve_forever

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["config_from_args", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m quotaflow.fake", description="Serve a fake OpenAI or Azure OpenAI API."
    )
    add = parser.add_argument
    add("--flavor", choices=("openai", "azure", "anthropic", "gemini"), default="openai")
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=9001)
    add("--api-key", default=None, help="require this key (Bearer or api-key header)")
    add("--region", default="francecentral", help="Azure x-ms-region")
    add("--tpm", type=int, default=None, help="tokens per minute (default unlimited)")
    add("--rpm", type=int, default=None, help="requests per minute, enforced per 10 s")
    add("--latency-ms", type=float, default=0.0, help="before headers / first chunk")
    add("--inter-chunk-ms", type=float, default=0.0)
    add("--stream-chunks", type=int, default=None, help="content pieces (default: one per word)")
    add("--model", action="append", dest="models", help="listed model (repeatable)")
    add("--strict-models", action="store_true", help="404 for models not listed (OpenAI)")
    add("--deployment", action="append", dest="deployments", help="Azure deployment (repeatable)")
    add("--default-max-tokens", type=int, default=4096, help="TPM reserve without max_tokens")
    add("--model-version", default="gpt-4-turbo-2024-04-09", help="Azure response model")
    add("--content-filter-trigger", default="__content_filter__")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> tuple[FakeProviderConfig, str, int]:
    """Parse the command line into a config, a host and a port."""
    args = _parser().parse_args(argv)
    config = FakeProviderConfig(
        flavor=args.flavor,
        api_key=args.api_key,
        region=args.region,
        tpm=args.tpm,
        rpm=args.rpm,
        latency_ms=args.latency_ms,
        inter_chunk_ms=args.inter_chunk_ms,
        stream_chunks=args.stream_chunks,
        models=tuple(args.models or DEFAULT_MODELS),
        strict_models=args.strict_models,
        deployments=tuple(args.deployments or ()),
        default_max_tokens=args.default_max_tokens,
        model_version=args.model_version,
        content_filter_trigger=args.content_filter_trigger,
    )
    return config, args.host, args.port


def main(argv: Sequence[str] | None = None) -> int:
    """Bind, announce readiness on stderr, and serve."""
    config, host, port = config_from_args(argv)
    sock = bind_socket(host, port)
    sys.stderr.write(f"quotaflow fake provider ({config.flavor}) ready on {base_url(sock)}\n")
    sys.stderr.flush()
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(create_fake_app(config), sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())

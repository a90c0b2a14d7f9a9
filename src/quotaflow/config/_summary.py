"""``describe()``: what quotaflow understood from a config, in words, for ``check-config``.

Secrets (API keys, the master key, Redis and database URLs) are reported as set or not set,
never shown; credentials embedded in an ``api_base`` URL are masked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from quotaflow.config.schema import ModelEntry, RouterSettings, Settings

__all__ = ["describe"]


def describe(settings: Settings) -> str:
    """A human-readable summary of ``settings`` that never shows a secret value."""
    groups: dict[str, list[ModelEntry]] = {}
    for entry in settings.model_list:
        groups.setdefault(entry.model_name, []).append(entry)
    origin = str(settings.source) if settings.source is not None else "(given as a mapping)"
    lines = [
        f"config: {origin}",
        f"model groups: {len(groups)}, deployments: {len(settings.model_list)}",
    ]
    for name, entries in groups.items():
        lines.append(f"  {name}")
        lines.extend(f"    - {_deployment(entry)}" for entry in entries)
    lines.append(f"router: {_router(settings.router_settings)}")
    lines.append(f"shared state: {_redis(settings.router_settings)}")
    general = settings.general_settings
    lines.append(f"master key: {'set' if general.master_key else 'not set'}")
    lines.append(f"database: {'set' if general.database_url else 'not set'}")
    lines.append(f"max request size: {_number(general.max_request_size_mb)} MB")
    lines.append(f"drop_params: {str(settings.litellm_settings.drop_params).lower()}")
    return "\n".join(lines)


def _deployment(entry: ModelEntry) -> str:
    params = entry.params
    parts = [f"provider={params.provider}", f"model={params.upstream_model}"]
    if entry.model_info.id is not None:
        parts.append(f"id={entry.model_info.id}")
    if params.api_base is not None:
        parts.append(f"api_base={_without_credentials(params.api_base)}")
    if params.api_version is not None:
        parts.append(f"api_version={params.api_version}")
    parts.extend(
        f"{name}={_number(value)}"
        for name, value in (
            ("rpm", params.rpm),
            ("tpm", params.tpm),
            ("weight", params.weight),
            ("order", params.order),
            ("timeout", params.timeout),
            ("stream_timeout", params.stream_timeout),
        )
        if value is not None
    )
    parts.append(f"api_key={'set' if params.api_key else 'not set'}")
    if params.extra_headers:
        parts.append(f"extra_headers={','.join(sorted(params.extra_headers))}")
    return " ".join(parts)


def _router(router: RouterSettings) -> str:
    ttft = router.stream_timeout
    stream_timeout = f"{_number(ttft)}s" if ttft is not None else "not set"
    return ", ".join(
        [
            f"routing_strategy={router.routing_strategy}",
            f"num_retries={router.num_retries}",
            f"timeout={_number(router.timeout)}s",
            f"stream_timeout={stream_timeout}",
            f"cooldown_time={_number(router.cooldown_time)}s",
            f"allowed_fails={router.allowed_fails}",
            f"retry_after={_number(router.retry_after)}s",
        ]
    )


def _redis(router: RouterSettings) -> str:
    if router.redis_url is not None:
        return "Redis at redis_url (hidden)"
    if router.redis_host is not None:
        password = "password set" if router.redis_password else "no password"
        return f"Redis at {router.redis_host}:{router.redis_port} ({password})"
    return "in this process only (no Redis configured)"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"***@{host}:{parts.port}" if parts.port else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _number(value: float) -> str:
    """``600.0`` as ``600``, ``0.5`` as ``0.5``; never scientific notation."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

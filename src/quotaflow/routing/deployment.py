"""``Deployment`` (one upstream model) and ``ModelGroup`` (the deployments behind one name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from quotaflow.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.config import ModelEntry, RouterSettings, Settings

__all__ = ["Deployment", "ModelGroup", "build_groups"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream model that can serve a model group's calls."""

    id: str
    model_group: str
    provider: str
    upstream_model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    weight: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    order: int | None = None
    timeout_s: float = 600.0
    stream_timeout_s: float | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    drop_params: bool = False  # drop what the provider cannot honour instead of answering 400
    base_model: str | None = None  # what the deployment really is (Azure names are arbitrary)
    input_cost_per_token: float | None = None  # overrides the price table
    output_cost_per_token: float | None = None

    @property
    def first_token_timeout_s(self) -> float:
        """How long a stream may take to produce its first event."""
        return self.stream_timeout_s if self.stream_timeout_s is not None else self.timeout_s


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """The public model name clients call, and the deployments behind it."""

    name: str
    deployments: tuple[Deployment, ...]


def build_groups(settings: Settings, providers: Mapping[str, object]) -> dict[str, ModelGroup]:
    """Deployments from the ``model_list``, grouped by ``model_name``, in config order."""
    problems: list[str] = []
    members: dict[str, list[Deployment]] = {}
    taken: set[str] = set()
    for index, entry in enumerate(settings.model_list):
        if entry.params.provider not in providers:
            known = ", ".join(sorted(providers))
            problems.append(
                f"model_list[{index}].litellm_params.model: unknown provider "
                f"'{entry.params.provider}' (known: {known})"
            )
            continue
        deployment = _deployment(
            entry,
            settings.router_settings,
            taken,
            drop_params=settings.litellm_settings.drop_params,
        )
        taken.add(deployment.id)
        members.setdefault(entry.model_name, []).append(deployment)
    if problems:
        raise ConfigError(problems)
    return {name: ModelGroup(name, tuple(group)) for name, group in members.items()}


def _deployment(
    entry: ModelEntry, router: RouterSettings, taken: set[str], *, drop_params: bool
) -> Deployment:
    """The deployment of one entry; ``drop_params`` is the global default it may override."""
    params = entry.params
    deployment_id = entry.model_info.id or _default_id(entry, taken)
    extra = {k: v for k, v in (params.extra_headers or {}).items()}
    return Deployment(
        id=deployment_id,
        model_group=entry.model_name,
        provider=params.provider,
        upstream_model=params.upstream_model,
        api_base=params.api_base,
        api_key=params.api_key.get_secret_value() if params.api_key else None,
        api_version=params.api_version,
        weight=params.weight,
        rpm=params.rpm,
        tpm=params.tpm,
        order=params.order,
        timeout_s=params.timeout if params.timeout is not None else router.timeout,
        stream_timeout_s=params.stream_timeout
        if params.stream_timeout is not None
        else router.stream_timeout,
        extra_headers=extra,
        drop_params=params.drop_params if params.drop_params is not None else drop_params,
        base_model=entry.model_info.base_model,
        input_cost_per_token=params.input_cost_per_token,
        output_cost_per_token=params.output_cost_per_token,
    )


def _default_id(entry: ModelEntry, taken: set[str]) -> str:
    """``provider/model@host``: readable in headers and metrics, and stable across restarts."""
    host = urlsplit(entry.params.api_base).netloc if entry.params.api_base else "default"
    base = f"{entry.params.provider}/{entry.params.upstream_model}@{host}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}#{n}"
    return candidate

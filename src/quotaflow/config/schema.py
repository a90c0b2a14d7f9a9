"""The shape of quotaflow's configuration: frozen pydantic models with their defaults and rules.

Key names follow LiteLLM's ``config.yaml`` so that a LiteLLM user's file loads unchanged; the one
rename, ``ModelEntry.params``, still accepts LiteLLM's spelling ``litellm_params``. Unknown keys
are forbidden here: ``quotaflow.config.loader`` decides which unknown keys are errors and which
are warnings, and removes the latter before validation. Durations are seconds, sizes megabytes,
costs US dollars per token.
"""

# No ``from __future__ import annotations``: pydantic (and ruff's TC rules) need the annotations
# of these models evaluated at runtime.

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from quotaflow.config._references import group_reference_problems

__all__ = [
    "ROUTING_STRATEGIES",
    "DeploymentParams",
    "GeneralSettings",
    "LitellmSettings",
    "ModelEntry",
    "ModelInfo",
    "RouterSettings",
    "RoutingStrategy",
    "Settings",
]

RoutingStrategy = Literal[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
    "quota-aware",
]
"""How a model group picks a deployment; the first six are LiteLLM's names."""

ROUTING_STRATEGIES: Final[tuple[str, ...]] = get_args(RoutingStrategy)
"""Every valid ``router_settings.routing_strategy``, in documentation order."""

_PROVIDER = re.compile(r"[a-z0-9_-]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _problem(kind: str, message: str) -> PydanticCustomError:
    # No context: the message is final, so braces in user values are never treated as fields.
    return PydanticCustomError(kind, message, None)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise _problem("blank", "must not be empty")
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        protected_namespaces=(),
    )


class DeploymentParams(_Frozen):
    """One upstream deployment: where calls go, with which credentials, limits and prices."""

    model: str
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    rpm: NonNegativeInt | None = None
    tpm: NonNegativeInt | None = None
    weight: PositiveFloat | None = None  # relative share of traffic (simple-shuffle)
    order: PositiveInt | None = None  # priority: lowest order among healthy deployments first
    timeout: PositiveFloat | None = None  # seconds per attempt; else router_settings.timeout
    stream_timeout: PositiveFloat | None = None  # seconds to the first streamed token
    max_retries: NonNegativeInt | None = None  # LiteLLM's per-deployment count; not used yet
    drop_params: bool | None = None  # else litellm_settings.drop_params
    input_cost_per_token: NonNegativeFloat | None = None
    output_cost_per_token: NonNegativeFloat | None = None
    # Header values often carry credentials, so they stay out of repr().
    extra_headers: dict[str, str] | None = Field(default=None, repr=False)

    @property
    def provider(self) -> str:
        """The provider type: the part of ``model`` before the first ``/`` (``azure``)."""
        return self.model.partition("/")[0]

    @property
    def upstream_model(self) -> str:
        """The model or deployment name the provider knows: the part after the first ``/``."""
        return self.model.partition("/")[2]

    @field_validator("model")
    @classmethod
    def _provider_prefixed(cls, value: str) -> str:
        provider, slash, name = value.partition("/")
        if not slash:
            raise _problem(
                "model_without_provider",
                f"{value!r} has no provider prefix; write '<provider>/<model>', "
                f"e.g. 'openai/{value}' or 'azure/{value}'",
            )
        if not _PROVIDER.fullmatch(provider):
            raise _problem(
                "invalid_provider",
                f"provider {provider!r} must be lower-case letters, digits, '_' or '-'",
            )
        if not name.strip():
            raise _problem("missing_upstream_model", f"the model name after '{provider}/' is empty")
        return value

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _is_http_url(value.strip()):
            raise _problem("invalid_api_base", "must be an http:// or https:// URL")
        return value.strip().rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _api_version_not_blank(cls, value: str | None) -> str | None:
        return _not_blank(value)

    @field_validator("extra_headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, header in (value or {}).items():
            if not _HEADER_NAME.fullmatch(name):
                raise _problem("invalid_header_name", f"{name!r} is not a valid HTTP header name")
            if "\r" in header or "\n" in header:
                raise _problem("invalid_header_value", f"the value of {name!r} has a line break")
        return value


class ModelInfo(_Frozen):
    """Metadata about a deployment; ``id`` names it in logs, metrics and the admin API."""

    id: str | None = None
    base_model: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # LiteLLM accepts numeric ids and turns them into strings.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("id", "base_model")
    @classmethod
    def _text_not_blank(cls, value: str | None) -> str | None:
        return _not_blank(value)


class ModelEntry(_Frozen):
    """One ``model_list`` entry: a deployment serving the model group ``model_name``."""

    model_name: str
    params: DeploymentParams = Field(validation_alias=AliasChoices("litellm_params", "params"))
    model_info: ModelInfo = ModelInfo()

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: object) -> object:
        if isinstance(data, Mapping) and "litellm_params" in data and "params" in data:
            raise _problem("conflicting_keys", "give either 'litellm_params' or 'params', not both")
        return data

    @field_validator("model_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _problem("blank", "must not be empty")
        return value


class RoutingStrategyArgs(_Frozen):
    """Tuning of the strategies (LiteLLM's ``routing_strategy_args``)."""

    # latency-based-routing: deployments within this fraction of the fastest are equally good.
    lowest_latency_buffer: NonNegativeFloat = 0.0
    ttl: PositiveFloat = 3600.0  # seconds a latency sample counts (LiteLLM's key; accepted)


class RouterSettings(_Frozen):
    """How the router picks deployments, retries, cools deployments down and shares state."""

    routing_strategy: RoutingStrategy = "simple-shuffle"
    num_retries: NonNegativeInt = 2  # attempts after the first
    timeout: PositiveFloat = 600.0  # seconds, total, per attempt
    stream_timeout: PositiveFloat | None = None  # seconds to the first streamed token
    cooldown_time: NonNegativeFloat = 5.0  # seconds a cooled-down deployment is skipped
    # Failures tolerated per deployment per minute before the next one cools it down; a 429
    # or an authentication failure always cools it down.
    allowed_fails: NonNegativeInt = 0
    retry_after: NonNegativeFloat = 0.0  # least seconds to wait when no deployment is healthy
    redis_host: str | None = None
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_password: SecretStr | None = None
    redis_url: SecretStr | None = None  # when set, wins over redis_host/port/password
    redis_db: NonNegativeInt = 0
    redis_ssl: bool = False  # TLS to redis_host (a ``rediss://`` URL says so itself)
    # Prefix of every shared key: one Redis can serve several gateways (staging, prod).
    redis_key_prefix: str = Field(default="quotaflow", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    # Seconds a Redis call may take before the replica serves on local state (degraded).
    redis_timeout: PositiveFloat = 0.25
    # Seconds an in-flight lease outlives its replica: a replica renews its leases every third
    # of this, so the calls of a replica that died stop counting after at most this long.
    state_lease_seconds: PositiveFloat = 15.0
    # Per model group: another strategy than ``routing_strategy``.
    model_group_routing_strategy: dict[str, RoutingStrategy] = Field(default_factory=dict)
    routing_strategy_args: RoutingStrategyArgs = Field(default_factory=RoutingStrategyArgs)
    # Fallbacks, LiteLLM's shape: a list of maps ``{group: [fallback groups, ...]}``.
    fallbacks: tuple[dict[str, tuple[str, ...]], ...] = ()
    default_fallbacks: tuple[str, ...] = ()
    context_window_fallbacks: tuple[dict[str, tuple[str, ...]], ...] = ()
    content_policy_fallbacks: tuple[dict[str, tuple[str, ...]], ...] = ()
    max_fallbacks: NonNegativeInt = 5  # fallback groups tried at most, per call
    model_group_alias: dict[str, str] = Field(default_factory=dict)  # alias -> model group
    enable_pre_call_checks: bool = True  # the context-window check before a call
    # The admission queue: when every deployment is out of quota or cooling down, a call waits
    # up to ``queue_timeout`` seconds (0: answer 429 at once), at most ``queue_max_size`` calls.
    queue_timeout: NonNegativeFloat = 30.0
    queue_max_size: NonNegativeInt = 1000
    default_priority: int = 0  # a call's priority when it names none; lower is served first
    default_max_tokens: PositiveInt = 4096  # the completion size assumed when a call names none

    @field_validator("routing_strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: object) -> object:
        if isinstance(value, str) and value not in ROUTING_STRATEGIES:
            wanted = value.strip().lower().replace("_", "-")
            closest = difflib.get_close_matches(wanted, ROUTING_STRATEGIES, n=1, cutoff=0.0)
            raise _problem(
                "unknown_routing_strategy",
                f"unknown routing strategy {value!r}; did you mean {closest[0]!r}? "
                f"(one of: {', '.join(ROUTING_STRATEGIES)})",
            )
        return value

    @field_validator("redis_host")
    @classmethod
    def _host_not_blank(cls, value: str | None) -> str | None:
        return _not_blank(value)


class GeneralSettings(_Frozen):
    """Server-wide settings: the admin credential, the database, request limits."""

    master_key: SecretStr | None = None
    # PostgreSQL (``postgresql://…``) or SQLite (``sqlite:///path``) for keys, teams and spend;
    # ``$DATABASE_URL`` when unset; else SQLite ``quotaflow.db`` in ``data_dir``.
    database_url: SecretStr | None = None
    # Where the SQLite store and the spend spool live; default: the config file's folder.
    data_dir: Path | None = None
    max_request_size_mb: PositiveFloat = 10.0
    # /metrics on a port of its own too (with --workers N each worker would compete for it).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    require_auth_for_metrics_endpoint: bool = False  # LiteLLM's name
    # OTLP/HTTP base URL for traces (``$OTEL_EXPORTER_OTLP_ENDPOINT`` when unset); off when none.
    otel_exporter_otlp_endpoint: str | None = None
    # The status of an exhausted budget (type and code ``insufficient_quota``): OpenAI's 429 by
    # default; 400 for clients that must not retry.
    budget_exceeded_status: int = Field(default=429, ge=400, le=499)
    # Probe every deployment with a minimal real call (billed: max_tokens 1) in the background,
    # once per ``health_check_interval`` seconds across the whole fleet (LiteLLM's names).
    background_health_checks: bool = False
    health_check_interval: PositiveFloat = 300.0

    @field_validator("master_key", "database_url")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise _problem("blank", "must not be empty")
        return value


class LitellmSettings(_Frozen):
    """The part of LiteLLM's ``litellm_settings`` quotaflow understands.

    ``num_retries`` and ``request_timeout`` are LiteLLM's process-wide defaults; the loader copies
    them into ``router_settings`` when that section does not set its own value, so components
    read ``RouterSettings`` only.
    """

    drop_params: bool = False
    num_retries: NonNegativeInt | None = None
    request_timeout: PositiveFloat | None = None


class Settings(_Frozen):
    """The whole configuration; each component receives only its own section."""

    model_list: tuple[ModelEntry, ...]
    router_settings: RouterSettings = RouterSettings()
    general_settings: GeneralSettings = GeneralSettings()
    litellm_settings: LitellmSettings = LitellmSettings()
    # Set by the loader, never read from the file (the loader treats a ``source`` key as unknown).
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _references_name_groups(self) -> "Settings":
        problems = group_reference_problems(
            self.router_settings, {entry.model_name for entry in self.model_list}
        )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @field_validator("model_list")
    @classmethod
    def _entries_and_ids(cls, entries: tuple[ModelEntry, ...]) -> tuple[ModelEntry, ...]:
        # Checked here rather than with min_length, which would also fire (counting only the
        # valid entries) whenever an entry is invalid.
        if not entries:
            raise _problem("no_models", "needs at least one entry")
        first_use: dict[str, int] = {}
        duplicates: list[InitErrorDetails] = []
        for index, entry in enumerate(entries):
            deployment_id = entry.model_info.id
            if deployment_id is None:
                continue
            if deployment_id in first_use:
                first = first_use[deployment_id]
                message = f"id {deployment_id!r} is already used by model_list[{first}]"
                duplicates.append(
                    InitErrorDetails(
                        type=_problem("duplicate_id", message),
                        loc=(index, "model_info", "id"),
                        input=deployment_id,
                    )
                )
            else:
                first_use[deployment_id] = index
        if duplicates:
            # One error per duplicate, each at its own path (pydantic prefixes "model_list").
            raise ValidationError.from_exception_data(cls.__name__, duplicates)
        return entries

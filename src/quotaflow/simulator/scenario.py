"""The scenario file: deployments and their quotas, the offered load, and the strategies to compare.

Frozen pydantic models with unknown keys forbidden, so a typo is an error that names its path.
Durations are virtual seconds, latencies virtual milliseconds, sizes tokens. A size or latency is
a number (fixed) or ``{min, max}`` (uniform). ``router`` holds ``router_settings`` keys, checked
by ``quotaflow.config`` exactly as in a gateway config.
"""

# No ``from __future__ import annotations``: pydantic needs the annotations evaluated.

import math
import random
import re
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from quotaflow.config import RoutingStrategy, load_settings
from quotaflow.errors import ConfigError

__all__ = [
    "MODEL",
    "RPM_PER_1000_TPM",
    "DeploymentSpec",
    "LoadSpec",
    "Outage",
    "Phase",
    "Scenario",
    "Tokens",
    "Uniform",
    "gateway_config",
    "load_scenario",
    "parse_scenario",
]

MODEL: Final = "gpt-4-preview"
"""The public model name every simulated request asks for."""

RPM_PER_1000_TPM: Final = 6
"""Azure's ratio: a deployment's request quota when the scenario gives only its token quota."""

T = TypeVar("T")
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Uniform(_Frozen):
    """A value drawn uniformly from ``[min, max]``; a plain number ``x`` means ``[x, x]``."""

    min: NonNegativeFloat
    max: NonNegativeFloat

    @model_validator(mode="before")
    @classmethod
    def _fixed(cls, data: object) -> object:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"min": data, "max": data}
        if not isinstance(data, dict | Uniform):
            msg = "must be a number or {min, max}"
            raise ValueError(msg)  # pydantic reports a ValueError, not a TypeError
        return data

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if self.min > self.max:
            msg = f"min ({self.min:g}) must not exceed max ({self.max:g})"
            raise ValueError(msg)
        return self

    @property
    def mean(self) -> float:
        """The expected value."""
        return (self.min + self.max) / 2

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return rng.uniform(self.min, self.max) if self.max > self.min else self.min


class Tokens(Uniform):
    """A token count drawn uniformly from ``[min, max]``; a plain number is fixed."""

    min: PositiveInt
    max: PositiveInt


class Outage(_Frozen):
    """A deployment unreachable (its connections reset) from ``start_s`` until ``end_s``."""

    start_s: NonNegativeFloat
    end_s: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> "Outage":
        if self.end_s <= self.start_s:
            msg = "end_s must be after start_s"
            raise ValueError(msg)
        return self

    def covers(self, t_s: float) -> bool:
        """Whether the deployment is down at ``t_s``."""
        return self.start_s <= t_s < self.end_s


class DeploymentSpec(_Frozen):
    """One fake Azure region: its quota, how fast it answers, and when it is down."""

    id: str
    region: str = "francecentral"
    tpm: PositiveInt
    rpm: PositiveInt | None = None  # default: RPM_PER_1000_TPM per 1000 TPM
    latency_ms: Uniform = Uniform(min=0, max=0)  # to the headers and first chunk of an answer
    inter_chunk_ms: NonNegativeFloat = 0.0
    outages: tuple[Outage, ...] = ()

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            msg = "must be lowercase letters, digits and '-'"
            raise ValueError(msg)
        return value

    @property
    def request_quota(self) -> int:
        """Requests per minute: ``rpm``, else Azure's ratio to ``tpm``."""
        return self.rpm or max(1, math.ceil(self.tpm * RPM_PER_1000_TPM / 1000))

    def down_at(self, t_s: float) -> bool:
        """Whether an outage covers ``t_s``."""
        return any(outage.covers(t_s) for outage in self.outages)


class Phase(_Frozen):
    """A stretch of constant offered load: ``load`` (share of the quota) or ``rps``."""

    duration_s: PositiveFloat
    load: NonNegativeFloat | None = None
    rps: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> "Phase":
        if (self.load is None) == (self.rps is None):
            msg = "give exactly one of load (share of the combined quota) and rps"
            raise ValueError(msg)
        return self


class LoadSpec(_Frozen):
    """Open-loop Poisson arrivals, phase by phase, and what each request asks for."""

    phases: tuple[Phase, ...]
    prompt_tokens: Tokens = Tokens(min=500, max=500)
    max_tokens: Tokens = Tokens(min=500, max=500)
    stream_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0

    @property
    def mean_charge(self) -> float:
        """Tokens an Azure deployment charges per request on average: prompt plus max_tokens."""
        return self.prompt_tokens.mean + self.max_tokens.mean

    @field_validator("phases")
    @classmethod
    def _some_phase(cls, value: tuple[Phase, ...]) -> tuple[Phase, ...]:
        return _not_empty(value)


class Scenario(_Frozen):
    """A simulation: deployments, offered load, router settings and the strategies to compare."""

    name: str
    description: str = ""
    seed: int = 0
    speed: PositiveFloat = 20.0  # virtual seconds per real second
    deployments: tuple[DeploymentSpec, ...]
    load: LoadSpec
    router: dict[str, Any] = Field(default_factory=dict)  # router_settings
    strategies: tuple[RoutingStrategy, ...]
    drain_s: PositiveFloat = 60.0  # after the last arrival: how long calls may still finish
    bucket_s: PositiveFloat = 10.0  # width of a time-series bucket (report and chart)

    @field_validator("deployments")
    @classmethod
    def _unique_ids(cls, value: tuple[DeploymentSpec, ...]) -> tuple[DeploymentSpec, ...]:
        _not_empty(value)
        ids = [deployment.id for deployment in value]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            msg = f"deployment ids must be unique: {', '.join(repeated)}"
            raise ValueError(msg)
        return value

    @field_validator("strategies")
    @classmethod
    def _unique_strategies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _not_empty(value)
        if len(set(value)) != len(value):
            msg = "each strategy may be listed once"
            raise ValueError(msg)
        return value

    @field_validator("router")
    @classmethod
    def _no_strategy(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "routing_strategy" in value:
            msg = "routing_strategy comes from 'strategies', not from 'router'"
            raise ValueError(msg)
        return value

    @property
    def duration_s(self) -> float:
        """The length of the offered load: every phase together."""
        return sum(phase.duration_s for phase in self.load.phases)

    @property
    def combined_tpm(self) -> int:
        """Every deployment's token quota together."""
        return sum(deployment.tpm for deployment in self.deployments)

    @property
    def combined_rpm(self) -> int:
        """Every deployment's request quota together."""
        return sum(deployment.request_quota for deployment in self.deployments)

    @property
    def capacity_rps(self) -> float:
        """Requests per second the combined quota serves: tokens or requests, whichever binds."""
        by_tokens = self.combined_tpm / 60 / self.load.mean_charge
        return min(by_tokens, self.combined_rpm / 60)

    def rate_of(self, phase: Phase) -> float:
        """The phase's arrival rate in requests per (virtual) second."""
        return phase.rps if phase.rps is not None else (phase.load or 0.0) * self.capacity_rps


def gateway_config(
    scenario: Scenario, strategy: str, urls: dict[str, str] | None = None
) -> dict[str, Any]:
    """The gateway config (LiteLLM format) for one strategy; ``urls`` maps ids to fakes."""
    urls = urls or {}
    return {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"azure/{MODEL}",
                    "api_base": urls.get(d.id, "http://127.0.0.1:9"),
                    "api_key": f"sim-key-{d.id}",
                    "api_version": "2024-02-15-preview",
                    "tpm": d.tpm,
                    "rpm": d.request_quota,
                },
                "model_info": {"id": d.id},
            }
            for d in scenario.deployments
        ],
        "router_settings": {**scenario.router, "routing_strategy": strategy},
    }


def parse_scenario(data: object, source: str = "scenario") -> Scenario:
    """Validate a loaded mapping; ``ConfigError`` lists each problem with its key path."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{source}: {_problem(error)}" for error in exc.errors()]) from None
    try:
        loaded = load_settings(data=gateway_config(scenario, scenario.strategies[0]), environ={})
    except ConfigError as exc:
        problems = exc.problems
    else:
        problems = list(loaded.warnings)  # a key the gateway would ignore is a mistake here
    if problems:
        raise ConfigError([f"{source}: {_router_path(problem)}" for problem in problems])
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    return parse_scenario(data, str(path))


def _router_path(problem: str) -> str:
    """A gateway config problem, named by its key in the scenario."""
    return "router." + problem.removeprefix("router_settings.")


def _problem(error: ErrorDetails) -> str:
    """``deployments.0.tpm: Input should be greater than 0``."""
    path = ".".join(map(str, error["loc"])) or "(top level)"
    return f"{path}: {error['msg'].removeprefix('Value error, ')}"


def _not_empty(value: tuple[T, ...]) -> tuple[T, ...]:
    """Non-empty lists only (checked after the items, so a bad item is not reported twice)."""
    if not value:
        msg = "must list at least one"
        raise ValueError(msg)
    return value

"""Field types and base classes shared by the management API's request and response models.

Requests forbid unknown fields and validate ranges; the names are LiteLLM's. Money arrives as a
JSON number or string and is kept as ``Decimal``; it leaves as a JSON number.
"""

# No ``from __future__ import annotations``: pydantic evaluates these annotations at runtime.

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from quotaflow.limits.periods import parse_duration

__all__ = [
    "DurationText",
    "LimitFields",
    "LimitView",
    "Request",
    "Response",
    "Usd",
]


def _duration(text: str) -> str:
    parse_duration(text)  # ValueError names the expected form
    return text.strip()


def _names(values: list[str]) -> list[str]:
    for value in values:
        if not value.strip():
            msg = "model names must not be empty"
            raise ValueError(msg)
    return values


DurationText = Annotated[
    str,
    AfterValidator(_duration),
    Field(description="A duration: '30s', '15m', '1h', '1d', '7d', '1mo'.", examples=["30d"]),
]
Usd = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), description="US dollars.")]
Count = Annotated[int, Field(ge=0, le=10**12)]
ModelNames = Annotated[list[str], AfterValidator(_names), Field(max_length=1000)]


class Request(BaseModel):
    """A management request body or query: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Response(BaseModel):
    """A management answer."""

    model_config = ConfigDict(frozen=True)


class LimitFields(Request):
    """What keys, teams and users share: allowed models, budget and rate limits."""

    models: ModelNames | None = Field(
        default=None, description="Model names it may use; empty or absent: every model."
    )
    max_budget: Usd | None = Field(default=None, description="Spend allowed per budget period.")
    budget_duration: DurationText | None = Field(
        default=None, description="How often the budget resets; absent: never."
    )
    tpm_limit: Count | None = Field(default=None, description="Tokens per minute.")
    rpm_limit: Count | None = Field(default=None, description="Requests per minute.")
    max_parallel_requests: Count | None = Field(default=None, description="Calls in progress.")
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form JSON object.")


class LimitView(Response):
    """The shared fields as answered, with the spend of the current budget period."""

    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None = Field(description="When the current budget period ends.")
    tpm_limit: int | None
    rpm_limit: int | None
    max_parallel_requests: int | None
    metadata: dict[str, Any]
    spend: float = Field(description="Spend in the current budget period (all time without one).")
    created_at: datetime
    updated_at: datetime

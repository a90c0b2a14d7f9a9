"""``ModelCatalog``: what a model costs per token, how much context it takes, which tokenizer.

The table is LiteLLM's ``model_prices_and_context_window.json`` schema, trimmed to the models
quotaflow routes and bundled as ``models.json`` — no network at start-up or run time. Keys are
model names as LiteLLM writes them: bare OpenAI and Anthropic names (``gpt-4o``,
``claude-sonnet-4-5``), ``azure/<model>``, ``gemini/<model>``. Prices are ``Decimal`` USD per
token, read from the JSON text without passing through ``float``.

A deployment finds its row with ``lookup`` (see its docstring for the order), and
``for_deployment`` lays the deployment's configured prices over it, once at start-up.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from types import MappingProxyType

from quotaflow.catalog.tokens import encoding_for_model

__all__ = ["ModelCatalog", "ModelSpec"]

# A dated snapshot suffix: -2024-08-06 (OpenAI), -20250929 (Anthropic), -0613 (older OpenAI).
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")
_SPEC_KEY = "sample_spec"  # LiteLLM's first key documents the fields; it is not a model


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model's prices (``Decimal`` USD per token; ``None`` = unknown), limits and tokenizer."""

    name: str
    litellm_provider: str
    encoding: str
    mode: str = "chat"
    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    cache_read_input_token_cost: Decimal | None = None
    cache_creation_input_token_cost: Decimal | None = None
    input_cost_per_token_above_200k_tokens: Decimal | None = None
    output_cost_per_token_above_200k_tokens: Decimal | None = None
    cache_read_input_token_cost_above_200k_tokens: Decimal | None = None
    cache_creation_input_token_cost_above_200k_tokens: Decimal | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None

    def with_prices(
        self,
        *,
        input_cost_per_token: float | Decimal | None = None,
        output_cost_per_token: float | Decimal | None = None,
    ) -> ModelSpec:
        """This spec with a deployment's own flat prices for the sides that are given.

        As with LiteLLM's custom prices, an overridden side is flat: the table's cache and
        long-context prices for that side no longer apply.
        """
        spec = self
        if input_cost_per_token is not None:
            spec = replace(
                spec,
                input_cost_per_token=_override(input_cost_per_token),
                cache_read_input_token_cost=None,
                cache_creation_input_token_cost=None,
                input_cost_per_token_above_200k_tokens=None,
                cache_read_input_token_cost_above_200k_tokens=None,
                cache_creation_input_token_cost_above_200k_tokens=None,
            )
        if output_cost_per_token is not None:
            spec = replace(
                spec,
                output_cost_per_token=_override(output_cost_per_token),
                output_cost_per_token_above_200k_tokens=None,
            )
        return spec


class ModelCatalog(Mapping[str, ModelSpec]):
    """Model specs by catalog key, and the lookup that finds a deployment's spec."""

    def __init__(self, specs: Mapping[str, ModelSpec]) -> None:
        self._specs = MappingProxyType(dict(specs))

    @staticmethod
    def bundled() -> ModelCatalog:
        """The table shipped in the package, parsed once per process and shared."""
        return _bundled_catalog()

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCatalog:
        """A table in LiteLLM's schema (unknown fields skipped; bad values: ``ValueError``)."""
        raw = json.loads(text, parse_float=Decimal)
        if not isinstance(raw, dict):
            msg = "a model price table is a JSON object"
            raise ValueError(msg)
        return cls({name: _spec(name, row) for name, row in raw.items() if name != _SPEC_KEY})

    def __getitem__(self, name: str) -> ModelSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def lookup(
        self, provider: str, upstream_model: str, *, base_model: str | None = None
    ) -> ModelSpec | None:
        """The spec of a deployment's model, or ``None`` when the table does not know it.

        ``base_model`` (what an arbitrarily named Azure deployment really is, with or without
        ``azure/``) is tried first, then ``upstream_model``. For each name: ``<provider>/<name>``,
        the name itself, its last path segment, then the same with a dated snapshot suffix
        removed (``gpt-4o-2024-08-06`` → ``gpt-4o``, ``claude-sonnet-4-5-20250929`` →
        ``claude-sonnet-4-5``).
        """
        names = (base_model, upstream_model) if base_model else (upstream_model,)
        for name in names:
            keys = _keys(provider, name)
            for key in (*keys, *(_SNAPSHOT.sub("", key) for key in keys)):
                spec = self._specs.get(key)
                if spec is not None:
                    return spec
        return None

    def for_deployment(
        self,
        provider: str,
        upstream_model: str,
        *,
        base_model: str | None = None,
        input_cost_per_token: float | Decimal | None = None,
        output_cost_per_token: float | Decimal | None = None,
    ) -> ModelSpec:
        """A deployment's spec: its table row with its configured prices laid over it.

        A model the table does not know still gets a spec — named ``<provider>/<model>``, with
        the tokenizer its name implies and only the configured prices — so callers never branch
        on "known"; ``cost_usd`` answers ``None`` where a price is missing.
        """
        spec = self.lookup(provider, upstream_model, base_model=base_model) or ModelSpec(
            name=f"{provider}/{upstream_model}",
            litellm_provider=provider,
            encoding=encoding_for_model(base_model or upstream_model),
        )
        return spec.with_prices(
            input_cost_per_token=input_cost_per_token,
            output_cost_per_token=output_cost_per_token,
        )


@functools.cache
def _bundled_catalog() -> ModelCatalog:
    data = resources.files("quotaflow.catalog").joinpath("models.json").read_bytes()
    return ModelCatalog.from_json(data)


def _keys(provider: str, name: str) -> list[str]:
    """``<provider>/<name>``, ``<name>``, and the name's last path segment, without repeats."""
    keys = [name] if name.startswith(f"{provider}/") else [f"{provider}/{name}", name]
    bare = name.rpartition("/")[2]
    if bare != name:
        keys.append(bare)
    return keys


def _spec(name: str, row: object) -> ModelSpec:
    if not isinstance(row, dict):
        msg = f"{name}: expected an object"
        raise ValueError(msg)
    fields = _Row(name, row)
    return ModelSpec(
        name=name,
        litellm_provider=fields.text("litellm_provider", ""),
        encoding=encoding_for_model(name),
        mode=fields.text("mode", "chat"),
        input_cost_per_token=fields.price("input_cost_per_token"),
        output_cost_per_token=fields.price("output_cost_per_token"),
        cache_read_input_token_cost=fields.price("cache_read_input_token_cost"),
        cache_creation_input_token_cost=fields.price("cache_creation_input_token_cost"),
        input_cost_per_token_above_200k_tokens=fields.price(
            "input_cost_per_token_above_200k_tokens"
        ),
        output_cost_per_token_above_200k_tokens=fields.price(
            "output_cost_per_token_above_200k_tokens"
        ),
        cache_read_input_token_cost_above_200k_tokens=fields.price(
            "cache_read_input_token_cost_above_200k_tokens"
        ),
        cache_creation_input_token_cost_above_200k_tokens=fields.price(
            "cache_creation_input_token_cost_above_200k_tokens"
        ),
        max_input_tokens=fields.limit("max_input_tokens"),
        max_output_tokens=fields.limit("max_output_tokens"),
    )


@dataclass(frozen=True, slots=True)
class _Row:
    """Typed reads from one table row, naming the row and field in every error."""

    name: str
    row: Mapping[str, object]

    def text(self, field: str, default: str) -> str:
        value = self.row.get(field, default)
        if not isinstance(value, str):
            raise self._invalid(field, "a string")
        return value

    def price(self, field: str) -> Decimal | None:
        value = self.row.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise self._invalid(field, "a number")
        price = Decimal(value)
        if price < 0:
            raise self._invalid(field, "not negative")
        return price

    def limit(self, field: str) -> int | None:
        value = self.row.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._invalid(field, "a non-negative integer")
        return value

    def _invalid(self, field: str, expected: str) -> ValueError:
        return ValueError(f"{self.name}.{field}: must be {expected}, got {self.row.get(field)!r}")


def _override(value: float | Decimal) -> Decimal:
    """A configured price as an exact ``Decimal`` (``1e-06`` stays ``0.000001``)."""
    price = value if isinstance(value, Decimal) else Decimal(str(value))
    if not price.is_finite() or price < 0:
        msg = f"a price per token must be a finite, non-negative number, got {value!r}"
        raise ValueError(msg)
    return price

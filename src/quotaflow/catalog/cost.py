"""``cost_usd``: what one call cost, from the tokens it used and its model's ``ModelSpec``.

Token counts come in one of two shapes:

* ``"openai"`` (the default, and what every quotaflow ``Usage`` is — adapters translate to it):
  ``prompt_tokens`` includes the cached tokens (and any cache writes), so the uncached part is
  ``prompt_tokens - cached_tokens - cache_write_tokens``. Gemini reports the same way.
* ``"anthropic"``: ``prompt_tokens`` is Anthropic's ``input_tokens``, which already excludes
  cache reads (``cached_tokens``) and cache writes (``cache_write_tokens``).

Either way the cost is ``uncached * input + cached * cache_read + writes * cache_creation +
completion * output``. A missing cache price falls back to the input price. When the whole
prompt — uncached, cached and written — exceeds 200,000 tokens, the ``…_above_200k_tokens``
prices apply where the model has them (Gemini 2.5 Pro, Claude Sonnet with the long context).
Reasoning tokens are already inside ``completion_tokens`` and are charged once, as output.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from quotaflow.catalog.catalog import ModelSpec
    from quotaflow.providers.base import Usage

__all__ = ["LONG_CONTEXT_THRESHOLD_TOKENS", "UsageSemantics", "cost_usd"]

UsageSemantics = Literal["openai", "anthropic"]

LONG_CONTEXT_THRESHOLD_TOKENS = 200_000  # a prompt larger than this is billed at the upper tier


def cost_usd(
    usage: Usage,
    spec: ModelSpec,
    *,
    provider_semantics: UsageSemantics = "openai",
    cache_write_tokens: int = 0,
) -> Decimal | None:
    """The exact, unrounded USD cost of one call; ``None`` when a price it needs is unknown.

    ``Decimal(0)`` means free (or no tokens), ``None`` means "the table has no price", so callers
    can tell the two apart. ``cache_write_tokens`` are the prompt tokens written to a prompt cache
    (Anthropic's ``cache_creation_input_tokens``), billed at the cache-creation price.
    """
    if not usage.cached_tokens and not cache_write_tokens:
        simple = _plain_cost(usage, spec)  # most calls: no cache, no long-context tier
        if simple is not _NOT_PLAIN:
            return simple
    prompt = _Prompt.of(usage, provider_semantics, cache_write_tokens)
    rates = _Rates.of(spec, long_context=prompt.total > LONG_CONTEXT_THRESHOLD_TOKENS)
    charges = (
        (prompt.uncached, rates.input),
        (prompt.cached, rates.cache_read),
        (prompt.cache_writes, rates.cache_write),
        (max(usage.completion_tokens, 0), rates.output),
    )
    cost = Decimal(0)
    for tokens, price in charges:
        if tokens:
            if price is None:
                return None
            cost += tokens * price
    return cost


@dataclass(frozen=True, slots=True)
class _Prompt:
    """A prompt's tokens split by how each is billed."""

    uncached: int
    cached: int
    cache_writes: int

    @property
    def total(self) -> int:
        return self.uncached + self.cached + self.cache_writes

    @classmethod
    def of(cls, usage: Usage, semantics: UsageSemantics, cache_writes: int) -> _Prompt:
        cached, writes = max(usage.cached_tokens, 0), max(cache_writes, 0)
        prompt = max(usage.prompt_tokens, 0)
        if semantics == "anthropic":
            return cls(uncached=prompt, cached=cached, cache_writes=writes)
        # OpenAI: the parts are inside prompt_tokens; never bill more than it says.
        cached = min(cached, prompt)
        writes = min(writes, prompt - cached)
        return cls(uncached=prompt - cached - writes, cached=cached, cache_writes=writes)


@dataclass(frozen=True, slots=True)
class _Rates:
    """The four per-token prices that apply to one call."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None

    @classmethod
    def of(cls, spec: ModelSpec, *, long_context: bool) -> _Rates:
        base = cls(
            input=spec.input_cost_per_token,
            output=spec.output_cost_per_token,
            cache_read=spec.cache_read_input_token_cost,
            cache_write=spec.cache_creation_input_token_cost,
        )
        if long_context:
            base = cls(
                input=_first(spec.input_cost_per_token_above_200k_tokens, base.input),
                output=_first(spec.output_cost_per_token_above_200k_tokens, base.output),
                cache_read=_first(
                    spec.cache_read_input_token_cost_above_200k_tokens, base.cache_read
                ),
                cache_write=_first(
                    spec.cache_creation_input_token_cost_above_200k_tokens, base.cache_write
                ),
            )
        return cls(
            input=base.input,
            output=base.output,
            cache_read=_first(base.cache_read, base.input),
            cache_write=_first(base.cache_write, base.input),
        )


_NOT_PLAIN = Decimal(-1)


def _plain_cost(usage: Usage, spec: ModelSpec) -> Decimal | None:
    """Prompt * input + completion * output, or ``_NOT_PLAIN`` for a long-context prompt."""
    prompt, completion = max(usage.prompt_tokens, 0), max(usage.completion_tokens, 0)
    if prompt > LONG_CONTEXT_THRESHOLD_TOKENS:
        return _NOT_PLAIN
    input_price, output_price = spec.input_cost_per_token, spec.output_cost_per_token
    if (prompt and input_price is None) or (completion and output_price is None):
        return None
    cost = Decimal(0)
    if prompt and input_price is not None:
        cost += prompt * input_price
    if completion and output_price is not None:
        cost += completion * output_price
    return cost


def _first(*prices: Decimal | None) -> Decimal | None:
    """The first known price (``Decimal(0)`` is known: free is not unknown)."""
    return next((price for price in prices if price is not None), None)

"""What to reserve before a call: its most expensive possible cost in its model group.

The reservation is the estimated prompt at the highest input price of any deployment in the
group plus the completion reserve (``max_tokens``, else the default) at the highest output
price, so whichever deployment serves the call, its true cost is at most the reservation unless
the prompt estimate was low. A deployment without a price adds nothing; fallback groups are not
considered.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from quotaflow.catalog import LONG_CONTEXT_THRESHOLD_TOKENS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from quotaflow.catalog import ModelSpec

__all__ = ["ReservationPrices"]

_ZERO = Decimal(0)
_Prices = tuple[Decimal, Decimal, Decimal, Decimal]  # input, output, long-context in, out


class ReservationPrices:
    """The highest per-token prices of each model group."""

    def __init__(self, by_group: Mapping[str, _Prices]) -> None:
        self._by_group = dict(by_group)

    @classmethod
    def from_specs(
        cls, deployments: Mapping[str, Iterable[str]], specs: Mapping[str, ModelSpec]
    ) -> ReservationPrices:
        """From each group's deployment ids and each deployment's ``ModelSpec``."""
        by_group: dict[str, _Prices] = {}
        for group, ids in deployments.items():
            found = [specs[i] for i in ids if i in specs]
            by_group[group] = (
                _highest(s.input_cost_per_token for s in found),
                _highest(s.output_cost_per_token for s in found),
                _highest(
                    s.input_cost_per_token_above_200k_tokens or s.input_cost_per_token
                    for s in found
                ),
                _highest(
                    s.output_cost_per_token_above_200k_tokens or s.output_cost_per_token
                    for s in found
                ),
            )
        return cls(by_group)

    def max_cost(self, group: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """The most a call on ``group`` can cost with these token counts."""
        prices = self._by_group.get(group)
        if prices is None:
            return _ZERO
        long_context = prompt_tokens > LONG_CONTEXT_THRESHOLD_TOKENS
        price_in, price_out = (prices[2], prices[3]) if long_context else (prices[0], prices[1])
        return prompt_tokens * price_in + completion_tokens * price_out


def _highest(prices: Iterable[Decimal | None]) -> Decimal:
    return max((p for p in prices if p is not None), default=_ZERO)

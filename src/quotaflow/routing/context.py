"""``ContextCheck``: which deployments' context windows a prompt fits, before any call is made.

Most prompts are far below every window; an estimate (characters / 4) settles those for a few
microseconds. Only a prompt whose estimate comes near the smallest window is counted exactly,
with the deployment's own tokenizer. A prompt that fits no deployment of the group is refused
with its token count (``PromptTooLong``), which the router turns into the group's
``context_window_fallbacks`` when it has some.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quotaflow.catalog import ESTIMATE, Tokenizer, estimate_chat_prompt, estimate_text
from quotaflow.errors import PromptTooLong
from quotaflow.providers.base import Operation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quotaflow.routing.deployment import Deployment, ModelGroup

__all__ = ["ContextCheck", "ModelLimits"]

# An estimate may undercount by this factor (code, non-English text): below the smallest window
# divided by it, no exact count is needed.
_ESTIMATE_SLACK = 2


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """A deployment's context window (``None``: unknown) and the tokenizer that measures it."""

    max_input_tokens: int | None
    encoding: str = ESTIMATE


class ContextCheck:
    """Filters a group's deployments down to those whose context window fits the prompt."""

    def __init__(
        self, limits: Mapping[str, ModelLimits], tokenizer: Tokenizer, *, enabled: bool = True
    ) -> None:
        self._limits = limits
        self._tokenizer = tokenizer
        self._enabled = enabled

    def fitting(
        self, group: ModelGroup, op: Operation, payload: dict[str, Any]
    ) -> tuple[Deployment, ...]:
        """The deployments the prompt fits; ``PromptTooLong`` when it fits none."""
        deployments = group.deployments
        if not self._enabled or op is Operation.EMBEDDING:
            return deployments
        windows = [self._window(d) for d in deployments]
        known = [w for w in windows if w is not None]
        if len(known) < len(windows) or not known:
            return deployments  # a deployment without a known window takes any prompt
        if _estimate(op, payload) * _ESTIMATE_SLACK < min(known):
            return deployments
        counts: dict[str, int] = {}
        fitting = []
        for deployment, window in zip(deployments, known, strict=True):
            encoding = self._limits[deployment.id].encoding
            if encoding not in counts:
                counts[encoding] = self._count(op, payload, encoding)
            if counts[encoding] <= window:
                fitting.append(deployment)
        if not fitting:
            tokens = min(counts.values())
            raise PromptTooLong(
                f"This prompt has {tokens} tokens; the largest context window of model "
                f"'{group.name}' is {max(known)} tokens.",
                param="messages" if op is Operation.CHAT else "prompt",
            )
        return tuple(fitting)

    def _window(self, deployment: Deployment) -> int | None:
        limits = self._limits.get(deployment.id)
        return limits.max_input_tokens if limits is not None else None

    def _count(self, op: Operation, payload: dict[str, Any], encoding: str) -> int:
        if encoding == ESTIMATE:
            return _estimate(op, payload)
        if op is Operation.CHAT:
            return self._tokenizer.count_chat_prompt(payload, encoding)
        prompt = payload.get("prompt")
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt or ()))
        return self._tokenizer.count_text(text, encoding)


def _estimate(op: Operation, payload: dict[str, Any]) -> int:
    if op is Operation.CHAT:
        return estimate_chat_prompt(payload)
    prompt = payload.get("prompt")
    return estimate_text(prompt if isinstance(prompt, str) else " ".join(map(str, prompt or ())))

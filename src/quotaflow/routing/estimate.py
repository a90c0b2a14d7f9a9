"""How many tokens a call will be charged on arrival, estimated the way providers estimate it.

Azure charges a call against its TPM quota when it arrives: the prompt (from its characters)
plus ``max_tokens`` (or the model's default when none is given), times ``n``. Routing decisions
use the same arithmetic, so the gateway's picture of a deployment's quota matches the provider's.
"""

from __future__ import annotations

import math
from typing import Any

from quotaflow.providers.base import Operation

__all__ = ["arrival_tokens", "prompt_chars"]


def prompt_chars(op: Operation, payload: dict[str, Any]) -> int:
    """Characters of prompt text: message contents, the legacy prompt, or embedding input."""
    if op is Operation.CHAT:
        return sum(_content_chars(m.get("content")) for m in payload.get("messages", ()))
    source = payload.get("prompt") if op is Operation.COMPLETION else payload.get("input")
    return _content_chars(source)


def arrival_tokens(op: Operation, payload: dict[str, Any], default_max_tokens: int) -> int:
    """Tokens the call is charged on arrival: ``ceil(chars / 4)`` plus the completion reserve."""
    prompt = math.ceil(prompt_chars(op, payload) / 4)
    if op is Operation.EMBEDDING:
        return prompt
    reserve = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if not isinstance(reserve, int) or isinstance(reserve, bool):
        reserve = default_max_tokens
    n = payload.get("n")
    copies = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    return prompt + reserve * copies


def _content_chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict):
                text = part.get("text")
                total += len(text) if isinstance(text, str) else 0
        return total
    return 0

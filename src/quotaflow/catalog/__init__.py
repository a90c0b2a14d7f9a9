"""Model metadata kept offline: prices, context windows, token counts, and the cost of a call.

``ModelCatalog`` reads the bundled LiteLLM-schema table (``models.json``) and finds a
deployment's ``ModelSpec``; ``Tokenizer`` and the ``estimate_*`` functions count prompt tokens;
``cost_usd`` prices a ``Usage``. Nothing here does I/O after start-up or holds mutable globals.

Imports nothing from quotaflow but ``providers.base.Usage``, and that for type checking only.
"""

from quotaflow.catalog.catalog import ModelCatalog, ModelSpec
from quotaflow.catalog.cost import LONG_CONTEXT_THRESHOLD_TOKENS, UsageSemantics, cost_usd
from quotaflow.catalog.tokens import (
    CL100K_BASE,
    ESTIMATE,
    O200K_BASE,
    Tokenizer,
    encoding_for_model,
    estimate_chat_prompt,
    estimate_embedding_input,
    estimate_text,
)

__all__ = [
    "CL100K_BASE",
    "ESTIMATE",
    "LONG_CONTEXT_THRESHOLD_TOKENS",
    "O200K_BASE",
    "ModelCatalog",
    "ModelSpec",
    "Tokenizer",
    "UsageSemantics",
    "cost_usd",
    "encoding_for_model",
    "estimate_chat_prompt",
    "estimate_embedding_input",
    "estimate_text",
]

"""The context-window pre-check: estimates for the common case, exact counts near the limit."""

from __future__ import annotations

import pytest

from quotaflow.catalog import ESTIMATE, O200K_BASE, Tokenizer
from quotaflow.errors import PromptTooLong
from quotaflow.providers.base import Operation
from quotaflow.routing.context import ContextCheck, ModelLimits
from quotaflow.routing.deployment import Deployment, ModelGroup


def _group(*windows: int | None) -> tuple[ModelGroup, dict[str, ModelLimits]]:
    deployments = tuple(
        Deployment(id=f"d{i}", model_group="g", provider="openai", upstream_model="gpt-4o")
        for i in range(len(windows))
    )
    limits = {d.id: ModelLimits(w, O200K_BASE) for d, w in zip(deployments, windows, strict=True)}
    return ModelGroup("g", deployments), limits


def _chat(words: int) -> dict[str, object]:
    return {"model": "g", "messages": [{"role": "user", "content": "hello " * words}]}


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def test_short_prompts_fit_everywhere_without_counting(tokenizer: Tokenizer):
    group, limits = _group(8_000, 128_000)
    check = ContextCheck(limits, tokenizer)
    assert check.fitting(group, Operation.CHAT, _chat(10)) == group.deployments


def test_long_prompts_are_counted_and_only_large_windows_remain(tokenizer: Tokenizer):
    group, limits = _group(1_000, 128_000)
    check = ContextCheck(limits, tokenizer)
    fitting = check.fitting(group, Operation.CHAT, _chat(3_000))
    assert [d.id for d in fitting] == ["d1"]


def test_a_prompt_that_fits_nowhere_is_a_400_with_the_counts(tokenizer: Tokenizer):
    group, limits = _group(1_000, 2_000)
    check = ContextCheck(limits, tokenizer)
    with pytest.raises(PromptTooLong) as info:
        check.fitting(group, Operation.CHAT, _chat(3_000))
    assert info.value.status == 400
    assert "3008 tokens" in info.value.message  # 3,000 words + the chat framing
    assert "2000 tokens" in info.value.message


def test_unknown_windows_and_embeddings_are_not_checked(tokenizer: Tokenizer):
    group, limits = _group(1_000, None)
    check = ContextCheck(limits, tokenizer)
    assert len(check.fitting(group, Operation.CHAT, _chat(3_000))) == 2
    small, small_limits = _group(10)
    embedding = {"model": "g", "input": "word " * 100}
    assert ContextCheck(small_limits, tokenizer).fitting(small, Operation.EMBEDDING, embedding)


def test_disabled_checks_pass_everything(tokenizer: Tokenizer):
    group, limits = _group(10)
    check = ContextCheck(limits, tokenizer, enabled=False)
    assert check.fitting(group, Operation.CHAT, _chat(3_000)) == group.deployments


def test_estimate_encodings_count_without_a_tokenizer(tokenizer: Tokenizer):
    deployment = Deployment(id="c", model_group="g", provider="anthropic", upstream_model="x")
    group = ModelGroup("g", (deployment,))
    check = ContextCheck({"c": ModelLimits(100, ESTIMATE)}, tokenizer)
    with pytest.raises(PromptTooLong):
        check.fitting(group, Operation.CHAT, _chat(1_000))

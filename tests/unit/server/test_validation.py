import pytest

from quotaflow.errors import InvalidRequest
from quotaflow.providers.base import Operation
from quotaflow.server.validation import validate

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_valid_payloads_pass_with_unknown_fields():
    validate(Operation.CHAT, {**CHAT, "tools": [], "seed": 3, "response_format": {"type": "x"}})
    validate(Operation.COMPLETION, {"model": "m", "prompt": ["a", "b"], "max_tokens": 5})
    validate(Operation.EMBEDDING, {"model": "m", "input": [[1, 2], [3]]})


@pytest.mark.parametrize(
    ("op", "payload", "param", "code"),
    [
        (Operation.CHAT, {"messages": CHAT["messages"]}, "model", "missing_required_parameter"),
        (Operation.CHAT, {**CHAT, "model": 3}, "model", "invalid_value"),
        (Operation.CHAT, {"model": "m"}, "messages", "missing_required_parameter"),
        (Operation.CHAT, {**CHAT, "messages": []}, "messages", "invalid_value"),
        (Operation.CHAT, {**CHAT, "messages": ["hi"]}, "messages[0]", "invalid_value"),
        (
            Operation.CHAT,
            {**CHAT, "messages": [{"role": "bot"}]},
            "messages[0].role",
            "invalid_value",
        ),
        (Operation.CHAT, {**CHAT, "stream": "yes"}, "stream", "invalid_value"),
        (Operation.CHAT, {**CHAT, "max_tokens": 0}, "max_tokens", "invalid_value"),
        (Operation.CHAT, {**CHAT, "n": True}, "n", "invalid_value"),
        (Operation.CHAT, {**CHAT, "temperature": 3}, "temperature", "invalid_value"),
        (Operation.CHAT, {**CHAT, "top_p": "1"}, "top_p", "invalid_value"),
        (Operation.COMPLETION, {"model": "m"}, "prompt", "missing_required_parameter"),
        (Operation.COMPLETION, {"model": "m", "prompt": 5}, "prompt", "invalid_value"),
        (Operation.EMBEDDING, {"model": "m"}, "input", "missing_required_parameter"),
        (Operation.EMBEDDING, {"model": "m", "input": ""}, "input", "invalid_value"),
        (Operation.EMBEDDING, {"model": "m", "input": []}, "input", "invalid_value"),
        (
            Operation.EMBEDDING,
            {"model": "m", "input": "x", "dimensions": -1},
            "dimensions",
            "invalid_value",
        ),
    ],
)
def test_bad_fields_are_named(op, payload, param, code):
    with pytest.raises(InvalidRequest) as info:
        validate(op, payload)
    assert info.value.param == param
    assert info.value.code == code
    assert info.value.status == 400

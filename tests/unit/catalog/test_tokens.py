import functools
import json
import timeit

import pytest

from quotaflow.catalog import (
    CL100K_BASE,
    ESTIMATE,
    O200K_BASE,
    Tokenizer,
    encoding_for_model,
    estimate_chat_prompt,
    estimate_embedding_input,
    estimate_text,
)

ENCODINGS = [O200K_BASE, CL100K_BASE]

# providers.md §5.2: the cookbook's test vector.
VECTOR = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, world! How are you?"},
    ]
}

# The OpenAI cookbook's tool example ("How to count tokens with tiktoken"), which it reports as
# 101 prompt tokens for gpt-4o / gpt-4o-mini and 105 for gpt-3.5-turbo / gpt-4, as the API does.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {
                    "type": "string",
                    "description": "The unit of temperature to return",
                    "enum": ["celsius", "fahrenheit"],
                },
            },
            "required": ["location"],
        },
    },
}
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]

ENGLISH_PROMPTS = [
    VECTOR,
    {"messages": WEATHER_MESSAGES},
    {
        "messages": [
            {"role": "system", "content": "You are a concise assistant for a travel agency."},
            {
                "role": "user",
                "content": "I am planning a week in Portugal in early October with two "
                "children. Which cities would you suggest, and how should we travel "
                "between them without a car?",
            },
        ]
    },
    {
        "messages": [
            {
                "role": "user",
                "content": "Summarise the following paragraph in one sentence: The committee "
                "met on Tuesday to review the budget for the coming year. After a long "
                "discussion about maintenance costs, members agreed to postpone the new "
                "library wing and to spend the savings on repairs to the school roof.",
            },
            {
                "role": "assistant",
                "content": "The committee delayed the library wing to fix the school roof.",
            },
            {"role": "user", "content": "Now make it sound more formal, please."},
        ]
    },
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_cookbook_vector_is_25_tokens(tokenizer: Tokenizer, encoding: str):
    assert tokenizer.count_chat_prompt(VECTOR, encoding) == 25


@pytest.mark.parametrize(
    ("encoding", "ids"),
    [
        (O200K_BASE, [13225, 11, 2375, 0, 3253, 553, 481, 30]),
        (CL100K_BASE, [9906, 11, 1917, 0, 2650, 527, 499, 30]),
    ],
)
def test_single_string_token_ids(tokenizer: Tokenizer, encoding: str, ids: list[int]):
    assert tokenizer.encode("Hello, world! How are you?", encoding) == ids
    assert tokenizer.count_text("Hello, world! How are you?", encoding) == 8


@pytest.mark.parametrize(("encoding", "func_init"), [(O200K_BASE, 7), (CL100K_BASE, 10)])
def test_tool_definitions_by_the_cookbook_constants(
    tokenizer: Tokenizer, encoding: str, func_init: int
):
    lines = {
        "get_current_weather:Get the current weather in a given location": 11,
        "location:string:The city and state, e.g. San Francisco, CA": 14,
        "unit:string:The unit of temperature to return": 8,
        "celsius": 2,
        "fahrenheit": 2,
    }
    for line, tokens in lines.items():
        assert tokenizer.count_text(line, encoding) == tokens
    # func_init + name:description + prop_init
    #   + prop_key + location line
    #   + prop_key + enum_init + (enum_item + celsius) + (enum_item + fahrenheit) + unit line
    #   + func_end
    by_hand = func_init + 11 + 3 + (3 + 14) + (3 - 3 + (3 + 2) + (3 + 2) + 8) + 12
    with_tools = {"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]}
    without = tokenizer.count_chat_prompt({"messages": WEATHER_MESSAGES}, encoding)
    assert tokenizer.count_chat_prompt(with_tools, encoding) - without == by_hand


@pytest.mark.parametrize(("encoding", "total"), [(O200K_BASE, 101), (CL100K_BASE, 105)])
def test_cookbook_tool_example_totals(tokenizer: Tokenizer, encoding: str, total: int):
    payload = {"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]}
    assert tokenizer.count_chat_prompt(payload, encoding) == total


def test_legacy_functions_count_like_tools(tokenizer: Tokenizer):
    tools = {"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]}
    functions = {"messages": WEATHER_MESSAGES, "functions": [WEATHER_TOOL["function"]]}
    assert tokenizer.count_chat_prompt(functions, O200K_BASE) == tokenizer.count_chat_prompt(
        tools, O200K_BASE
    )


def test_no_tools_adds_nothing(tokenizer: Tokenizer):
    payload = {"messages": VECTOR["messages"], "tools": []}
    assert tokenizer.count_chat_prompt(payload, O200K_BASE) == 25


def test_name_costs_one_more_than_its_text(tokenizer: Tokenizer):
    named = {"messages": [{"role": "user", "name": "example_user", "content": "Hi"}]}
    plain = {"messages": [{"role": "user", "content": "Hi"}]}
    name_tokens = tokenizer.count_text("example_user", O200K_BASE)
    assert tokenizer.count_chat_prompt(named, O200K_BASE) == (
        tokenizer.count_chat_prompt(plain, O200K_BASE) + name_tokens + 1
    )


def test_text_parts_count_like_a_string(tokenizer: Tokenizer):
    parts = {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "You are a helpful assistant."}],
            },
            {"role": "user", "content": [{"type": "text", "text": "Hello, world! How are you?"}]},
        ]
    }
    assert tokenizer.count_chat_prompt(parts, O200K_BASE) == 25


@pytest.mark.parametrize(
    ("detail", "tokens"), [("low", 85), ("high", 765), ("auto", 765), (None, 765)]
)
def test_images_are_a_fixed_estimate(tokenizer: Tokenizer, detail: str | None, tokens: int):
    image: dict[str, str] = {"url": "https://example.com/cat.png"}
    if detail is not None:
        image["detail"] = detail
    payload = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": image}]},
        ]
    }
    # reply priming + framing + "user"
    assert tokenizer.count_chat_prompt(payload, O200K_BASE) == 3 + 3 + 1 + tokens


def test_tool_calls_count_names_and_arguments(tokenizer: Tokenizer):
    arguments = json.dumps({"location": "Paris, France"})
    payload = {
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_current_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": "18 degrees, sunny"},
        ]
    }
    count = functools.partial(tokenizer.count_text, encoding=O200K_BASE)
    expected = (
        3
        + (3 + count("assistant") + count("get_current_weather") + count(arguments))
        + (3 + count("tool") + count("18 degrees, sunny"))
    )
    assert tokenizer.count_chat_prompt(payload, O200K_BASE) == expected


def test_malformed_parts_count_nothing(tokenizer: Tokenizer):
    payload = {
        "messages": [
            "not a message",
            {"role": "user", "content": ["not a part", {"type": "input_audio"}]},
            {"role": "assistant", "tool_calls": ["x", {"function": "x"}], "function_call": 3},
        ],
        "tools": ["x", {"type": "function", "function": {"parameters": {"properties": {"a": 1}}}}],
    }
    # 3 + (3 + user) + (3 + assistant) + tools: 7 + ":" + 3 + 3 + "a::" + 12
    count = functools.partial(tokenizer.count_text, encoding=O200K_BASE)
    tools = 7 + count(":") + 3 + 3 + count("a::") + 12
    assert tokenizer.count_chat_prompt(payload, O200K_BASE) == 3 + 4 + 4 + tools


def test_special_token_spellings_are_plain_text(tokenizer: Tokenizer):
    assert tokenizer.count_text("<|endoftext|>", O200K_BASE) == 7


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_text_is_counted_in_chunks(tokenizer: Tokenizer, encoding: str):
    assert tokenizer.count_text("hello " * 20_000, encoding) == 20_001
    assert tokenizer.count_text("a" * 120_000, encoding) == 15_000


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_embedding_input(tokenizer: Tokenizer, encoding: str):
    hello = "Hello, world! How are you?"
    assert tokenizer.count_embedding_input({"input": hello}, encoding) == 8
    assert tokenizer.count_embedding_input({"input": [hello, hello]}, encoding) == 16
    assert tokenizer.count_embedding_input({"input": [1, 2, 3]}, encoding) == 3
    assert tokenizer.count_embedding_input({"input": [[1, 2], [3]]}, encoding) == 3
    assert tokenizer.count_embedding_input({}, encoding) == 0


def test_estimate_encoding_needs_no_tokenizer():
    tokenizer = Tokenizer()
    tokenizer.warm(ESTIMATE)
    assert tokenizer.count_text("abcde", ESTIMATE) == 2
    assert tokenizer.count_chat_prompt(VECTOR, ESTIMATE) == estimate_chat_prompt(VECTOR)
    assert tokenizer.count_embedding_input({"input": ["abcd", "e"]}, ESTIMATE) == 2


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        Tokenizer().count_text("hi", "p50k_base")


def test_warm_loads_up_front(tokenizer: Tokenizer):
    tokenizer.warm(O200K_BASE, CL100K_BASE)
    assert tokenizer.count_text("hi", CL100K_BASE) == 1


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2)])
def test_estimate_text_is_four_characters_a_token(text: str, tokens: int):
    assert estimate_text(text) == tokens


def test_estimate_embedding_input():
    assert estimate_embedding_input({"input": "abcdefgh"}) == 2
    assert estimate_embedding_input({"input": [[1, 2, 3], "abcd"]}) == 4


@pytest.mark.parametrize("payload", ENGLISH_PROMPTS)
def test_estimate_is_within_30_percent_of_exact(tokenizer: Tokenizer, payload):
    exact = tokenizer.count_chat_prompt(payload, O200K_BASE)
    assert abs(estimate_chat_prompt(payload) - exact) <= 0.3 * exact


def test_estimate_with_tools_is_within_30_percent(tokenizer: Tokenizer):
    payload = {"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]}
    exact = tokenizer.count_chat_prompt(payload, O200K_BASE)
    assert abs(estimate_chat_prompt(payload) - exact) <= 0.3 * exact


def test_estimate_costs_microseconds():
    payload = ENGLISH_PROMPTS[3]
    best_s = min(timeit.repeat(lambda: estimate_chat_prompt(payload), number=10_000, repeat=3))
    assert best_s / 10_000 < 20e-6


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", O200K_BASE),
        ("gpt-4o-2024-08-06", O200K_BASE),
        ("azure/gpt-4o-mini", O200K_BASE),
        ("gpt-4.1-nano", O200K_BASE),
        ("gpt-5-mini", O200K_BASE),
        ("o1", O200K_BASE),
        ("o3-mini", O200K_BASE),
        ("o4-mini", O200K_BASE),
        ("ft:gpt-4o-mini:acme::abc", O200K_BASE),
        ("gpt-4", CL100K_BASE),
        ("gpt-4-turbo", CL100K_BASE),
        ("gpt-4-32k", CL100K_BASE),
        ("gpt-3.5-turbo-0125", CL100K_BASE),
        ("gpt-35-turbo", CL100K_BASE),
        ("text-embedding-3-small", CL100K_BASE),
        ("text-embedding-ada-002", CL100K_BASE),
        ("claude-sonnet-4-5", ESTIMATE),
        ("gemini/gemini-2.5-pro", ESTIMATE),
        ("o1x", ESTIMATE),
    ],
)
def test_encoding_for_model(model: str, encoding: str):
    assert encoding_for_model(model) == encoding


def test_refusals_and_legacy_function_calls(tokenizer: Tokenizer):
    count = functools.partial(tokenizer.count_text, encoding=O200K_BASE)
    payload = {
        "messages": [
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "lookup", "arguments": '{"q": "x"}'},
            },
        ]
    }
    expected = (
        3
        + (3 + count("assistant") + count("I can't."))
        + (3 + count("assistant") + count("lookup") + count('{"q": "x"}'))
    )
    assert tokenizer.count_chat_prompt(payload, O200K_BASE) == expected

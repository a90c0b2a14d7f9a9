import textwrap
from pathlib import Path
from typing import Any

import pytest

from quotaflow.config import LoadedSettings, Settings, describe, load_settings
from quotaflow.errors import ConfigError

SEED = """\
model_list:
  - model_name: gpt-4-preview
    litellm_params:
      model: azure/gpt-4-preview          # <provider>/<deployment or upstream model>
      api_base: os.environ/AZURE_API_BASE_SWEDEN
      api_key: os.environ/AZURE_API_KEY_SWEDEN
      api_version: "2024-02-15-preview"
  - model_name: gpt-4-preview
    litellm_params:
      model: azure/gpt-4-preview
      api_base: os.environ/AZURE_API_BASE_FRANCE
      api_key: os.environ/AZURE_API_KEY_FRANCE
      api_version: "2024-02-15-preview"
router_settings:
  routing_strategy: least-busy
  num_retries: 2
  timeout: 60
  redis_host: redis
  redis_port: 6379
  redis_password: os.environ/REDIS_PASSWORD
general_settings:
  master_key: os.environ/MASTER_KEY
"""

SEED_ENV = {
    "AZURE_API_BASE_SWEDEN": "https://sweden.openai.azure.com/",
    "AZURE_API_KEY_SWEDEN": "se-key-0123456789",
    "AZURE_API_BASE_FRANCE": "https://france.openai.azure.com/",
    "AZURE_API_KEY_FRANCE": "fr-key-0123456789",
    "REDIS_PASSWORD": "redis-pass-0123456789",
    "MASTER_KEY": "sk-master-0123456789",
}

MINIMAL = """\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> LoadedSettings:
    return load_settings(write(tmp_path, text), environ or {})


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, text, environ)
    return exc.value.problems


def settings_with(data: dict[str, Any]) -> Settings:
    entry = {"model_name": "x", "litellm_params": {"model": "openai/x"}}
    return load_settings(data={"model_list": [entry], **data}, environ={}).settings


# The seed config --------------------------------------------------------------------------------


def test_seed_config_loads_with_its_environment(tmp_path: Path) -> None:
    path = write(tmp_path, SEED)

    loaded = load_settings(path, SEED_ENV)

    settings = loaded.settings
    assert loaded.warnings == ()
    assert settings.source == path
    sweden, france = settings.model_list
    assert {sweden.model_name, france.model_name} == {"gpt-4-preview"}
    assert (sweden.params.provider, sweden.params.upstream_model) == ("azure", "gpt-4-preview")
    assert sweden.params.api_base == "https://sweden.openai.azure.com"
    assert france.params.api_base == "https://france.openai.azure.com"
    assert sweden.params.api_version == "2024-02-15-preview"
    assert sweden.params.api_key is not None
    assert sweden.params.api_key.get_secret_value() == "se-key-0123456789"
    router = settings.router_settings
    assert router.routing_strategy == "least-busy"
    assert (router.num_retries, router.timeout) == (2, 60.0)
    assert (router.redis_host, router.redis_port) == ("redis", 6379)
    assert router.redis_password is not None
    assert router.redis_password.get_secret_value() == "redis-pass-0123456789"
    master_key = settings.general_settings.master_key
    assert master_key is not None
    assert master_key.get_secret_value() == "sk-master-0123456789"


def test_our_params_spelling_loads(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
        model_list:
          - model_name: local
            params:
              model: openai/llama-3
              api_base: http://localhost:8000/v1
        """,
    )

    assert loaded.settings.model_list[0].params.api_base == "http://localhost:8000/v1"
    assert loaded.warnings == ()


def test_both_spellings_in_one_entry_is_an_error(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4o
            litellm_params: {model: openai/gpt-4o}
            params: {model: openai/gpt-4o}
        """,
    )

    assert found == ["model_list[0]: give either 'litellm_params' or 'params', not both"]


# Environment references -------------------------------------------------------------------------


def test_missing_variable_names_the_key_path_and_the_variable(tmp_path: Path) -> None:
    env = {key: value for key, value in SEED_ENV.items() if key != "AZURE_API_KEY_SWEDEN"}

    found = problems(tmp_path, SEED, env)

    assert found == [
        "model_list[0].litellm_params.api_key: environment variable AZURE_API_KEY_SWEDEN is not set"
    ]


def test_resolved_value_is_type_checked_at_its_path(tmp_path: Path) -> None:
    text = MINIMAL + "router_settings:\n  redis_port: os.environ/PORT\n"

    found = problems(tmp_path, text, {"PORT": "abc"})

    assert found == [
        "router_settings.redis_port: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    port = load(tmp_path, text, {"PORT": "6380"}).settings.router_settings.redis_port
    assert port == 6380


def test_references_resolve_anywhere_in_the_tree(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4o
            litellm_params:
              model: os.environ/MODEL
              extra_headers:
                X-Tenant: os.environ/TENANT
        """,
        {"MODEL": "openai/gpt-4o", "TENANT": "acme"},
    )

    params = loaded.settings.model_list[0].params
    assert (params.model, params.extra_headers) == ("openai/gpt-4o", {"X-Tenant": "acme"})


def test_only_the_exact_reference_form_is_resolved(tmp_path: Path) -> None:
    loaded = load(tmp_path, MINIMAL + "router_settings:\n  redis_host: my-os.environ/HOST\n")

    assert loaded.settings.router_settings.redis_host == "my-os.environ/HOST"


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QF_TEST_REDIS_HOST", "redis.internal")
    path = write(
        tmp_path, MINIMAL + "router_settings:\n  redis_host: os.environ/QF_TEST_REDIS_HOST\n"
    )

    assert load_settings(path).settings.router_settings.redis_host == "redis.internal"


# Unknown keys -----------------------------------------------------------------------------------


def test_unknown_keys_are_warnings_with_their_paths(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4o
            litellm_params:
              model: openai/gpt-4o
              my_custom_flag: 1
            model_info:
              mode: chat
              max_tokens: 8192
        router_settings:
          cache_responses: true
          something_else: 1
        environment_variables:
          FOO: bar
        callbacks: [langfuse]
        """,
    )

    assert loaded.warnings == (
        "model_list[0].litellm_params.my_custom_flag: unknown key; ignored",
        "model_list[0].model_info.mode: LiteLLM key not supported by quotaflow yet; ignored",
        "model_list[0].model_info.max_tokens: LiteLLM key not supported by quotaflow yet; ignored",
        "router_settings.cache_responses: LiteLLM key not supported by quotaflow yet; ignored",
        "router_settings.something_else: unknown key; ignored",
        "environment_variables: LiteLLM key not supported by quotaflow yet; ignored; "
        "export the variables in the process environment",
        "callbacks: unknown key; ignored",
    )


def test_dropped_keys_never_reach_validation_or_the_environment(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        MINIMAL
        + "general_settings:\n"
        + "  alerting: [slack]\n"
        + "  database_connection_pool_limit: -5\n"
        + "  custom_auth: os.environ/NOT_SET\n",
    )

    assert [warning.split(":")[0] for warning in loaded.warnings] == [
        "general_settings.alerting",
        "general_settings.database_connection_pool_limit",
        "general_settings.custom_auth",
    ]


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        (
            "router_settings:\n  routing_stratgy: least-busy\n",
            "router_settings.routing_stratgy",
            "routing_strategy",
        ),
        ("router_settings:\n  num_retires: 3\n", "router_settings.num_retires", "num_retries"),
        ("general_settings:\n  master-key: sk-1234\n", "general_settings.master-key", "master_key"),
        ("router_setting:\n  num_retries: 3\n", "router_setting", "router_settings"),
    ],
)
def test_near_miss_of_a_known_key_is_an_error(
    tmp_path: Path, section: str, typo: str, meant: str
) -> None:
    found = problems(tmp_path, MINIMAL + section)

    assert found == [f"{typo}: unknown key; did you mean {meant!r}?"]


def test_near_miss_value_is_still_validated_under_the_intended_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4
            litelm_params:
              model: gpt-4
        """,
    )

    assert found == [
        "model_list[0].litelm_params: unknown key; did you mean 'litellm_params'?",
        "model_list[0].litellm_params.model: 'gpt-4' has no provider prefix; "
        "write '<provider>/<model>', e.g. 'openai/gpt-4' or 'azure/gpt-4'",
    ]


def test_litellm_keys_that_resemble_ours_are_not_mistaken_for_typos(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        MINIMAL
        + "router_settings:\n  allowed_fails_policy: {}\n"
        + "general_settings:\n  max_response_size_mb: 5\n",
    )

    assert [w.split(":")[0] for w in loaded.warnings] == [
        "router_settings.allowed_fails_policy",
        "general_settings.max_response_size_mb",
    ]


def test_non_text_keys_are_errors(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "router_settings:\n  1: x\n")

    assert found == ["router_settings.1: keys must be text, not int"]


def test_a_source_key_in_the_file_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "source: /etc/other.yaml\n")

    loaded = load_settings(path, {})

    assert loaded.settings.source == path
    assert loaded.warnings == ("source: unknown key; ignored",)


# Validation problems ----------------------------------------------------------------------------


def test_unknown_strategy_names_the_path_and_the_closest_strategy(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "router_settings:\n  routing_strategy: least_busy\n")

    assert len(found) == 1
    assert found[0].startswith(
        "router_settings.routing_strategy: unknown routing strategy 'least_busy'; "
        "did you mean 'least-busy'?"
    )


def test_negative_rpm_names_the_entry_in_the_users_spelling(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4o
            litellm_params: {model: openai/gpt-4o, rpm: 10}
          - model_name: gpt-4o
            litellm_params: {model: openai/gpt-4o, rpm: -1}
        """,
    )

    assert found == ["model_list[1].litellm_params.rpm: Input should be greater than or equal to 0"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: a
            litellm_params:
              model: gpt-4
              rpm: -1
          - model_name: b
            params:
              model: openai/b
              api_base: ftp://example.com
              weight: 0
        router_settings:
          num_retires: 3
          routing_strategy: fastest
          timeout: 0
        general_settings:
          master_key: os.environ/MASTER_KEY
          max_request_size_mb: none
        """,
    )

    assert [problem.split(": ")[0] for problem in found] == [
        "router_settings.num_retires",
        "general_settings.master_key",
        "model_list[0].litellm_params.model",
        "model_list[0].litellm_params.rpm",
        "model_list[1].params.api_base",
        "model_list[1].params.weight",
        "router_settings.routing_strategy",
        "router_settings.timeout",
        "general_settings.max_request_size_mb",
    ]


def test_model_without_provider_prefix(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("openai/gpt-4o", "gpt-4o"))

    assert found == [
        "model_list[0].litellm_params.model: 'gpt-4o' has no provider prefix; "
        "write '<provider>/<model>', e.g. 'openai/gpt-4o' or 'azure/gpt-4o'"
    ]


def test_duplicate_ids_are_errors_with_paths(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: gpt-4o
            litellm_params: {model: azure/gpt-4o}
            model_info: {id: eu}
          - model_name: gpt-4o
            litellm_params: {model: azure/gpt-4o}
            model_info: {id: us}
          - model_name: gpt-4o-mini
            litellm_params: {model: azure/gpt-4o-mini}
            model_info: {id: eu}
        """,
    )

    assert found == ["model_list[2].model_info.id: id 'eu' is already used by model_list[0]"]


def test_missing_model_list(tmp_path: Path) -> None:
    assert problems(tmp_path, "router_settings: {}\n") == ["model_list: Field required"]


def test_unquoted_date_gets_a_hint(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "      api_version: 2024-02-01\n")

    assert found == [
        "model_list[0].litellm_params.api_version: Input should be a valid string "
        "(YAML read a date here; put the value in quotes)"
    ]


# Reading the file -------------------------------------------------------------------------------


def test_bad_yaml_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "router_settings:\n  num_retries: [1, 2\n")

    with pytest.raises(ConfigError) as exc:
        load_settings(path, {})

    (problem,) = exc.value.problems
    assert problem.startswith(f"{path}: invalid YAML at line 7, column 1:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "config file is empty; expected sections such as model_list"),
        ("# only a comment\n", "config file is empty; expected sections such as model_list"),
        ("- a\n- b\n", "the top level must be a mapping of sections, not a list"),
        ("just text\n", "the top level must be a mapping of sections, not a str"),
    ],
)
def test_file_must_hold_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as exc:
        load_settings(path, {})

    assert exc.value.problems == [f"{path}: {message}"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError) as exc:
        load_settings(path, {})

    assert exc.value.problems == [f"{path}: config file not found"]


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path, {})

    assert exc.value.problems[0].startswith(f"{tmp_path}: cannot read config file:")


def test_repeated_yaml_keys_are_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "router_settings:\n  num_retries: 1\n  num_retries: 4\n")

    loaded = load_settings(path, {})

    assert loaded.settings.router_settings.num_retries == 4
    assert loaded.warnings == (
        f"{path}: line 7: key 'num_retries' repeats the one on line 6; the later value is used",
    )


def test_yaml_merge_keys_are_not_repeats(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
        model_list:
          - model_name: a
            litellm_params: &azure
              model: azure/gpt-4o
              api_version: "2024-02-15-preview"
          - model_name: b
            litellm_params:
              <<: *azure
              model: azure/gpt-4o-mini
        """,
    )

    second = loaded.settings.model_list[1].params
    assert (second.model, second.api_version) == ("azure/gpt-4o-mini", "2024-02-15-preview")
    assert loaded.warnings == ()


def test_quotaflow_config_names_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)

    loaded = load_settings(environ={"QUOTAFLOW_CONFIG": str(path)})

    assert loaded.settings.source == path


def test_no_path_and_no_quotaflow_config_is_an_error() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ={})

    assert exc.value.problems == ["no config file given: pass its path or set QUOTAFLOW_CONFIG"]


def test_path_and_data_together_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        load_settings(tmp_path / "config.yaml", {}, data={})


def test_data_is_loaded_without_a_file_and_left_untouched() -> None:
    data: dict[str, Any] = {
        "model_list": [{"model_name": "x", "litellm_params": {"model": "os.environ/M"}}],
        "router_settings": {"enable_pre_call_checks": True},
    }
    snapshot = repr(data)

    loaded = load_settings(data=data, environ={"M": "openai/x"})

    assert loaded.settings.source is None
    assert loaded.settings.model_list[0].params.model == "openai/x"
    assert repr(data) == snapshot


# Settling ---------------------------------------------------------------------------------------


def test_empty_sections_mean_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path, MINIMAL + "router_settings:\ngeneral_settings:\nlitellm_settings:\n")

    assert loaded.settings.router_settings.num_retries == 2
    assert loaded.warnings == ()


def test_litellm_settings_fill_in_router_defaults() -> None:
    settings = settings_with({"litellm_settings": {"num_retries": 5, "request_timeout": 30}})

    assert (settings.router_settings.num_retries, settings.router_settings.timeout) == (5, 30.0)


def test_router_settings_win_over_litellm_settings() -> None:
    loaded = load_settings(
        data={
            "model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x"}}],
            "router_settings": {"num_retries": 1},
            "litellm_settings": {"num_retries": 5, "request_timeout": 30, "drop_params": True},
        },
        environ={},
    )

    router = loaded.settings.router_settings
    assert (router.num_retries, router.timeout) == (1, 30.0)
    assert loaded.settings.litellm_settings.drop_params is True
    assert loaded.warnings == (
        "litellm_settings.num_retries: ignored; router_settings.num_retries is set",
    )


def test_master_key_without_sk_prefix_is_a_warning(tmp_path: Path) -> None:
    loaded = load(
        tmp_path, MINIMAL + "general_settings:\n  master_key: os.environ/K\n", {"K": "plain-secret"}
    )

    assert loaded.warnings == (
        "general_settings.master_key: does not start with 'sk-', which LiteLLM requires; "
        "quotaflow accepts it",
    )
    assert "plain-secret" not in "".join(loaded.warnings)


def test_redis_url_wins_over_redis_host(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        MINIMAL + "router_settings:\n  redis_host: redis\n  redis_url: redis://:pw@redis:6379/0\n",
    )

    assert loaded.warnings == ("router_settings.redis_host: ignored; redis_url is set and wins",)


# Secrets ----------------------------------------------------------------------------------------


SECRETS = (
    "se-key-0123456789",
    "redis-pass-0123456789",
    "sk-master-0123456789",
    "sk-literal-0123456789",
)


def test_secrets_never_appear_in_problems(tmp_path: Path) -> None:
    env = {**SEED_ENV, "AZURE_API_BASE_FRANCE": "not a url"}

    with pytest.raises(ConfigError) as exc:
        load(
            tmp_path,
            """\
            model_list:
              - model_name: gpt-4-preview
                litellm_params:
                  model: azure/gpt-4-preview
                  api_base: os.environ/AZURE_API_BASE_FRANCE
                  api_key: os.environ/AZURE_API_KEY_SWEDEN
                  rpm: -1
              - model_name: broken
                litellm_params:
                  model: no-provider
                  api_key: sk-literal-0123456789
                  extra_headers:
                    "bad header": sk-literal-0123456789
            router_settings:
              redis_password: os.environ/REDIS_PASSWORD
              redis_port: os.environ/MASTER_KEY
            general_settings:
              master_key: os.environ/MASTER_KEY
              database_url: sk-literal-0123456789
              max_request_size_mb: os.environ/REDIS_PASSWORD
            """,
            env,
        )

    assert [problem.split(": ")[0] for problem in exc.value.problems] == [
        "model_list[0].litellm_params.api_base",
        "model_list[0].litellm_params.rpm",
        "model_list[1].litellm_params.model",
        "model_list[1].litellm_params.extra_headers",
        "router_settings.redis_port",
        "general_settings.max_request_size_mb",
    ]
    for secret in SECRETS:
        assert secret not in str(exc.value)
    assert exc.value.__context__ is None  # pydantic's error, which shows inputs, is not chained


def test_secrets_never_appear_in_yaml_syntax_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, MINIMAL + "      api_key: sk-literal-0123456789: oops\n")

    assert "line 5" in str(exc.value)
    assert "sk-literal-0123456789" not in str(exc.value)
    assert exc.value.__context__ is None


def test_describe_summarises_without_secrets(tmp_path: Path) -> None:
    local = """\
        - model_name: local
          params:
            model: openai/llama
            api_base: http://user:sk-literal-0123456789@localhost:8000/v1
            api_key: sk-literal-0123456789
            rpm: 100
            tpm: 2000000
            weight: 0.5
            order: 1
          model_info:
            id: local-1
    """
    entry = textwrap.indent(textwrap.dedent(local), "  ")
    text = SEED.replace("router_settings:", entry + "router_settings:")
    settings = load(tmp_path, text, SEED_ENV).settings

    summary = describe(settings)

    for secret in SECRETS:
        assert secret not in summary
    assert "model groups: 2, deployments: 3" in summary
    assert "provider=azure model=gpt-4-preview api_base=https://sweden.openai.azure.com" in summary
    assert "id=local-1 api_base=http://***@localhost:8000/v1" in summary
    assert "rpm=100 tpm=2000000 weight=0.5 order=1 api_key=set" in summary
    assert "routing_strategy=least-busy, num_retries=2, timeout=60s" in summary
    assert "shared state: Redis at redis:6379 (password set)" in summary
    assert "master key: set" in summary
    assert "database: not set" in summary

"""Turn a YAML file (or a mapping) and the environment into validated, frozen ``Settings``.

    load_settings(path | data, environ)
      1. read the file        YAML → mapping           missing file, bad YAML: ConfigError at once
      2. check keys           against the schema       near-miss of a known key: error;
                                                       any other unknown key: warning, removed
      3. resolve references   os.environ/NAME → value  unset variable: error
      4. validate             pydantic → Settings      every problem, each with its key path
      5. settle               LiteLLM-style defaults   advice: warnings

Problems from steps 2 to 4 are collected and raised together in one ``ConfigError``; messages name
key paths in the user's spelling (``model_list[1].litellm_params.rpm``) and never contain a
value that could be a secret. This is the only module in quotaflow that reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin

import yaml
from pydantic import AliasChoices, BaseModel, SecretStr, ValidationError

from quotaflow.config._litellm_keys import HINTS, UNSUPPORTED
from quotaflow.config.schema import Settings
from quotaflow.errors import ConfigError

__all__ = [
    "CONFIG_ENV_VAR",
    "LOG_FORMAT_ENV_VAR",
    "LOG_LEVEL_ENV_VAR",
    "WORKERS_ENV_VAR",
    "LoadedSettings",
    "load_settings",
]

CONFIG_ENV_VAR: Final = "QUOTAFLOW_CONFIG"
"""The environment variable naming the config file when no path is given."""

DATABASE_URL_ENV_VAR: Final = "DATABASE_URL"
OTLP_ENV_VAR: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
WORKERS_ENV_VAR: Final = "QUOTAFLOW_WORKERS"
LOG_LEVEL_ENV_VAR: Final = "QUOTAFLOW_LOG_LEVEL"
LOG_FORMAT_ENV_VAR: Final = "QUOTAFLOW_LOG_FORMAT"
"""Set by ``quotaflow serve --workers N`` for its worker processes."""

_ENV_PREFIX: Final = "os.environ/"
# Similarity from which an unknown key counts as a typo of a known one: "num_retires" scores
# 0.91 against "num_retries", while "cooldown" scores 0.76 against "cooldown_time".
_NEAR_MISS_CUTOFF: Final = 0.8


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Validated settings and the warnings found while loading them, in the order found."""

    settings: Settings
    warnings: tuple[str, ...] = ()
    # Worker processes of one ``quotaflow serve --workers N`` (``$QUOTAFLOW_WORKERS``), and how
    # they log (``$QUOTAFLOW_LOG_LEVEL``, ``$QUOTAFLOW_LOG_FORMAT``), as the CLI handed it over.
    workers: int = 1
    log_level: str = "info"
    log_format: Literal["auto", "json", "text"] = "auto"


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    data: Mapping[str, object] | None = None,
) -> LoadedSettings:
    """Load the config from ``path``, ``data`` or ``$QUOTAFLOW_CONFIG``; raise ``ConfigError``."""
    if path is not None and data is not None:
        raise TypeError("load_settings() takes a path or data, not both")
    env: Mapping[str, str] = os.environ if environ is None else environ
    report = _Report()
    source: Path | None = None
    if data is None:
        source = _config_path(path, env)
        data = _read_yaml(source, report)
    settings = _build(data, env, report)
    if source is not None:
        settings = settings.model_copy(update={"source": source})
    formats: dict[str, Literal["json", "text"]] = {"json": "json", "text": "text"}
    return LoadedSettings(
        settings,
        tuple(report.warnings),
        _workers(env),
        env.get(LOG_LEVEL_ENV_VAR, "info"),
        formats.get(env.get(LOG_FORMAT_ENV_VAR, ""), "auto"),
    )


def _workers(environ: Mapping[str, str]) -> int:
    raw = environ.get(WORKERS_ENV_VAR, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


@dataclass(slots=True)
class _Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Paths whose os.environ/ reference failed: already reported, so pydantic's
    # complaint about the placeholder left there is dropped.
    unresolved: set[str] = field(default_factory=set)


def _build(data: Mapping[str, object], environ: Mapping[str, str], report: _Report) -> Settings:
    tree = _check_keys(data, Settings, "", report)
    tree = _resolve_env(tree, "", environ, report)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        report.errors.extend(_validation_problems(exc, report))
    # Raised outside the except block: a ValidationError's text shows input values (secrets).
    if report.errors or settings is None:
        raise ConfigError(report.errors)
    settings = _apply_litellm_defaults(settings, report)
    settings = _apply_environment_defaults(settings, environ)
    _advise(settings, report)
    return settings


def _apply_environment_defaults(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """``DATABASE_URL`` and ``OTEL_EXPORTER_OTLP_ENDPOINT`` fill their keys when the file has
    none (the variables the manifests and OpenTelemetry's tooling set)."""
    general = settings.general_settings
    update: dict[str, object] = {}
    if general.database_url is None and environ.get(DATABASE_URL_ENV_VAR, "").strip():
        update["database_url"] = SecretStr(environ[DATABASE_URL_ENV_VAR].strip())
    if general.otel_exporter_otlp_endpoint is None and environ.get(OTLP_ENV_VAR, "").strip():
        update["otel_exporter_otlp_endpoint"] = environ[OTLP_ENV_VAR].strip()
    if not update:
        return settings
    return settings.model_copy(update={"general_settings": general.model_copy(update=update)})


# 1. Reading the file ----------------------------------------------------------------------------


def _config_path(path: str | Path | None, environ: Mapping[str, str]) -> Path:
    if path is not None:
        return Path(path)
    named = environ.get(CONFIG_ENV_VAR, "")
    if not named:
        raise ConfigError([f"no config file given: pass its path or set {CONFIG_ENV_VAR}"])
    return Path(named)


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, noting keys repeated within one mapping (PyYAML keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated_keys: list[str] = []

    def construct_mapping(
        self,
        node: yaml.MappingNode,
        deep: bool = False,  # noqa: FBT001, FBT002 - PyYAML's signature
    ) -> dict[Hashable, Any]:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                self.repeated_keys.append(
                    f"line {line}: key {key_node.value!r} repeats the one on line "
                    f"{first_line[key_node.value]}; the later value is used"
                )
            else:
                first_line[key_node.value] = line
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path, report: _Report) -> Mapping[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: config file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror or exc}"]) from None
    loader = _YamlLoader(text)
    document: object = None
    problem: str | None = None
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        problem = _yaml_problem(exc)
    except yaml.YAMLError as exc:
        problem = f"invalid YAML: {exc}"
    finally:
        loader.dispose()
    if problem is not None:  # raised here so the YAML error, which quotes the line, is not chained
        raise ConfigError([f"{path}: {problem}"])
    report.warnings.extend(f"{path}: {repeat}" for repeat in loader.repeated_keys)
    if document is None:
        raise ConfigError([f"{path}: config file is empty; expected sections such as model_list"])
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise ConfigError([f"{path}: the top level must be a mapping of sections, not a {kind}"])
    return document


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    # Built from the parts, not str(exc): that quotes the offending line, which may hold a secret.
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    message = f"invalid YAML{where}: {exc.problem or exc.context or 'syntax error'}"
    if exc.context and exc.problem and exc.context_mark:
        message += f" ({exc.context} on line {exc.context_mark.line + 1})"
    return message


# 2. Unknown keys --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    model: type[BaseModel] | None  # the section's model, when the value is a section
    many: bool  # a list of such sections
    required: bool


def _fields_by_key(model: type[BaseModel]) -> dict[str, _Field]:
    """Every key ``model`` accepts (field names and aliases) → what it holds."""
    table: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        if info.exclude:  # set by the loader, never read from the file
            continue
        nested, many = _section_type(info.annotation)
        spec = _Field(name, nested, many, info.is_required())
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys = [choice for choice in alias.choices if isinstance(choice, str)]
        else:
            keys = [alias if isinstance(alias, str) else info.alias or name]
        table.update(dict.fromkeys(keys, spec))
    return table


def _section_type(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, get_origin(annotation) in (tuple, list)
    return None, False


def _check_keys(node: object, model: type[BaseModel], path: str, report: _Report) -> object:
    """A copy of ``node`` holding only keys ``model`` knows; reports the others."""
    if not isinstance(node, Mapping):
        return node  # pydantic reports the wrong type
    fields = _fields_by_key(model)
    kept: dict[str, object] = {}
    for key, value in node.items():
        where = _join(path, key)
        spelling = _known_spelling(key, model.__name__, fields, node, where, report)
        if spelling is None or spelling in kept:
            continue
        spec = fields[spelling]
        if value is None and spec.model is not None and not spec.required:
            continue  # an empty section (`router_settings:` alone) means its defaults
        kept[spelling] = _check_section(value, spec, where, report)
    return kept


def _known_spelling(
    key: object,
    section: str,
    fields: Mapping[str, _Field],
    node: Mapping[Any, object],
    where: str,
    report: _Report,
) -> str | None:
    """The supported key ``key`` stands for, or ``None`` when it is dropped."""
    if not isinstance(key, str):
        report.errors.append(f"{where}: keys must be text, not {type(key).__name__}")
        return None
    if key in fields:
        return key
    if key in UNSUPPORTED.get(section, ()):
        hint = HINTS.get((section, key))
        advice = f"; {hint}" if hint else ""
        report.warnings.append(
            f"{where}: LiteLLM key not supported by quotaflow yet; ignored{advice}"
        )
        return None
    wanted = key.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(wanted, list(fields), n=1, cutoff=_NEAR_MISS_CUTOFF)
    if not close:
        report.warnings.append(f"{where}: unknown key; ignored")
        return None
    report.errors.append(f"{where}: unknown key; did you mean {close[0]!r}?")
    # Validate the value under the intended key too, so its own problems show up in this run.
    return None if close[0] in node else close[0]


def _check_section(value: object, spec: _Field, where: str, report: _Report) -> object:
    if spec.model is None:
        return value
    if not spec.many:
        return _check_keys(value, spec.model, where, report)
    if not isinstance(value, list | tuple):
        return value
    return [_check_keys(item, spec.model, f"{where}[{i}]", report) for i, item in enumerate(value)]


def _join(path: str, key: object) -> str:
    text = key if isinstance(key, str) else repr(key)
    return f"{path}.{text}" if path else text


# 3. Environment references ----------------------------------------------------------------------


def _resolve_env(node: object, path: str, environ: Mapping[str, str], report: _Report) -> object:
    """A copy of ``node`` with every ``os.environ/NAME`` string replaced by that variable."""
    if isinstance(node, str) and node.startswith(_ENV_PREFIX):
        name = node.removeprefix(_ENV_PREFIX)
        if name and name in environ:
            return environ[name]
        problem = f"environment variable {name} is not set" if name else "no variable name"
        report.errors.append(f"{path}: {problem}")
        report.unresolved.add(path)
        return None
    if isinstance(node, Mapping):
        return {key: _resolve_env(v, _join(path, key), environ, report) for key, v in node.items()}
    if isinstance(node, list | tuple):
        return [_resolve_env(v, f"{path}[{i}]", environ, report) for i, v in enumerate(node)]
    return node


# 4. Validation problems -------------------------------------------------------------------------


def _validation_problems(error: ValidationError, report: _Report) -> list[str]:
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        where = ""
        for part in detail["loc"]:
            where = f"{where}[{part}]" if isinstance(part, int) else _join(where, part)
        if where in report.unresolved:
            continue
        # Only pydantic's message: its "input" may be a secret and is never shown.
        message = detail["msg"] + _yaml_hint(detail["type"], detail.get("input"))
        problems.append(f"{where}: {message}" if where else message)
    return problems


def _yaml_hint(error_type: str, value: object) -> str:
    if error_type != "string_type":
        return ""
    if isinstance(value, bool):
        kind = "true/false"
    elif isinstance(value, date):
        kind = "date"
    elif isinstance(value, int | float):
        kind = "number"
    else:
        return ""
    return f" (YAML read a {kind} here; put the value in quotes)"


# 5. Settling ------------------------------------------------------------------------------------


def _apply_litellm_defaults(settings: Settings, report: _Report) -> Settings:
    """Use ``litellm_settings.num_retries``/``request_timeout`` where ``router_settings`` is silent.

    As in LiteLLM, a value set in ``router_settings`` wins.
    """
    legacy, router = settings.litellm_settings, settings.router_settings
    updates: dict[str, object] = {}
    for legacy_key, router_key, value in (
        ("num_retries", "num_retries", legacy.num_retries),
        ("request_timeout", "timeout", legacy.request_timeout),
    ):
        if value is None:
            continue
        if router_key not in router.model_fields_set:
            updates[router_key] = value
        elif getattr(router, router_key) != value:
            report.warnings.append(
                f"litellm_settings.{legacy_key}: ignored; router_settings.{router_key} is set"
            )
    if not updates:
        return settings
    return settings.model_copy(update={"router_settings": router.model_copy(update=updates)})


def _advise(settings: Settings, report: _Report) -> None:
    master_key = settings.general_settings.master_key
    if master_key is not None and not master_key.get_secret_value().startswith("sk-"):
        report.warnings.append(
            "general_settings.master_key: does not start with 'sk-', which LiteLLM requires; "
            "quotaflow accepts it"
        )
    router = settings.router_settings
    if router.redis_url is not None and router.redis_host is not None:
        report.warnings.append("router_settings.redis_host: ignored; redis_url is set and wins")

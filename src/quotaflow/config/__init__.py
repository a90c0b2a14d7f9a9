"""Configuration: the schema of ``config.yaml``, loading it, and describing what was understood.

Owns reading the config file and the process environment: ``loader`` is the only module in
quotaflow that reads ``os.environ``, and it does so only to resolve ``os.environ/NAME``
references and ``QUOTAFLOW_CONFIG``. Everything else receives a ``Settings`` section
(``RouterSettings``, ``GeneralSettings``, …) and never the environment. A LiteLLM
``config.yaml`` loads unchanged; keys quotaflow does not support are warnings, near-misses of
supported keys are errors. This package imports only ``quotaflow.errors``, pydantic and PyYAML.
"""

from quotaflow.config._summary import describe
from quotaflow.config.loader import (
    CONFIG_ENV_VAR,
    LOG_FORMAT_ENV_VAR,
    LOG_LEVEL_ENV_VAR,
    WORKERS_ENV_VAR,
    LoadedSettings,
    load_settings,
)
from quotaflow.config.schema import (
    ROUTING_STRATEGIES,
    DeploymentParams,
    GeneralSettings,
    LitellmSettings,
    ModelEntry,
    ModelInfo,
    RouterSettings,
    RoutingStrategy,
    Settings,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "LOG_FORMAT_ENV_VAR",
    "LOG_LEVEL_ENV_VAR",
    "ROUTING_STRATEGIES",
    "WORKERS_ENV_VAR",
    "DeploymentParams",
    "GeneralSettings",
    "LitellmSettings",
    "LoadedSettings",
    "ModelEntry",
    "ModelInfo",
    "RouterSettings",
    "RoutingStrategy",
    "Settings",
    "describe",
    "load_settings",
]

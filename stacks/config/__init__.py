"""Typed configuration of every environment, validated when it is built.

The values to edit are in ``environments.py``; the sections and their fields (type, range,
meaning, default) in ``sections.py`` (import them from there) and ``schema.py``. It imports no
CDK code, so checking it is instant (``python -m stacks.config check``). A bad value stops
everything with one line naming the environment, the field and what is allowed
(``ConfigError``), also when it is in ``environments.py`` itself and so raised while this
package is imported.
"""

from stacks.config.errors import ConfigError, report_config_errors_in_one_line

report_config_errors_in_one_line()  # before the environments below are built and checked

from stacks.config.environments import APP_CONFIG  # noqa: E402
from stacks.config.names import (  # noqa: E402
    canary_name,
    cognito_domain_prefix,
    deploy_role_name,
    log_group_name_patterns,
    log_group_prefix,
    repository_name,
    service_repository_name,
    sign_in_clients_parameter,
    stack_name,
)
from stacks.config.placeholders import check_deployable, find_placeholder  # noqa: E402
from stacks.config.regions import AZ_LETTERS_PER_REGION, aws_regions  # noqa: E402
from stacks.config.runtimes import (  # noqa: E402
    EDGE_REGION,
    RUNTIME_SPECS,
    WebRuntimeSpec,
    edge_region,
    runtime_spec,
)
from stacks.config.schema import AppConfig, EnvironmentConfig, validate_app_config  # noqa: E402

__all__ = [
    "APP_CONFIG",
    "AZ_LETTERS_PER_REGION",
    "EDGE_REGION",
    "RUNTIME_SPECS",
    "AppConfig",
    "ConfigError",
    "EnvironmentConfig",
    "WebRuntimeSpec",
    "aws_regions",
    "canary_name",
    "check_deployable",
    "cognito_domain_prefix",
    "deploy_role_name",
    "edge_region",
    "find_placeholder",
    "log_group_name_patterns",
    "log_group_prefix",
    "repository_name",
    "runtime_spec",
    "service_repository_name",
    "sign_in_clients_parameter",
    "stack_name",
    "validate_app_config",
]

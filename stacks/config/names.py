"""Names derived from config that several stacks, the workflows and preflight must agree on."""

from __future__ import annotations

from cdk_constructs.options import Image
from stacks.config.schema import AppConfig, EnvironmentConfig


def stack_name(app: AppConfig, env_config: EnvironmentConfig, tier: str) -> str:
    """CloudFormation name of one tier's stack (``network``, ``data``, ``api``, ``web``)."""
    return f"{app.app_name}-{env_config.name}-{tier}"


def cognito_domain_prefix(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """The Cognito hosted domain prefix of an environment: unique across all AWS accounts of
    the region, so it carries the account id (``make preflight`` checks it is free)."""
    return f"{app.app_name}-{env_config.name}-{env_config.account}"


def deploy_role_name(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """The GitHub deploy role of an environment (in the OIDC stack of its account)."""
    return f"{app.app_name}-{env_config.name}-github-deploy"


def repository_name(app: AppConfig, env_config: EnvironmentConfig, image: Image | str) -> str:
    """ECR repository of an image; fixed because the deploy workflow pushes to it and other
    stacks refer to it by name."""
    return f"{app.app_name}/{env_config.name}/{image}"


def service_repository_name(app: AppConfig, env_config: EnvironmentConfig, service: str) -> str:
    """ECR repository of a microservice of the public services API (``api.services``)."""
    return repository_name(app, env_config, f"services/{service}")


def sign_in_clients_parameter(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """SSM parameter the web stack writes the browser client's id to and the API's authorizer
    reads (comma-separated): the client needs the site's URL, which exists after the API."""
    return f"/{app.app_name}/{env_config.name}/sign-in/client-ids"


def canary_name(env_config: EnvironmentConfig) -> str:
    """The web health canary: ``<env>-web-health``, cut to Synthetics' 21 characters (unique
    per account and region, like every canary name)."""
    return f"{env_config.name}-web-health"[:21]


def log_group_prefix(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """``/<app>/<env>``: where the environment's log groups go when no service fixes their name
    (synth names each ``<prefix>/<tier>/<logical id>``)."""
    return f"/{app.app_name}/{env_config.name}"


API_EXECUTION_LOG_GROUPS = "API-Gateway-Execution-Logs_*"
"""API Gateway names execution log groups after the API's id, known only once it exists
(EXCEPTIONS.md: the key admits any REST API's execution logs of the account and region)."""


def log_group_name_patterns(app: AppConfig, env_config: EnvironmentConfig) -> tuple[str, ...]:
    """Every log group name the environment's KMS key admits (CloudWatch Logs' encryption
    context is the group's ARN): the groups this environment names, and those services name
    after its resources (``<app>-<env>-...``, the canary)."""
    resources = f"{app.app_name}-{env_config.name}-*"
    return (
        f"{log_group_prefix(app, env_config)}/*",
        f"/aws/lambda/{resources}",
        f"/aws/lambda/cwsyn-{canary_name(env_config)}-*",
        f"/aws/rds/cluster/{resources}",
        f"/aws/rds/instance/{resources}",
        f"/aws/rds/proxy/{resources}",
        f"/aws/ecs/containerinsights/{resources}",
        f"/aws/apprunner/{resources}",
        f"aws-waf-logs-{resources}",
        API_EXECUTION_LOG_GROUPS,
    )

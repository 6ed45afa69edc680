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

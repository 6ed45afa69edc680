"""The base of every stack of the platform."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import retention_from_days
from cdk_constructs.retry_safety import CreateRollbackGuard
from stacks.config import AppConfig, EnvironmentConfig, stack_name

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_CACHE_DIR = REPO_ROOT / ".cache" / "lambda-deps"
"""Pip-installed Lambda dependencies, reused across synths (see python_bundling)."""
ROLLBACK_GUARD_PACKAGE = REPO_ROOT / "lambda_src" / "rollback_guard"


class Tier(StrEnum):
    """The stacks of an environment, in the order they build on each other: each tier uses
    only the tiers before it. The value names the stack: ``<app>-<env>-<tier>``."""

    NETWORK = "network"
    DATA = "data"
    API = "api"
    WEB = "web"
    OPS = "ops"


def stack_props(
    app: AppConfig, env_config: EnvironmentConfig, tier: Tier, summary: str
) -> dict[str, Any]:
    """The ``Stack`` settings every tier shares: its name, a description ("<app> <env>:
    <summary>"), termination protection where data is retained, no analytics reporting."""
    return {
        "stack_name": stack_name(app, env_config, tier),
        "description": f"{app.app_name} {env_config.name}: {summary}",
        "termination_protection": env_config.retain_data,
        "analytics_reporting": False,
    }


class PlatformStack(Stack):
    """A stack of one environment: its availability zones, removal policy and log retention
    come from that environment's config.

    ``Stack.availability_zones`` of an environment-specific stack is a context lookup that needs
    AWS credentials; the configured list keeps synth offline and deterministic.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_config: EnvironmentConfig,
        app: AppConfig | None = None,
        tier: Tier | None = None,
        summary: str = "",
        **kwargs: Any,
    ) -> None:
        """With ``app`` and ``tier`` the stack names and describes itself (``stack_props``);
        ``kwargs`` carry those settings from the stage until every stack passes them."""
        self._configured_zones = list(env_config.availability_zones)
        if app is not None and tier is not None:
            kwargs = {**stack_props(app, env_config, tier, summary), **kwargs}
        super().__init__(scope, id_, **kwargs)
        self.removal_policy = (
            RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
            if env_config.retain_data
            else RemovalPolicy.DESTROY
        )
        """Of the stateful resources: kept where the environment retains data, except when the
        create that made them rolls back (CloudFormation's ``RetainExceptOnCreate``), so a
        failed first deploy leaves no fixed name behind to block the retry."""
        self.log_retention: logs.RetentionDays = retention_from_days(env_config.log_retention_days)
        self._rollback_guard: CreateRollbackGuard | None = None

    @property
    def rollback_guard(self) -> CreateRollbackGuard:
        """This stack's guard of deletion-protected resources (created on first use)."""
        if self._rollback_guard is None:
            self._rollback_guard = CreateRollbackGuard(
                self,
                "CreateRollbackGuard",
                package_dir=ROLLBACK_GUARD_PACKAGE,
                bundle_cache_dir=BUNDLE_CACHE_DIR,
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
            )
        return self._rollback_guard

    @property
    def availability_zones(self) -> list[str]:
        return list(self._configured_zones)

"""The base of every stack of the platform."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs

from cdk_constructs.logging import retention_from_days
from cdk_constructs.retry_safety import CreateRollbackGuard
from stacks.config import AppConfig, EnvironmentConfig, stack_name

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage

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


class PlatformStack(Stack):
    """The stack of one tier (``TIER``) of one environment: its name, description, availability
    zones, removal policy and log retention come from that environment's config, and its
    construct id is the tier's (``Network``, ``Data``, ...).

    ``Stack.availability_zones`` of an environment-specific stack is a context lookup that needs
    AWS credentials; the configured list keeps synth offline and deterministic.
    """

    TIER: ClassVar[Tier]
    SUMMARY: ClassVar[str]
    """What the stack holds, for its description: ``<app> <env>: <summary>``."""

    def __init__(self, stage: PlatformStage, *, cross_region_references: bool = False) -> None:
        """``cross_region_references``: the stack refers to a stack of another region of its
        stage (CDK's SSM-parameter references; a runtime's us-east-1 edge stack)."""
        self.app_config: AppConfig = stage.app_config
        self.env_config: EnvironmentConfig = stage.env_config
        self._configured_zones = list(self.env_config.availability_zones)
        super().__init__(
            stage,
            self.TIER.title(),
            stack_name=stack_name(self.app_config, self.env_config, self.TIER),
            description=f"{self.app_config.app_name} {self.env_config.name}: {self.summary()}",
            termination_protection=self.env_config.retain_data,
            analytics_reporting=False,
            cross_region_references=cross_region_references,
        )
        self.removal_policy = (
            RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
            if self.env_config.retain_data
            else RemovalPolicy.DESTROY
        )
        """Of the stateful resources: kept where the environment retains data, except when the
        create that made them rolls back (CloudFormation's ``RetainExceptOnCreate``), so a
        failed first deploy leaves no fixed name behind to block the retry."""
        self.log_retention: logs.RetentionDays = retention_from_days(
            self.env_config.log_retention_days
        )
        self._rollback_guard: CreateRollbackGuard | None = None

    def add_outputs(self, *outputs: tuple[str, str] | tuple[str, str, str]) -> None:
        """Stack outputs, ``(name, value)`` or ``(name, value, description)``: what operators and
        the deploy workflow read after a deploy (never a secret's value)."""
        for name, value, *description in outputs:
            CfnOutput(self, name, value=value, description=description[0] if description else None)

    def summary(self) -> str:
        """``SUMMARY``; a tier whose contents depend on config says so here."""
        return self.SUMMARY

    @property
    def resource_prefix(self) -> str:
        """``<app>-<env>``: the start of the names of this environment's resources."""
        return f"{self.app_config.app_name}-{self.env_config.name}"

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

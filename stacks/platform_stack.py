"""The base of every stack of the platform."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import retention_from_days
from stacks.config import EnvironmentConfig


class PlatformStack(Stack):
    """A stack of one environment: its availability zones, removal policy and log retention
    come from that environment's config.

    ``Stack.availability_zones`` of an environment-specific stack is a context lookup that needs
    AWS credentials; the configured list keeps synth offline and deterministic.
    """

    def __init__(
        self, scope: Construct, id_: str, *, env_config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        self._configured_zones = list(env_config.availability_zones)
        super().__init__(scope, id_, **kwargs)
        self.removal_policy = (
            RemovalPolicy.RETAIN if env_config.retain_data else RemovalPolicy.DESTROY
        )
        """Of the stateful resources: kept where the environment retains data."""
        self.log_retention: logs.RetentionDays = retention_from_days(env_config.log_retention_days)

    @property
    def availability_zones(self) -> list[str]:
        return list(self._configured_zones)

"""One environment of the platform: a Stage holding one stack per tier."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aspects, Environment, Stage, Tags
from constructs import Construct

from cdk_constructs.logging import FunctionLogGroups
from cdk_constructs.retry_safety import RetainExceptOnCreate
from stacks.api_stack import ApiStack
from stacks.config import AppConfig, EnvironmentConfig, stack_name
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack
from stacks.ops_stack import OpsStack
from stacks.web_stack import WebStack

UNTAGGABLE_RESOURCE_TYPES = ("AWS::RDS::DBProxyTargetGroup",)
"""CDK marks these taggable, but CloudFormation rejects a ``Tags`` property on them."""


class PlatformStage(Stage):
    """All tiers of one environment, deployed to that environment's account and region."""

    def __init__(self, scope: Construct, *, app: AppConfig, env_config: EnvironmentConfig) -> None:
        super().__init__(
            scope,
            env_config.name,
            env=Environment(account=env_config.account, region=env_config.region),
        )
        self.env_config = env_config
        self.app_config = app
        self.network = NetworkStack(
            self,
            "Network",
            app=app,
            env_config=env_config,
            **self._stack_props("network", "network tier (VPC, endpoints, ECR)"),
        )
        self.data = DataStack(
            self,
            "Data",
            network=self.network.network,
            app=app,
            env_config=env_config,
            **self._stack_props("data", "data tier (Aurora, proxy, sessions)"),
        )
        self.api = ApiStack(
            self,
            "Api",
            network=self.network.network,
            database=self.data.database,
            app=app,
            env_config=env_config,
            **self._stack_props("api", "API tier (function, API, Cognito)"),
        )
        self.web = WebStack(
            self,
            "Web",
            network=self.network.network,
            sessions=self.data.sessions,
            api_client_secret=self.api.web_client_secret,
            app=app,
            env_config=env_config,
        )
        self.ops = OpsStack(
            self,
            "Ops",
            data=self.data,
            api=self.api,
            web=self.web,
            app=app,
            env_config=env_config,
        )
        Aspects.of(self).add(
            FunctionLogGroups(
                retention=self.network.log_retention, removal_policy=self.network.removal_policy
            )
        )
        Aspects.of(self).add(RetainExceptOnCreate())
        for key, value in (("app", app.app_name), ("environment", env_config.name)):
            Tags.of(self).add(key, value, exclude_resource_types=list(UNTAGGABLE_RESOURCE_TYPES))

    def _stack_props(self, tier: str, what: str) -> dict[str, Any]:
        """The stack settings every tier shares: name, description, protection, no analytics."""
        app, env = self.app_config, self.env_config
        return {
            "stack_name": stack_name(app, env, tier),
            "description": f"{app.app_name} {env.name}: {what}",
            "termination_protection": env.retain_data,
            "analytics_reporting": False,
        }

"""One environment of the platform: a Stage holding one stack per tier."""

from __future__ import annotations

from aws_cdk import Aspects, Environment, Stage, Tags
from constructs import Construct

from cdk_constructs.logging import FunctionLogGroups
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
        self.network = NetworkStack(
            self,
            "Network",
            app=app,
            env_config=env_config,
            stack_name=stack_name(app, env_config, "network"),
            description=f"{app.app_name} {env_config.name}: network tier (VPC, endpoints, ECR)",
            termination_protection=env_config.retain_data,
            analytics_reporting=False,
        )
        self.data = DataStack(
            self,
            "Data",
            app=app,
            env_config=env_config,
            network=self.network.network,
            stack_name=stack_name(app, env_config, "data"),
            description=f"{app.app_name} {env_config.name}: data tier (Aurora, proxy, sessions)",
            termination_protection=env_config.retain_data,
            analytics_reporting=False,
        )
        self.api = ApiStack(
            self,
            "Api",
            app=app,
            env_config=env_config,
            network=self.network.network,
            database=self.data.database,
            stack_name=stack_name(app, env_config, "api"),
            description=f"{app.app_name} {env_config.name}: API tier (function, API, Cognito)",
            termination_protection=env_config.retain_data,
            analytics_reporting=False,
        )
        self.web = WebStack(
            self,
            "Web",
            app=app,
            env_config=env_config,
            network=self.network.network,
            sessions=self.data.sessions,
            api_client_secret=self.api.web_client_secret,
            stack_name=stack_name(app, env_config, "web"),
            description=f"{app.app_name} {env_config.name}: web tier ({env_config.web.runtime})",
            termination_protection=env_config.retain_data,
            analytics_reporting=False,
        )
        self.ops = OpsStack(
            self,
            "Ops",
            app=app,
            env_config=env_config,
            data=self.data,
            api=self.api,
            web=self.web,
            stack_name=stack_name(app, env_config, "ops"),
            description=f"{app.app_name} {env_config.name}: operations (alarms, dashboard)",
            termination_protection=env_config.retain_data,
            analytics_reporting=False,
        )
        Aspects.of(self).add(
            FunctionLogGroups(
                retention=self.network.log_retention, removal_policy=self.network.removal_policy
            )
        )
        for key, value in (("app", app.app_name), ("environment", env_config.name)):
            Tags.of(self).add(key, value, exclude_resource_types=list(UNTAGGABLE_RESOURCE_TYPES))

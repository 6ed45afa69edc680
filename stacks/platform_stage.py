"""One environment of the platform: a Stage holding one stack per tier."""

from __future__ import annotations

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from cdk_constructs.environment_policies import EnvironmentPolicies
from stacks.api_tier import ApiTier
from stacks.api_tiers import build_api_tier
from stacks.config import AppConfig, EnvironmentConfig, log_group_prefix
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack
from stacks.ops_stack import OpsStack
from stacks.platform_stack import Tier
from stacks.web_stack import WebStack

TIERS = tuple(Tier)

UNTAGGABLE_RESOURCE_TYPES = ("AWS::RDS::DBProxyTargetGroup",)
"""CDK marks these taggable, but CloudFormation rejects a ``Tags`` property on them."""


class PlatformStage(Stage):
    """All tiers of one environment, deployed to that environment's account and region."""

    network: NetworkStack
    data: DataStack
    api: ApiTier
    """The API stack of ``api.kind`` (``stacks/api_tiers.py``)."""
    web: WebStack
    ops: OpsStack

    def __init__(
        self,
        scope: Construct,
        *,
        app: AppConfig,
        env_config: EnvironmentConfig,
        until: Tier = Tier.OPS,
    ) -> None:
        """Builds the tiers in order up to ``until``; the later ones are not built (tests of
        one tier need no more), and their attributes stay unset."""
        super().__init__(
            scope,
            env_config.name,
            env=Environment(account=env_config.account, region=env_config.region),
        )
        self.env_config = env_config
        self.app_config = app
        for tier in TIERS[: TIERS.index(until) + 1]:
            self._build(tier)
        # Last: its one aspect visits every resource the tiers above created.
        EnvironmentPolicies(
            self,
            "EnvironmentPolicies",
            retention=self.network.log_retention,
            removal_policy=self.network.removal_policy,
            log_group_prefix=log_group_prefix(app, env_config),
            log_key=self.network.key if env_config.security.encrypt_logs else None,
        )
        for key, value in (("app", app.app_name), ("environment", env_config.name)):
            Tags.of(self).add(key, value, exclude_resource_types=list(UNTAGGABLE_RESOURCE_TYPES))

    def _build(self, tier: Tier) -> None:
        match tier:
            case Tier.NETWORK:
                self.network = NetworkStack(self)
            case Tier.DATA:
                self.data = DataStack(self, network=self.network.network)
            case Tier.API:
                self.api = build_api_tier(
                    self,
                    network=self.network.network,
                    database=self.data.database,
                    key=self.network.key,
                )
            case Tier.WEB:
                self.web = WebStack(
                    self,
                    network=self.network.network,
                    sessions=self.data.sessions,
                    api=self.api,
                    key=self.network.key,
                    operator_access=self.data.operator_access,
                )
            case Tier.OPS:
                self.ops = OpsStack(self, data=self.data, api=self.api, web=self.web)

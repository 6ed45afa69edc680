"""Operations of one environment: its alerts topic, alarms and dashboard, over every tier."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_constructs.alerts import AlertsTopic
from cdk_constructs.monitoring import MonitoringProps, PlatformMonitoring
from cdk_constructs.operator_access import OperatorPolicies, OperatorPoliciesProps, shell_target
from stacks.api_tier import ApiTier
from stacks.config import AppConfig, EnvironmentConfig, stack_name
from stacks.data_stack import DataStack
from stacks.platform_stack import PlatformStack, Tier
from stacks.web_stack import WebStack

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage


def alerts_topic_name(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """``<app>-<env>-ops-alerts``. Not the web stack's former ``<app>-<env>-alerts``: where data
    is retained, that topic outlives its removal from the web stack, and SNS's CloudFormation
    handler refuses to create a topic whose name exists (README: upgrade notes)."""
    return f"{app.app_name}-{env_config.name}-ops-alerts"


class OpsStack(PlatformStack):
    """Holds the alerts topic and composes the monitoring of the data, API and web tiers. The
    canary lives in the web stack; its alarm is made here, so the web stack never depends on
    this one (this one reads the web stack's runtime and canary)."""

    TIER = Tier.OPS
    SUMMARY = "operations (alerts topic, alarms, dashboard, operator policies)"

    def __init__(
        self, stage: PlatformStage, *, data: DataStack, api: ApiTier, web: WebStack
    ) -> None:
        super().__init__(stage)
        app, env_config = self.app_config, self.env_config
        self.alerts = AlertsTopic(
            self,
            "Alerts",
            topic_name=alerts_topic_name(app, env_config),
            email=env_config.alert_email,
            removal_policy=self.removal_policy,
        ).topic
        self.monitoring = PlatformMonitoring(
            self,
            "Monitoring",
            props=MonitoringProps(
                name=self.resource_prefix,
                topic=self.alerts,
                thresholds=env_config.alarms,
                canary=web.canary,
                web=web.runtime,
                api=api.monitoring,
                database=data.database,
                sessions=data.sessions,
                backups=data.backup is not None,
            ),
        )
        # Here, last: the operators' policies name the data, web and every stack of the stage.
        self.operator_policies: OperatorPolicies | None = None
        if data.operator_access is not None:
            self.operator_policies = OperatorPolicies(
                self,
                "OperatorAccess",
                props=OperatorPoliciesProps(
                    name=self.resource_prefix,
                    access=data.operator_access,
                    database=data.database,
                    stack_names=[stack_name(app, env_config, tier) for tier in Tier],
                    shell=shell_target(web.runtime),
                ),
            )
            self.add_outputs(
                (
                    "OperatorsPolicyArn",
                    self.operator_policies.operators.managed_policy_arn,
                    "Attach to operators: make db-tunnel (read-only) and make shell",
                ),
                (
                    "DatabaseAdminsPolicyArn",
                    self.operator_policies.db_admins.managed_policy_arn,
                    "Attach, with the operators policy, for make db-tunnel ... admin",
                ),
            )

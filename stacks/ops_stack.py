"""Operations of one environment: its alarms and its dashboard, over every tier."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from constructs import Construct

from cdk_constructs.monitoring import (
    AppRunnerWeb,
    FargateWeb,
    MonitoringProps,
    PlatformMonitoring,
)
from stacks.api_stack import ApiStack
from stacks.config import AppConfig, EnvironmentConfig
from stacks.data_stack import DataStack
from stacks.platform_stack import PlatformStack
from stacks.web_stack import WebStack


class OpsStack(PlatformStack):
    """Composes the monitoring of the data, API and web tiers; alarms go to the web stack's
    alerts topic (the canary's alarm lives next to the canary)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        app: AppConfig,
        env_config: EnvironmentConfig,
        data: DataStack,
        api: ApiStack,
        web: WebStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, env_config=env_config, **kwargs)
        web_runtime: FargateWeb | AppRunnerWeb
        if web.fargate is not None:
            web_runtime = FargateWeb(
                load_balancer=web.fargate.load_balancer,
                target_group=web.fargate.target_group,
                service=web.fargate.service,
            )
        else:
            assert web.app_runner is not None
            web_runtime = AppRunnerWeb(
                service_name=web.app_runner.service_name,
                service_id=web.app_runner.service.attr_service_id,
            )
        self.monitoring = PlatformMonitoring(
            self,
            "Monitoring",
            props=MonitoringProps(
                name=f"{app.app_name}-{env_config.name}",
                topic=web.alerts,
                thresholds=env_config.alarms,
                canary=web.canary.canary,
                web=web_runtime,
                api=api.api.api,
                api_stage=api.api.stage.stage_name,
                function=api.function.function,
                function_timeout=Duration.seconds(env_config.api.timeout_seconds),
                cluster=data.database.cluster,
                proxy=data.database.proxy,
                sessions=data.sessions,
            ),
        )

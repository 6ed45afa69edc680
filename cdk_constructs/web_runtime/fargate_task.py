"""The web task of the Fargate runtime: one locked-down container, its log group and the
writable scratch volume (README: web tier)."""

from __future__ import annotations

from typing import NamedTuple

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import acknowledge
from cdk_constructs.options import CpuArchitecture
from cdk_constructs.web_runtime.image import (
    PublicImage,
    RepositoryImage,
    add_scratch_volume,
    locked_down,
)
from cdk_constructs.web_runtime.interface import WebRuntimeProps

CONTAINER_NAME = "web"
CPU_TARGET_PERCENT = 60
"""The CPU a Fargate service's target tracking keeps its tasks at (the web tier's and the
microservices')."""
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
_ECS_ARCHITECTURE = {
    CpuArchitecture.ARM64: ecs.CpuArchitecture.ARM64,
    CpuArchitecture.X86_64: ecs.CpuArchitecture.X86_64,
}


class WebTask(NamedTuple):
    definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    log_group: logs.LogGroup


def web_task(
    scope: Construct,
    props: WebRuntimeProps,
    architecture: CpuArchitecture,
    *,
    container_name: str = CONTAINER_NAME,
    port_name: str | None = None,
) -> WebTask:
    """The task definition (ids ``Task`` and ``LogGroup`` in ``scope``, as before this module
    existed: the retained log group keeps its logical id) and its web container, named
    ``container_name``, whose port mapping is named ``port_name`` (ECS Express Mode requires
    both of a task definition of one's own: express.py)."""
    definition = ecs.FargateTaskDefinition(
        scope,
        "Task",
        cpu=props.cpu,
        memory_limit_mib=props.memory_mib,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=_ECS_ARCHITECTURE[architecture],
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
    )
    image = props.image
    log_group = retained_log_group(scope, "LogGroup", settings=props)
    logging = ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=log_group)
    # Locked down (README: web tier): numeric non-root user (seen in the template alone),
    # read-only root but a scratch volume, hard memory limit, no capability (image.py).
    container = definition.add_container(
        container_name,
        image=(
            ecs.ContainerImage.from_ecr_repository(image.repository, tag=image.tag)
            if isinstance(image, RepositoryImage)
            else ecs.ContainerImage.from_registry(image.name)
        ),
        command=list(image.command) if isinstance(image, PublicImage) and image.command else None,
        port_mappings=[ecs.PortMapping(container_port=props.port, name=port_name)],
        logging=logging,
        environment=dict(props.environment),
        secrets={
            secret.name: ecs.Secret.from_secrets_manager(secret.secret, secret.field)
            for secret in props.secrets
        },
        user=image.user,
        readonly_root_filesystem=True,
        memory_limit_mib=props.memory_mib,
        linux_parameters=locked_down(definition, "WebLinux"),
    )
    add_scratch_volume(definition, container, image, logging)
    execution_role = definition.execution_role
    if execution_role is not None:  # made with the secrets, which it fetches at start
        for secret in props.secrets:
            secret.grant_key(execution_role)
    if isinstance(image, RepositoryImage) and execution_role is not None:
        acknowledge(
            execution_role,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken has no resource-level permissions; the image pull "
            "itself is scoped to the web repository.",
            applies_to="Resource::*",
        )
    if props.environment:
        acknowledge(
            definition,
            "AwsSolutions-ECS2",
            "Only plain settings from config; every secret is injected through `secrets` "
            "from Secrets Manager.",
        )
    return WebTask(definition, container, log_group)


def tasks_missing(cluster_name: str, service_name: str, period: Duration) -> cloudwatch.IMetric:
    """Desired minus running tasks of an ECS service (Container Insights): above 0 while tasks
    fail to start or keep stopping."""
    dimensions = {"ClusterName": cluster_name, "ServiceName": service_name}
    return cloudwatch.MathExpression(
        expression="desired - running",
        using_metrics={
            name: cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS,
                metric_name=metric,
                dimensions_map=dimensions,
                statistic="Minimum" if name == "running" else "Maximum",
                period=period,
            )
            for name, metric in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount"))
        },
        label="Tasks missing",
        period=period,
    )

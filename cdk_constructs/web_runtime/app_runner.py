"""An App Runner service whose outbound traffic leaves through the VPC; secrets stay out of config.

Built on the L1 ``aws_apprunner.Cfn*`` resources of aws-cdk-lib (no alpha package).

Not locked down like the Fargate task (issue 15): App Runner's image configuration takes a port,
variables, secrets and a start command, its instance configuration CPU, memory and a role; there
is no user, read-only root filesystem, capability or noNewPrivileges setting. The image's own
USER applies (non-root for the placeholder and the reference app); memory is the instance size.

Releases roll (``release_strategies``): App Runner replaces its instances itself once the new
ones pass its health check; it has no traffic shifting and no alarm-driven rollback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_apprunner as apprunner
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import ImplicitLogGroup
from cdk_constructs.nag import acknowledge
from cdk_constructs.network import subnet_ids
from cdk_constructs.options import APP_RUNNER_CPU_MEMORY, WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.image import PublicImage, RepositoryImage
from cdk_constructs.web_runtime.interface import (
    ROLLING_ONLY,
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    https_out_security_group,
    refuse_strategy,
    rolling_release,
)
from cdk_constructs.web_runtime.rollout import Rollout

MAX_CONCURRENCY = 100
"""Concurrent requests per instance before App Runner adds one (App Runner's default)."""
MAX_MIN_SIZE = 25
"""The largest MinSize App Runner accepts (its CloudFormation schema)."""
HEALTH_INTERVAL_SECONDS = 10
HEALTH_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 1
UNHEALTHY_THRESHOLD = 3
"""An instance is replaced after ~30 s of failed checks; one success brings it in."""
TRACING_VENDOR = "AWSXRAY"
XRAY_WRITE_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
"""What App Runner's X-Ray tracing needs on the instance role (AWS documents
AWSXRayDaemonWriteAccess for it); X-Ray has no resource-level permissions for these."""
PUBLIC_REGISTRY = "public.ecr.aws/"
RESERVED_VARIABLE_PREFIX = "AWSAPPRUNNER"
PORT_VARIABLE = "PORT"
"""Reserved by App Runner: a service can't set it. Equal to the service port, it is left out."""
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,39}")
ECR_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
)
"""What App Runner's access role needs on the repository (AWSAppRunnerServicePolicyForECRAccess
without its ``Resource: *``): pull layers, and describe images to resolve the tag."""
APP_RUNNER_DEPLOY_ACTIONS = (
    "apprunner:DescribeService",
    "apprunner:ListOperations",
    "apprunner:StartDeployment",
)
"""Start a deployment and follow it to its end (ListOperations says whether it succeeded)."""
NAMESPACE = "AWS/AppRunner"
LOG_KINDS = ("application", "service")
"""App Runner's own log groups of a service."""


class AppRunnerService(Construct):
    """A public HTTPS App Runner service that reaches AWS and the private API through the VPC.

    Outbound traffic goes through a VPC connector in the app subnets whose security group admits
    nothing and emits HTTPS only. The instance role holds nothing but read on the service's own
    secrets and X-Ray's trace writes (tracing is on); callers grant the rest on
    ``instance_role``.

    Automatic deployments are OFF on purpose: with them on, every ECR push starts a deployment
    that collides with CloudFormation's own service updates (OPERATION_IN_PROGRESS fails the
    stack update). Deployments happen only when this template changes or when the deploy
    workflow calls ``StartDeployment`` (``rollout``).

    App Runner runs x86_64 only: a private image must be built for linux/amd64.
    """

    rollout: ClassVar[Rollout] = Rollout.APP_RUNNER_START_DEPLOYMENT
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]] = ROLLING_ONLY
    release = rolling_release(WebRuntime.APP_RUNNER)

    def __init__(self, scope: Construct, id_: str, *, props: WebRuntimeProps) -> None:
        super().__init__(scope, id_)
        _validate(props)
        self.service_name = props.name

        self.security_group = https_out_security_group(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{props.name} VPC connector: no ingress, HTTPS out only",
        )
        # No VpcConnectorName: a change of subnets or group replaces the connector, and a fixed
        # name would make the replacement collide with the old one.
        self.vpc_connector = apprunner.CfnVpcConnector(
            self,
            "VpcConnector",
            subnets=subnet_ids(props.vpc, props.app_subnets),
            security_groups=[self.security_group.security_group_id],
        )
        self.auto_scaling_configuration = apprunner.CfnAutoScalingConfiguration(
            self,
            "AutoScaling",
            min_size=props.min_instances,
            max_size=props.max_instances,
            max_concurrency=MAX_CONCURRENCY,
        )
        self.observability_configuration = apprunner.CfnObservabilityConfiguration(
            self,
            "Observability",
            trace_configuration=apprunner.CfnObservabilityConfiguration.TraceConfigurationProperty(
                vendor=TRACING_VENDOR
            ),
        )
        self.instance_role = self._instance_role(props)
        self.runtime_role: iam.IRole = self.instance_role
        self.deletion_protected: Sequence[ProtectedResource] = ()
        """App Runner has no deletion protection."""
        self.access_role: iam.Role | None = None
        if isinstance(props.image, RepositoryImage):
            self.access_role = self._access_role(props.name, props.image.repository)

        self.service = apprunner.CfnService(
            self,
            "Service",
            service_name=props.name,
            source_configuration=self._source(props),
            instance_configuration=apprunner.CfnService.InstanceConfigurationProperty(
                cpu=str(props.cpu),
                memory=str(props.memory_mib),
                instance_role_arn=self.instance_role.role_arn,
            ),
            network_configuration=apprunner.CfnService.NetworkConfigurationProperty(
                egress_configuration=apprunner.CfnService.EgressConfigurationProperty(
                    egress_type="VPC",
                    vpc_connector_arn=self.vpc_connector.attr_vpc_connector_arn,
                ),
                ingress_configuration=apprunner.CfnService.IngressConfigurationProperty(
                    is_publicly_accessible=True
                ),
            ),
            health_check_configuration=apprunner.CfnService.HealthCheckConfigurationProperty(
                protocol="HTTP",
                path=props.health_path,
                interval=HEALTH_INTERVAL_SECONDS,
                timeout=HEALTH_TIMEOUT_SECONDS,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
            ),
            observability_configuration=apprunner.CfnService.ServiceObservabilityConfigurationProperty(
                observability_enabled=True,
                observability_configuration_arn=(
                    self.observability_configuration.attr_observability_configuration_arn
                ),
            ),
            auto_scaling_configuration_arn=(
                self.auto_scaling_configuration.attr_auto_scaling_configuration_arn
            ),
        )
        # App Runner pulls the image with the access role and reads the secrets with the
        # instance role while it creates the service: their policies (including the grants
        # callers add later) must exist first, or the first deployment fails.
        self.service.node.add_dependency(self.instance_role)
        if self.access_role is not None:
            self.service.node.add_dependency(self.access_role)

        # App Runner creates /aws/apprunner/<name>/<service id>/{application,service} with no
        # expiry when the service starts; give them the retention.
        self.log_groups = [
            ImplicitLogGroup(
                self,
                f"{kind.capitalize()}Logs",
                log_group_name=f"/aws/apprunner/{props.name}/{self.service.attr_service_id}/{kind}",
                name_pattern=f"/aws/apprunner/{props.name}/*",
                retention=props.log_retention,
                removal_policy=props.removal_policy,
                key=props.log_key,
            )
            for kind in LOG_KINDS
        ]
        self.url: str = f"https://{self.service.attr_service_url}"
        """The service's own HTTPS URL (``ServiceUrl`` is a bare host name)."""
        self.service_id: str = self.service.attr_service_arn
        """The service's ARN (what start-deployment takes)."""

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> AppRunnerService:
        """The service from the common props: App Runner has no setting of its own."""
        return cls(scope, id_, props=props)

    @classmethod
    def deploy_permissions(
        cls, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """Start and watch deployments of the environment's service (``rollout``)."""
        return (
            DeployPermission(
                sid="DeployAppRunnerService",
                actions=APP_RUNNER_DEPLOY_ACTIONS,
                resources=(
                    f"arn:{partition}:apprunner:{region}:{account}:service/{service_name}/*",
                ),
                wildcard_reason="App Runner appends a generated id to the service ARN; the name "
                "part is fixed, so the wildcard matches that one service only.",
            ),
        )

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """The web ACL filters what reaches the service's public endpoint."""
        web_acl.associate("Association", self.service_id)

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """The service's 5XX responses."""
        app_runner_5xx = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name="5xxStatusResponses",
            dimensions_map={
                "ServiceName": self.service_name,
                "ServiceID": self.service.attr_service_id,
            },
            statistic="Sum",
            period=period,
        )
        return (
            WebAlarm(
                "Web5xx", app_runner_5xx, thresholds.web_5xx, "App Runner 5XX", "App Runner 5XX"
            ),
        )

    def _source(self, props: WebRuntimeProps) -> apprunner.CfnService.SourceConfigurationProperty:
        """The image, its settings and secrets; automatic deployments off."""
        image = props.image
        if isinstance(image, RepositoryImage):
            stack = Stack.of(self)
            identifier = (
                f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}/"
                f"{image.repository.repository_name}:{image.tag}"
            )
            start_command = None
        else:
            identifier, start_command = image.name, image.start_command
        return apprunner.CfnService.SourceConfigurationProperty(
            auto_deployments_enabled=False,
            authentication_configuration=(
                apprunner.CfnService.AuthenticationConfigurationProperty(
                    access_role_arn=self.access_role.role_arn
                )
                if self.access_role is not None
                else None
            ),
            image_repository=apprunner.CfnService.ImageRepositoryProperty(
                image_identifier=identifier,
                image_repository_type="ECR" if self.access_role is not None else "ECR_PUBLIC",
                image_configuration=apprunner.CfnService.ImageConfigurationProperty(
                    port=str(props.port),
                    start_command=start_command,
                    runtime_environment_variables=[
                        apprunner.CfnService.KeyValuePairProperty(name=name, value=value)
                        for name, value in props.environment.items()
                        if name != PORT_VARIABLE
                    ]
                    or None,
                    runtime_environment_secrets=[
                        apprunner.CfnService.KeyValuePairProperty(
                            name=secret.name, value=_secret_reference(secret)
                        )
                        for secret in props.secrets
                    ]
                    or None,
                ),
            ),
        )

    def _instance_role(self, props: WebRuntimeProps) -> iam.Role:
        """What the app's code may call: its secrets, and X-Ray's trace writes."""
        role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("tasks.apprunner.amazonaws.com"),
            description=f"{props.name}: what the app's code may call",
        )
        for secret in props.secrets:
            secret.grant_read(role)
        # App Runner's tracing collector sends the app's spans with the instance role's
        # credentials; without this the observability configuration records nothing.
        role.add_to_policy(iam.PolicyStatement(actions=list(XRAY_WRITE_ACTIONS), resources=["*"]))
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "X-Ray's trace and sampling write actions support no resource-level permissions (the "
            "statement is AWSXRayDaemonWriteAccess minus its summaries).",
            applies_to="Resource::*",
        )
        return role

    def _access_role(self, service_name: str, repository: ecr.IRepository) -> iam.Role:
        """Lets App Runner pull from ``repository`` and nowhere else."""
        role = iam.Role(
            self,
            "AccessRole",
            assumed_by=iam.ServicePrincipal("build.apprunner.amazonaws.com"),
            description=f"{service_name}: lets App Runner pull the service image",
        )
        repository.grant(role, *ECR_PULL_ACTIONS)
        ecr.AuthorizationToken.grant_read(role)
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken supports no resource-level permissions; every pull action "
            "is limited to the one repository of the image.",
            applies_to="Resource::*",
        )
        return role


def _secret_reference(secret: ContainerSecret) -> str:
    """The secret's full ARN; ``<arn>:<field>::`` for one JSON field (current version)."""
    arn = _full_arn(secret.secret)
    return f"{arn}:{secret.field}::" if secret.field else arn


def _full_arn(secret: secretsmanager.ISecret) -> str:
    """App Runner resolves secrets by full ARN only (with the random suffix)."""
    arn = secret.secret_full_arn
    if arn is None:
        raise ValueError(
            f"App Runner needs the full ARN of secret {secret.node.path}: import it with "
            "from_secret_complete_arn, not by name or partial ARN"
        )
    return arn


def _validate(props: WebRuntimeProps) -> None:
    """Fail the synth on what App Runner would only reject at deploy time."""
    refuse_strategy(WebRuntime.APP_RUNNER, AppRunnerService.release_strategies, props.release)
    if not Token.is_unresolved(props.name) and not SERVICE_NAME.fullmatch(props.name):
        raise ValueError(
            f"service name {props.name!r}: 4-40 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    offered = APP_RUNNER_CPU_MEMORY.get(props.cpu, ())
    if props.memory_mib not in offered:
        raise ValueError(
            f"App Runner does not offer cpu {props.cpu} with memory {props.memory_mib} MiB "
            f"(offered: {APP_RUNNER_CPU_MEMORY})"
        )
    if not 1 <= props.min_instances <= min(props.max_instances, MAX_MIN_SIZE):
        raise ValueError(
            f"instances: need 1 <= min ({props.min_instances}) <= max ({props.max_instances}) "
            f"and min <= {MAX_MIN_SIZE}"
        )
    image = props.image
    if (
        isinstance(image, PublicImage)
        and not Token.is_unresolved(image.name)
        and not image.name.startswith(PUBLIC_REGISTRY)
    ):
        raise ValueError(f"{image.name!r} is not an ECR Public image: pass a RepositoryImage")
    for secret in props.secrets:
        _full_arn(secret.secret)
    names = [*props.environment, *(secret.name for secret in props.secrets)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"variables defined twice (plain and/or secret): {duplicates}")
    reserved = [name for name in names if name.startswith(RESERVED_VARIABLE_PREFIX)]
    if reserved:
        raise ValueError(f"variables with App Runner's reserved prefix: {reserved}")
    port = props.environment.get(PORT_VARIABLE)
    if port is not None and port != str(props.port):
        raise ValueError(
            f"{PORT_VARIABLE} is reserved by App Runner; the service port is {props.port}"
        )
    if any(secret.name == PORT_VARIABLE for secret in props.secrets):
        raise ValueError(f"{PORT_VARIABLE} is reserved by App Runner")

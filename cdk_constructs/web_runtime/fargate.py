"""The public web service on ECS Fargate behind an internet-facing Application Load Balancer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import retained_log_group
from cdk_constructs.options import CpuArchitecture, WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.alb import PublicDomain as PublicDomain
from cdk_constructs.web_runtime.alb import (
    access_log_bucket,
    alb_security_group,
    internet_facing_alb,
    listener_ports,
    production_listener,
    protected_balancer,
    public_domain,
    web_5xx,
)
from cdk_constructs.web_runtime.fargate_release import (
    DEREGISTRATION_DELAY,
    FargateRelease,
    health_check,
    release_test_port,
)
from cdk_constructs.web_runtime.fargate_task import CONTAINER_INSIGHTS as CONTAINER_INSIGHTS
from cdk_constructs.web_runtime.fargate_task import CONTAINER_NAME as CONTAINER_NAME
from cdk_constructs.web_runtime.fargate_task import CPU_TARGET_PERCENT as CPU_TARGET_PERCENT
from cdk_constructs.web_runtime.fargate_task import tasks_missing, web_task
from cdk_constructs.web_runtime.interface import (
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    https_out_security_group,
    refuse_strategy,
)
from cdk_constructs.web_runtime.rollout import Rollout
from release.contract import WebRelease


@dataclass(frozen=True, kw_only=True)
class FargateOptions:
    """What only the Fargate runtime takes (besides ``WebRuntimeProps``)."""

    spot: bool
    cpu_architecture: CpuArchitecture
    """The tasks' CPU; X86_64 with ``spot`` (Fargate Spot runs no ARM64 task)."""
    allowed_ingress_cidrs: Sequence[str]
    domain: PublicDomain | None = None


class FargateWebService(Construct):
    """Tasks (ARM64, or X86_64 on Fargate Spot) in the app subnets, reachable only from the ALB,
    which is reachable only from the allowed CIDRs; circuit breaker with rollback; CPU target
    tracking; Spot on demand.

    With a domain the ALB serves HTTPS (TLS 1.2+) and redirects HTTP; without, plain HTTP.
    A new image is rolled out by the stack update itself (a new task definition revision), with
    ECS's deployment strategy from config, rolled back by the release alarms (fargate_release).
    """

    rollout: ClassVar[Rollout] = Rollout.CLOUDFORMATION
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]] = frozenset(WebReleaseStrategy)

    def __init__(
        self, scope: Construct, id_: str, *, props: WebRuntimeProps, options: FargateOptions
    ) -> None:
        super().__init__(scope, id_)
        if options.spot and options.cpu_architecture is not CpuArchitecture.X86_64:
            # https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
            # "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity
            # provider. Fargate Spot only supports Linux tasks with the X86_64 architecture."
            raise ValueError(
                f"Fargate Spot runs only X86_64 Linux tasks, not {options.cpu_architecture}"
            )
        refuse_strategy(WebRuntime.FARGATE, self.release_strategies, props.release)
        self.access_logs = access_log_bucket(self, props)
        self._security_groups(props, options)
        self.load_balancer = internet_facing_alb(
            self, props, security_group=self.alb_security_group, access_logs=self.access_logs
        )
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            # The port is fixed at creation: another port is another target group, and its new
            # id changes every template that refers to it (README: cross-stack references).
            f"Targets{props.port}",
            vpc=props.vpc,
            port=props.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            health_check=health_check(props),
            deregistration_delay=DEREGISTRATION_DELAY,
        )
        """The primary (blue) group: the service registers with it; ECS swaps the roles."""
        production = production_listener(
            self, self.load_balancer, self.target_group, options.domain
        )
        self.certificate, self.alias = production.certificate, production.alias
        self.url: str = production.url
        """The public URL (https with a domain, else http on the ALB's DNS name)."""
        self.release_resources = FargateRelease(
            self,
            "Release",
            props=props,
            load_balancer=self.load_balancer,
            primary=self.target_group,
            production_listener=production.listener,
            certificate=production.certificate,
        )
        self.service = self._service(props, options)
        self.release_resources.attach(self.service, container_name=CONTAINER_NAME, port=props.port)
        self.service_id: str = self.service.service_arn
        """The ECS service's ARN."""
        scaling = self.service.auto_scale_task_count(
            min_capacity=props.min_instances, max_capacity=props.max_instances
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        self.deletion_protected: Sequence[ProtectedResource] = protected_balancer(
            self.load_balancer, props
        )
        """The ALB, where it is deletion-protected."""

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> FargateWebService:
        """The service from config: Spot, architecture, ingress CIDRs and the domain."""
        options = FargateOptions(
            spot=settings.spot,
            cpu_architecture=settings.cpu_architecture,
            allowed_ingress_cidrs=settings.allowed_ingress_cidrs,
            domain=public_domain(scope, settings),
        )
        return cls(scope, id_, props=props, options=options)

    @classmethod
    def deploy_permissions(
        cls, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """None: CloudFormation (through the CDK bootstrap roles) rolls the image out."""
        return ()

    @property
    def release(self) -> WebRelease:
        """The strategy and times from config, and the alarms that roll a release back."""
        return self.release_resources.release(WebRuntime.FARGATE)

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """The web ACL filters what reaches the ALB."""
        web_acl.associate("Association", self.load_balancer.load_balancer_arn)

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """ALB and target 5XX, unhealthy targets, and running tasks below desired."""
        all_5xx = web_5xx(self.load_balancer, period)
        unhealthy = self.release_resources.unhealthy_targets(period)
        missing = tasks_missing(self.cluster.cluster_name, self.service.service_name, period)
        return (
            WebAlarm("Web5xx", all_5xx, thresholds.web_5xx, "ALB 5XX", "ALB 5XX"),
            WebAlarm(
                "UnhealthyTargets",
                unhealthy,
                thresholds.unhealthy_targets,
                "unhealthy targets",
                "Unhealthy targets",
            ),
            WebAlarm("TasksBelowDesired", missing, 1, "running tasks < desired", "Tasks missing"),
        )

    def _security_groups(self, props: WebRuntimeProps, options: FargateOptions) -> None:
        """The ALB admits the listener ports from the allowed CIDRs; the tasks admit the
        container port from the ALB and send HTTPS only."""
        https = options.domain is not None
        self.alb_security_group = alb_security_group(
            self,
            vpc=props.vpc,
            cidrs=options.allowed_ingress_cidrs,
            ports=(*listener_ports(options.domain), release_test_port(https=https)),
        )
        self.service_security_group = https_out_security_group(
            self,
            "ServiceSecurityGroup",
            vpc=props.vpc,
            description="Web tasks: the container port from the ALB; HTTPS out",
        )
        self.alb_security_group.connections.allow_to(
            self.service_security_group, ec2.Port.tcp(props.port), "ALB to the web tasks"
        )

    def _service(self, props: WebRuntimeProps, options: FargateOptions) -> ecs.FargateService:
        """The cluster (Container Insights on), the task definition and the service."""
        # Container Insights writes to /aws/ecs/containerinsights/<cluster>/performance,
        # created on first use: create it first, with retention (hence the fixed name).
        self.insights_log_group = retained_log_group(
            self,
            "InsightsLogGroup",
            settings=props,
            log_group_name=f"/aws/ecs/containerinsights/{props.name}/performance",
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=props.name,
            vpc=props.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            enable_fargate_capacity_providers=True,
        )
        self.cluster.node.add_dependency(self.insights_log_group)
        task = web_task(self, props, options.cpu_architecture)
        self.task_definition, self.container, self.log_group = task
        self.runtime_role: iam.IRole = self.task_definition.task_role
        """The task role: what the app's code may call."""
        capacity = "FARGATE_SPOT" if options.spot else "FARGATE"
        return ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=props.min_instances,
            vpc_subnets=props.app_subnets,
            security_groups=[self.service_security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            **self.release_resources.service_options(),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=capacity, weight=1)
            ],
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
        )

"""The microservices of the public services API: Fargate services in the app subnets behind ONE
internal Network Load Balancer (a TCP listener per service port), which API Gateway reaches
through a VPC link (v1).

Security groups (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html):
a VPC link v1 reaches the NLB through PrivateLink. With "Enforce inbound rules on PrivateLink
traffic" off (``EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: off``; the API's default
is on, SetSecurityGroups in the ELBv2 API reference), PrivateLink traffic is not checked
against the NLB's inbound rules, so its group admits nothing at all: nothing else in the VPC can
reach the listeners. "Health checks are subject to outbound rules, but not inbound rules": the
NLB's group sends each service's port to that service's group only, and each service's group
admits its port from the NLB's group only (the page's "accept traffic only from the load
balancer" example).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import CpuArchitecture, ProtectedKind
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_runtime.fargate_release import (
    DEREGISTRATION_DELAY,
    HEALTH_CHECK_INTERVAL,
)
from cdk_constructs.web_runtime.fargate_task import (
    CONTAINER_INSIGHTS,
    CONTAINER_NAME,
    CPU_TARGET_PERCENT,
    web_task,
)
from cdk_constructs.web_runtime.image import WebImage
from cdk_constructs.web_runtime.interface import (
    WebAlarm,
    WebRuntimeProps,
    closed_security_group,
    https_out_security_group,
)

ARCHITECTURE = CpuArchitecture.ARM64
"""Graviton: the services' images are built for linux/arm64."""
CPU_ALARM_PERCENT = 90
"""Average CPU of a service's tasks at which it alarms (scaling targets 60%)."""
NLB_NAMESPACE = "AWS/NetworkELB"


class ServiceThresholds(Protocol):
    """What the services' alarms read of config's ``AlarmThresholds``."""

    @property
    def unhealthy_targets(self) -> float: ...


@dataclass(frozen=True, kw_only=True)
class Microservice:
    """One service as this construct runs it (from config's ``ServiceConfig``)."""

    name: str
    """Short name; the ECS service is ``<cluster prefix>-<name>``."""
    port: int
    health_path: str
    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    image: WebImage
    environment: Mapping[str, str] = field(default_factory=dict)
    """Plain settings only, never a secret."""


@dataclass(frozen=True, kw_only=True)
class MicroservicesProps:
    name: str
    """``<app>-<env>``: the cluster is ``<name>-services``, each service ``<name>-<service>``."""
    vpc: ec2.IVpc
    app_subnets: ec2.SubnetSelection
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    deletion_protection: bool = False
    """Of the NLB (``retain_data`` environments)."""


@dataclass(frozen=True)
class RunningService:
    """A built service: what the stack grants and the monitoring watches."""

    config: Microservice
    service: ecs.FargateService
    security_group: ec2.SecurityGroup
    task_role: iam.IRole
    target_group: elbv2.NetworkTargetGroup


class Microservices(Construct):
    """The cluster (Container Insights on), the NLB and its VPC link, and one Fargate service
    per ``Microservice``: ARM64 tasks without public IPs, rolling deploys with the circuit
    breaker rolling back, CPU target tracking between ``min_tasks`` and ``max_tasks``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: MicroservicesProps,
        services: Sequence[Microservice],
    ) -> None:
        super().__init__(scope, id_)
        self.props = props
        self.cluster_name = f"{props.name}-services"
        # Container Insights writes to /aws/ecs/containerinsights/<cluster>/performance, created
        # on first use: created first here, with retention (as the web tier's).
        insights_log_group = retained_log_group(
            self,
            "InsightsLogGroup",
            settings=props,
            log_group_name=f"/aws/ecs/containerinsights/{self.cluster_name}/performance",
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=self.cluster_name,
            vpc=props.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.cluster.node.add_dependency(insights_log_group)
        self.nlb_security_group = closed_security_group(
            self,
            "NlbSecurityGroup",
            vpc=props.vpc,
            description="Services NLB: no inbound rule (the VPC link comes through PrivateLink); "
            "each service port out to that service only",
        )
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self,
            "LoadBalancer",
            vpc=props.vpc,
            vpc_subnets=props.app_subnets,
            internet_facing=False,
            security_groups=[self.nlb_security_group],
            enforce_security_group_inbound_rules_on_private_link_traffic=False,
            # The VPC link's traffic lands on any NLB node; with one task a node in the other AZ
            # would have no target.
            cross_zone_enabled=True,
            deletion_protection=props.deletion_protection,
        )
        self.vpc_link = apigw.VpcLink(
            self,
            "VpcLink",
            vpc_link_name=f"{props.name}-services",
            description="API Gateway to the services' internal NLB",
            targets=[self.load_balancer],
        )
        self.services = {service.name: self._service(service) for service in services}
        arn = self.load_balancer.load_balancer_arn
        nlb = cast(CfnResource, self.load_balancer.node.default_child)
        guarded = ProtectedResource("ServicesNlb", nlb, ProtectedKind.LOAD_BALANCER, arn, arn)
        self.deletion_protected: Sequence[ProtectedResource] = (
            (guarded,) if props.deletion_protection else ()
        )
        self._acknowledge_findings()

    def base_url(self, service: str) -> str:
        """``http://<nlb dns>:<port>``: where the VPC link integration sends a service's routes."""
        port = self.services[service].config.port
        return f"http://{self.load_balancer.load_balancer_dns_name}:{port}"

    def _service(self, config: Microservice) -> RunningService:
        scope = Construct(self, f"Service{config.name.capitalize()}")
        props = self.props
        runtime_props = WebRuntimeProps(
            name=f"{props.name}-{config.name}",
            vpc=props.vpc,
            public_subnets=props.app_subnets,  # no public entry point: the NLB is internal
            app_subnets=props.app_subnets,
            image=config.image,
            port=config.port,
            health_path=config.health_path,
            cpu=config.cpu,
            memory_mib=config.memory_mib,
            min_instances=config.min_tasks,
            max_instances=config.max_tasks,
            environment={"PORT": str(config.port), **config.environment},
            log_retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        task = web_task(scope, runtime_props, ARCHITECTURE)
        security_group = https_out_security_group(
            scope,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{config.name} tasks: port {config.port} from the NLB; HTTPS out",
        )
        self.nlb_security_group.connections.allow_to(
            security_group, ec2.Port.tcp(config.port), f"NLB to the {config.name} tasks"
        )
        service = ecs.FargateService(
            scope,
            "Service",
            service_name=runtime_props.name,
            cluster=self.cluster,
            task_definition=task.definition,
            desired_count=config.min_tasks,
            vpc_subnets=props.app_subnets,
            security_groups=[security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
        )
        target_group = elbv2.NetworkTargetGroup(
            scope,
            # The port is fixed at creation: another port is another target group.
            f"Targets{config.port}",
            vpc=props.vpc,
            port=config.port,
            protocol=elbv2.Protocol.TCP,
            target_type=elbv2.TargetType.IP,
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.HTTP,
                path=config.health_path,
                healthy_http_codes="200",
                interval=HEALTH_CHECK_INTERVAL,
            ),
            deregistration_delay=DEREGISTRATION_DELAY,
            targets=[
                service.load_balancer_target(
                    container_name=CONTAINER_NAME, container_port=config.port
                )
            ],
        )
        listener = self.load_balancer.add_listener(
            f"Listener{config.port}",
            port=config.port,
            protocol=elbv2.Protocol.TCP,
            default_target_groups=[target_group],
        )
        acknowledge(
            listener,
            f"{NIST}ELBv2ACMCertificateRequired",
            "An internal TCP listener only API Gateway's VPC link reaches (PrivateLink, no "
            "inbound rule otherwise): TLS ends at API Gateway; the hop to the tasks stays in "
            "the VPC (EXCEPTIONS.md).",
        )
        scaling = service.auto_scale_task_count(
            min_capacity=config.min_tasks, max_capacity=config.max_tasks
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        return RunningService(
            config, service, security_group, task.definition.task_role, target_group
        )

    def alarm_sources(
        self, thresholds: ServiceThresholds, *, period: Duration
    ) -> tuple[WebAlarm, ...]:
        """Per service: unhealthy NLB targets, running tasks below ``min_tasks``, CPU high."""
        alarms: list[WebAlarm] = []
        for name, running in self.services.items():
            label = name.capitalize()
            dimensions = {
                "ClusterName": self.cluster_name,
                "ServiceName": running.service.service_name,
            }
            # Built by hand, as the web tier's (fargate_release._elb): CDK's target group metrics
            # parse the balancer's name out of a listener ARN (Fn::Split), which a cross-stack
            # reference (the ops stack's alarms) cannot feed.
            unhealthy = cloudwatch.Metric(
                namespace=NLB_NAMESPACE,
                metric_name="UnHealthyHostCount",
                dimensions_map={
                    "LoadBalancer": self.load_balancer.load_balancer_full_name,
                    "TargetGroup": running.target_group.target_group_full_name,
                },
                statistic="Maximum",
                period=period,
            )
            missing = cloudwatch.MathExpression(
                expression=f"{running.config.min_tasks} - running",
                using_metrics={
                    "running": cloudwatch.Metric(
                        namespace=CONTAINER_INSIGHTS,
                        metric_name="RunningTaskCount",
                        dimensions_map=dimensions,
                        statistic="Minimum",
                        period=period,
                    )
                },
                label=f"{name}: tasks below minimum",
                period=period,
            )
            cpu = running.service.metric_cpu_utilization(period=period, statistic="Average")
            alarms += [
                WebAlarm(
                    f"Service{label}UnhealthyTargets",
                    unhealthy,
                    thresholds.unhealthy_targets,
                    f"{name}: unhealthy NLB targets",
                    f"{name}: unhealthy targets",
                ),
                WebAlarm(
                    f"Service{label}TasksBelowMinimum",
                    missing,
                    1,
                    f"{name}: tasks short of min_tasks",
                    f"{name}: tasks missing",
                ),
                WebAlarm(
                    f"Service{label}CpuHigh",
                    cpu,
                    CPU_ALARM_PERCENT,
                    f"{name}: average CPU (%)",
                    f"{name}: CPU %",
                ),
            ]
        return tuple(alarms)

    def _acknowledge_findings(self) -> None:
        tcp = (
            "Plain TCP listeners inside the VPC, reached only through the VPC link: NLB access "
            "logs are written for TLS listeners only, and API Gateway's access logs record "
            "every request."
        )
        acknowledge_all(
            self.load_balancer,
            [
                ("AwsSolutions-ELB2", tcp),
                (f"{NIST}ELBLoggingEnabled", tcp),
            ],
        )

"""The public web service on ECS Fargate behind an internet-facing Application Load Balancer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import CpuArchitecture, ProtectedKind, WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.fargate_release import (
    DEREGISTRATION_DELAY,
    FargateRelease,
    health_check,
    release_test_port,
)
from cdk_constructs.web_runtime.fargate_task import CONTAINER_INSIGHTS as CONTAINER_INSIGHTS
from cdk_constructs.web_runtime.fargate_task import CONTAINER_NAME as CONTAINER_NAME
from cdk_constructs.web_runtime.fargate_task import CPU_TARGET_PERCENT as CPU_TARGET_PERCENT
from cdk_constructs.web_runtime.fargate_task import web_task
from cdk_constructs.web_runtime.interface import (
    HTTPS_PORT,
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    closed_security_group,
    https_out_security_group,
    refuse_strategy,
)
from cdk_constructs.web_runtime.rollout import Rollout
from release.contract import WebRelease

HTTP_PORT = 80
ACCESS_LOG_EXPIRY = Duration.days(90)


@dataclass(frozen=True)
class PublicDomain:
    """A name in a Route 53 zone: the ALB gets a DNS-validated certificate and an alias."""

    domain_name: str
    hosted_zone: route53.IHostedZone


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
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # what ALB log delivery supports
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioned: a deleted or overwritten log stays recoverable for as long again (an
            # audit trail); the expiration of a current version also clears its delete marker.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=ACCESS_LOG_EXPIRY,
                    noncurrent_version_expiration=ACCESS_LOG_EXPIRY,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=props.removal_policy,
            auto_delete_objects=props.removal_policy == RemovalPolicy.DESTROY,
        )
        self_logging = (
            "This bucket holds the ALB's access logs; logging access to the log bucket itself "
            "would need yet another bucket."
        )
        acknowledge_all(
            self.access_logs,
            [
                ("AwsSolutions-S1", self_logging),
                (f"{NIST}S3BucketLoggingEnabled", self_logging),
                (
                    f"{NIST}S3BucketReplicationEnabled",
                    "Access logs that expire in 90 days and restore nothing: a copy in another "
                    "region would double their storage for no recovery objective.",
                ),
                (
                    f"{NIST}S3DefaultEncryptionKMS",
                    "ALB access-log delivery writes to SSE-S3 buckets only (EXCEPTIONS.md).",
                ),
            ],
        )
        self._security_groups(props, options)
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=props.vpc,
            vpc_subnets=props.public_subnets,
            internet_facing=True,
            security_group=self.alb_security_group,
            drop_invalid_header_fields=True,
            deletion_protection=props.deletion_protection,
        )
        self.load_balancer.log_access_logs(self.access_logs, prefix="alb")
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
        self.url, listener = self._listeners(options.domain)
        """The public URL (https with a domain, else http on the ALB's DNS name)."""
        self.release_resources = FargateRelease(
            self,
            "Release",
            props=props,
            load_balancer=self.load_balancer,
            primary=self.target_group,
            production_listener=listener,
            certificate=self.certificate if options.domain else None,
        )
        self.service = self._service(props, options)
        self.release_resources.attach(self.service, container_name=CONTAINER_NAME, port=props.port)
        self.service_id: str = self.service.service_arn
        """The ECS service's ARN."""
        scaling = self.service.auto_scale_task_count(
            min_capacity=props.min_instances, max_capacity=props.max_instances
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        arn = self.load_balancer.load_balancer_arn
        alb = cast(CfnResource, self.load_balancer.node.default_child)
        guarded = ProtectedResource("LoadBalancer", alb, ProtectedKind.LOAD_BALANCER, arn, arn)
        self.deletion_protected: Sequence[ProtectedResource] = (
            (guarded,) if props.deletion_protection else ()
        )
        """The ALB, where it is deletion-protected."""

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> FargateWebService:
        """The service from config: Spot, architecture, ingress CIDRs and the domain."""
        domain = None
        if settings.domain_name and settings.hosted_zone_id and settings.hosted_zone_name:
            domain = PublicDomain(
                domain_name=settings.domain_name,
                hosted_zone=route53.HostedZone.from_hosted_zone_attributes(
                    scope,
                    "Zone",
                    hosted_zone_id=settings.hosted_zone_id,
                    zone_name=settings.hosted_zone_name,
                ),
            )
        options = FargateOptions(
            spot=settings.spot,
            cpu_architecture=settings.cpu_architecture,
            allowed_ingress_cidrs=settings.allowed_ingress_cidrs,
            domain=domain,
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
        elb_5xx = self.load_balancer.metrics.http_code_elb(
            elbv2.HttpCodeElb.ELB_5XX_COUNT, period=period, statistic="Sum"
        )
        target_5xx = self.load_balancer.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
        )
        web_5xx = cloudwatch.MathExpression(
            expression="FILL(elb, 0) + FILL(target, 0)",
            using_metrics={"elb": elb_5xx, "target": target_5xx},
            label="ALB + target 5XX",
            period=period,
        )
        unhealthy = self.release_resources.unhealthy_targets(period)
        service_dimensions = {
            "ClusterName": self.cluster.cluster_name,
            "ServiceName": self.service.service_name,
        }
        tasks_missing = cloudwatch.MathExpression(
            expression="desired - running",
            using_metrics={
                name: cloudwatch.Metric(
                    namespace=CONTAINER_INSIGHTS,
                    metric_name=metric,
                    dimensions_map=service_dimensions,
                    statistic="Minimum" if name == "running" else "Maximum",
                    period=period,
                )
                for name, metric in (
                    ("desired", "DesiredTaskCount"),
                    ("running", "RunningTaskCount"),
                )
            },
            label="Tasks missing",
            period=period,
        )
        return (
            WebAlarm("Web5xx", web_5xx, thresholds.web_5xx, "ALB 5XX", "ALB 5XX"),
            WebAlarm(
                "UnhealthyTargets",
                unhealthy,
                thresholds.unhealthy_targets,
                "unhealthy targets",
                "Unhealthy targets",
            ),
            WebAlarm(
                "TasksBelowDesired", tasks_missing, 1, "running tasks < desired", "Tasks missing"
            ),
        )

    def _security_groups(self, props: WebRuntimeProps, options: FargateOptions) -> None:
        """The ALB admits the listener ports from the allowed CIDRs; the tasks admit the
        container port from the ALB and send HTTPS only."""
        self.alb_security_group = closed_security_group(
            self,
            "AlbSecurityGroup",
            vpc=props.vpc,
            description="Public ALB: HTTP(S) from the allowed CIDRs only",
        )
        https = options.domain is not None
        production_ports = (HTTP_PORT, HTTPS_PORT) if https else (HTTP_PORT,)
        listener_ports = (*production_ports, release_test_port(https=https))
        for cidr in options.allowed_ingress_cidrs:
            for port in listener_ports:
                self.alb_security_group.add_ingress_rule(
                    ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"Port {port} from {cidr}"
                )
        acknowledge(
            self.alb_security_group,
            "AwsSolutions-EC23",
            "The public entry point of the web tier: it admits the configured CIDRs (the whole "
            "internet by default) on 80/443 and the release test port only.",
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

    def _listeners(self, domain: PublicDomain | None) -> tuple[str, elbv2.ApplicationListener]:
        """The production listener (forwarding only) and the URL it serves."""
        if domain is None:
            listener = self.load_balancer.add_listener(
                "Http",
                port=HTTP_PORT,
                open=False,
                default_target_groups=[self.target_group],
            )
            return f"http://{self.load_balancer.load_balancer_dns_name}", listener
        self.certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=domain.domain_name,
            validation=acm.CertificateValidation.from_dns(domain.hosted_zone),
        )
        listener = self.load_balancer.add_listener(
            "Https",
            port=HTTPS_PORT,
            open=False,
            certificates=[self.certificate],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[self.target_group],
        )
        redirect = self.load_balancer.add_redirect(
            source_port=HTTP_PORT, target_port=HTTPS_PORT, open=False
        )
        acknowledge(
            redirect,
            f"{NIST}ELBv2ACMCertificateRequired",
            "This port-80 listener only redirects to the HTTPS listener, which serves the ACM "
            "certificate; nothing is served over HTTP (EXCEPTIONS.md).",
        )
        self.alias = route53.ARecord(
            self,
            "Alias",
            zone=domain.hosted_zone,
            record_name=domain.domain_name,
            target=route53.RecordTarget.from_alias(
                route53_targets.LoadBalancerTarget(self.load_balancer)
            ),
        )
        return f"https://{domain.domain_name}", listener

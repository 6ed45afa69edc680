"""The public web service on ECS Fargate behind an internet-facing Application Load Balancer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.options import CpuArchitecture

HTTP_PORT = 80
HTTPS_PORT = 443
ACCESS_LOG_EXPIRY = Duration.days(90)
CPU_TARGET_PERCENT = 60
CONTAINER_NAME = "web"
_ECS_ARCHITECTURE = {
    CpuArchitecture.ARM64: ecs.CpuArchitecture.ARM64,
    CpuArchitecture.X86_64: ecs.CpuArchitecture.X86_64,
}


@dataclass(frozen=True)
class PublicDomain:
    """A name in a Route 53 zone: the ALB gets a DNS-validated certificate and an alias."""

    domain_name: str
    hosted_zone: route53.IHostedZone


@dataclass(frozen=True)
class FargateWebServiceProps:
    cluster_name: str
    vpc: ec2.IVpc
    public_subnets: ec2.SubnetSelection
    """The ALB's subnets."""
    app_subnets: ec2.SubnetSelection
    """The tasks' subnets: private, egress through NAT."""
    image: ecs.ContainerImage
    command: Sequence[str] | None
    port: int
    health_path: str
    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    spot: bool
    cpu_architecture: CpuArchitecture
    """The tasks' CPU; X86_64 with ``spot`` (Fargate Spot runs no ARM64 task)."""
    allowed_ingress_cidrs: Sequence[str]
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    deletion_protection: bool
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[ContainerSecret] = ()
    domain: PublicDomain | None = None


class FargateWebService(Construct):
    """Tasks (ARM64, or X86_64 on Fargate Spot) in the app subnets, reachable only from the ALB,
    which is reachable only from the allowed CIDRs; circuit breaker with rollback; CPU target
    tracking; Spot on demand.

    With a domain the ALB serves HTTPS (TLS 1.2+) and redirects HTTP; without, plain HTTP.
    """

    def __init__(self, scope: Construct, id_: str, *, props: FargateWebServiceProps) -> None:
        super().__init__(scope, id_)
        if props.spot and props.cpu_architecture is not CpuArchitecture.X86_64:
            # https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
            # "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity
            # provider. Fargate Spot only supports Linux tasks with the X86_64 architecture."
            raise ValueError(
                f"Fargate Spot runs only X86_64 Linux tasks, not {props.cpu_architecture}"
            )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # what ALB log delivery supports
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRY)],
            removal_policy=props.removal_policy,
            auto_delete_objects=props.removal_policy == RemovalPolicy.DESTROY,
        )
        Validations.of(self.access_logs).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This bucket holds the ALB's access logs; logging access to the log "
                "bucket itself would need yet another bucket.",
            )
        )

        self.alb_security_group = ec2.SecurityGroup(
            self,
            "AlbSecurityGroup",
            vpc=props.vpc,
            description="Public ALB: HTTP(S) from the allowed CIDRs only",
            allow_all_outbound=False,
        )
        listener_ports = (HTTP_PORT, HTTPS_PORT) if props.domain else (HTTP_PORT,)
        for cidr in props.allowed_ingress_cidrs:
            for port in listener_ports:
                self.alb_security_group.add_ingress_rule(
                    ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"Port {port} from {cidr}"
                )
        Validations.of(self.alb_security_group).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-EC23",
                reason="The public entry point of the web tier: it admits the configured CIDRs "
                "(the whole internet by default) on 80/443 only.",
            )
        )
        self.service_security_group = ec2.SecurityGroup(
            self,
            "ServiceSecurityGroup",
            vpc=props.vpc,
            description="Web tasks: the container port from the ALB; HTTPS out",
            allow_all_outbound=False,
        )
        # The private API (execute-api endpoint), Cognito, ECR, Secrets Manager, DynamoDB.
        self.service_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "HTTPS to AWS APIs and the private API"
        )
        self.alb_security_group.connections.allow_to(
            self.service_security_group, ec2.Port.tcp(props.port), "ALB to the web tasks"
        )

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

        # Container Insights writes to /aws/ecs/containerinsights/<cluster>/performance,
        # created on first use: create it first, with retention (hence the fixed name).
        self.insights_log_group = logs.LogGroup(
            self,
            "InsightsLogGroup",
            log_group_name=f"/aws/ecs/containerinsights/{props.cluster_name}/performance",
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=props.cluster_name,
            vpc=props.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            enable_fargate_capacity_providers=True,
        )
        self.cluster.node.add_dependency(self.insights_log_group)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=props.cpu,
            memory_limit_mib=props.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=_ECS_ARCHITECTURE[props.cpu_architecture],
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.task_role: iam.IRole = self.task_definition.task_role
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=props.image,
            command=list(props.command) if props.command else None,
            port_mappings=[ecs.PortMapping(container_port=props.port)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=self.log_group),
            environment=dict(props.environment),
            secrets={
                secret.name: ecs.Secret.from_secrets_manager(secret.secret, secret.field)
                for secret in props.secrets
            },
        )
        execution_role = self.task_definition.execution_role
        if isinstance(props.image, ecs.EcrImage) and execution_role is not None:
            Validations.of(execution_role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    reason="ecr:GetAuthorizationToken has no resource-level permissions; the "
                    "image pull itself is scoped to the web repository.",
                )
            )
        if props.environment:
            Validations.of(self.task_definition).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-ECS2",
                    reason="Only plain settings from config; every secret is injected through "
                    "`secrets` from Secrets Manager.",
                )
            )

        capacity = "FARGATE_SPOT" if props.spot else "FARGATE"
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=props.min_tasks,
            vpc_subnets=props.app_subnets,
            security_groups=[self.service_security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=capacity, weight=1)
            ],
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
        )
        scaling = self.service.auto_scale_task_count(
            min_capacity=props.min_tasks, max_capacity=props.max_tasks
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            # The port is fixed at creation: another port is another target group, and its new
            # id changes every template that refers to it (README: cross-stack references).
            f"Targets{props.port}",
            vpc=props.vpc,
            port=props.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[self.service],
            health_check=elbv2.HealthCheck(
                path=props.health_path, healthy_http_codes="200", interval=Duration.seconds(15)
            ),
            deregistration_delay=Duration.seconds(30),
        )
        self.url = self._listeners(props)
        """The public URL (https with a domain, else http on the ALB's DNS name)."""

    def _listeners(self, props: FargateWebServiceProps) -> str:
        if props.domain is None:
            self.load_balancer.add_listener(
                "Http",
                port=HTTP_PORT,
                open=False,
                default_target_groups=[self.target_group],
            )
            return f"http://{self.load_balancer.load_balancer_dns_name}"
        self.certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=props.domain.domain_name,
            validation=acm.CertificateValidation.from_dns(props.domain.hosted_zone),
        )
        self.load_balancer.add_listener(
            "Https",
            port=HTTPS_PORT,
            open=False,
            certificates=[self.certificate],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[self.target_group],
        )
        self.load_balancer.add_redirect(source_port=HTTP_PORT, target_port=HTTPS_PORT, open=False)
        self.alias = route53.ARecord(
            self,
            "Alias",
            zone=props.domain.hosted_zone,
            record_name=props.domain.domain_name,
            target=route53.RecordTarget.from_alias(
                route53_targets.LoadBalancerTarget(self.load_balancer)
            ),
        )
        return f"https://{props.domain.domain_name}"

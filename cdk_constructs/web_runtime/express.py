"""The web service as an Amazon ECS Express Mode service (``AWS::ECS::ExpressGatewayService``),
App Runner's successor: ECS creates and manages the load balancer, its HTTPS listener and
certificate, target groups, security groups and auto scaling itself.

What this construct keeps in its own hands (README: web tier, Express):

- **The task definition**: Express takes one of ours (``TaskDefinitionArn``): "The task
  definition must have a container named Main with a single TCP port mapping that includes a
  container port and port name. The task definition must also have FARGATE compatibility"
  (ECS API, CreateExpressGatewayService). It is the Fargate runtime's locked-down task (numeric
  non-root user, read-only root filesystem, no capability, ``/tmp`` scratch volume) on ARM64:
  CloudFormation has no ``CpuArchitecture`` for Express, the task definition's runtime platform
  is the only way to Graviton. Its execution role pulls this one image and reads only the
  container's secrets; its log group is created here, first, with the environment's retention
  (a group Express makes itself would never expire: its infrastructure policy has no
  ``logs:PutRetentionPolicy``).
- **The tasks' network**: the app subnets and a group that admits the container port from those
  subnets only and sends HTTPS only (the private API through the execute-api endpoint, Cognito,
  ECR, Secrets Manager, DynamoDB), as the Fargate tasks'.
- **The cluster**: its own, named after the service, Container Insights on, with its performance
  log group created first with retention.

What Express decides and this construct cannot change:

- **The load balancer's scheme follows the subnets**: "If you provide private subnets (subnets
  without an internet gateway in their route table), Express Mode will provision an internal
  ALB" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/express-service-work.html).
  The tasks stay in the app subnets (they reach Cognito's token endpoint through the NAT, which
  PrivateLink does not serve for the client-credentials flow:
  https://docs.aws.amazon.com/cognito/latest/developerguide/vpc-interface-endpoints.html), so
  users reach the internal ALB through CloudFront and a VPC origin (``express_front.py``),
  where the domain and the web ACL live, as for the static site.
- Its listener, certificate (for ``<service>.ecs.<region>.on.aws``) and security groups: no
  ingress CIDRs (config refuses them; the web ACL filters), no deletion protection.
- Its deployments: a canary of 5% of the traffic, 3 minutes' bake, then all, rolled back by its
  own alarm on 4XX + 5XX above 1%
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/express-service-update-full.html).
  Config calls it ``rolling``: no platform alarm rolls it back and nothing of it is configurable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import ClassVar

from aws_cdk import Duration, Fn, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.edge import EDGE_REGION
from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import acknowledge
from cdk_constructs.network import selected_subnets, subnet_ids
from cdk_constructs.options import (
    EXPRESS_CPU_MEMORY,
    CpuArchitecture,
    WebReleaseStrategy,
    WebRuntime,
)
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.cdn import cloudfront_5xx_alarms, edge_domain
from cdk_constructs.web_runtime.express_front import FrontOptions, VpcOriginFront
from cdk_constructs.web_runtime.fargate_task import CPU_TARGET_PERCENT, tasks_missing, web_task
from cdk_constructs.web_runtime.interface import (
    ROLLING_ONLY,
    RuntimeTraits,
    WebAclPlacement,
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    https_out_security_group,
    refuse_strategy,
    rolling_release,
)
from cdk_constructs.web_runtime.rollout import Rollout

MAIN_CONTAINER = "Main"
"""The container name Express requires of a task definition of one's own."""
PORT_NAME = "web"
"""Express requires the main container's one port mapping to be named."""
INFRASTRUCTURE_POLICY = "service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"
"""AWS's managed policy for the infrastructure role
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/infrastructure_IAM_role.html)."""
INFRASTRUCTURE_PRINCIPAL = "ecs.amazonaws.com"
SCALING_METRIC = "AVERAGE_CPU"
"""Target tracking on the tasks' average CPU (Express's default), kept at ``CPU_TARGET_PERCENT``
like the Fargate service's."""
SERVICE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
"""Express service names: "up to 255 letters (uppercase and lowercase), numbers, underscores, and
hyphens" (CreateExpressGatewayService)."""
ALB_NAMESPACE = "AWS/ApplicationELB"
DEFAULT_INGRESS = ("0.0.0.0/0",)
SCHEME = "https://"
REVISION_DIGEST_CHARS = 16


class ExpressWebService(Construct):
    """An Express Mode service of the web image on ARM64 Fargate tasks in the app subnets, behind
    the load balancer Express creates (internal there) and CloudFront in front of that.

    A new image is a new task definition revision: the stack update rolls it out (Express's own
    canary deployment), like the Fargate runtime's.
    """

    rollout: ClassVar[Rollout] = Rollout.CLOUDFORMATION
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]] = ROLLING_ONLY
    release = rolling_release(WebRuntime.EXPRESS)
    traits: ClassVar[RuntimeTraits] = RuntimeTraits(
        web_acl=WebAclPlacement.RUNTIME, edge_region=EDGE_REGION
    )
    """The web ACL is CloudFront's (CLOUDFRONT scope, us-east-1), built with the front."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: WebRuntimeProps,
        cpu_architecture: CpuArchitecture = CpuArchitecture.ARM64,
        front: FrontOptions | None = None,
    ) -> None:
        """``front``: the domain and WAF of the CloudFront front (None: neither)."""
        super().__init__(scope, id_)
        _validate(props)
        self.service_name = props.name
        # Container Insights writes to /aws/ecs/containerinsights/<cluster>/performance, created
        # on first use: create it first, with retention (hence the fixed name), as Fargate does.
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
        # What Express's own default cluster has: "capacityProviders: ["FARGATE"]"
        # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/express-service-work.html).
        self.cluster.add_default_capacity_provider_strategy(
            [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
        )
        self.cluster.node.add_dependency(self.insights_log_group)

        self.task_definition, self.container, self.log_group = web_task(
            self, props, cpu_architecture, container_name=MAIN_CONTAINER, port_name=PORT_NAME
        )
        self.runtime_role: iam.IRole = self.task_definition.task_role
        """The task role: what the app's code may call (the stack grants it)."""
        self.security_group = self._security_group(props)
        self.infrastructure_role = self._infrastructure_role(props.name)

        self.service = ecs.CfnExpressGatewayService(
            self,
            "Service",
            service_name=props.name,
            cluster=self.cluster.cluster_name,
            infrastructure_role_arn=self.infrastructure_role.role_arn,
            task_definition_arn=self.task_definition.task_definition_arn,
            health_check_path=props.health_path,
            network_configuration=ecs.CfnExpressGatewayService.ExpressGatewayServiceNetworkConfigurationProperty(
                subnets=subnet_ids(props.vpc, props.app_subnets),
                security_groups=[self.security_group.security_group_id],
            ),
            scaling_target=ecs.CfnExpressGatewayService.ExpressGatewayScalingTargetProperty(
                min_task_count=props.min_instances,
                max_task_count=props.max_instances,
                auto_scaling_metric=SCALING_METRIC,
                auto_scaling_target_value=CPU_TARGET_PERCENT,
            ),
        )
        # The first tasks start while the service is created: the roles' policies (including the
        # grants the stack adds later: secrets, sessions) and the cluster's capacity providers
        # must exist first.
        for role in (self.task_definition.execution_role, self.runtime_role):
            if role is not None:
                self.service.node.add_dependency(role)
        self.service.node.add_dependency(self.cluster)

        self.load_balancer_arn: str = (
            self.service.attr_ecs_managed_resource_arns_ingress_path_load_balancer_arn
        )
        """The ALB Express created for the service (not in the template)."""
        self.express_host: str = _host(self.service.attr_endpoint)
        """Express's own name, ``<service>.ecs.<region>.on.aws``: inside the VPC only."""
        self.front = VpcOriginFront(
            self,
            "Front",
            props=props,
            load_balancer_arn=self.load_balancer_arn,
            origin_host=self.express_host,
            revision=self._revision(),
            options=front or FrontOptions(),
        )
        self.url: str = self.front.url
        """The public URL: CloudFront's (or the domain's)."""
        self._in_metrics_region = Stack.of(self).region == EDGE_REGION
        self.service_id: str = self.service.attr_service_arn
        """The Express service's ARN, an ECS service ARN (``service/<cluster>/<name>``): release
        verify watches its service deployments like Fargate's."""
        self.deletion_protected: Sequence[ProtectedResource] = ()
        """Express owns its load balancer: nothing here can be deletion-protected."""

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> ExpressWebService:
        """The service on the configured architecture, its front with the domain and WAF.
        Express has no setting for who may connect (its load balancer's security group is its
        own): config refuses ingress CIDRs first; this refuses direct use."""
        if tuple(settings.allowed_ingress_cidrs) != DEFAULT_INGRESS:
            raise ValueError(
                "ECS Express manages its load balancer's security group: no ingress CIDRs"
            )
        if settings.spot:
            raise ValueError("ECS Express runs on the FARGATE capacity provider only: no Spot")
        return cls(
            scope,
            id_,
            props=props,
            cpu_architecture=settings.cpu_architecture,
            front=FrontOptions(domain=edge_domain(settings), waf=settings.waf),
        )

    @classmethod
    def deploy_permissions(
        cls, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """None: CloudFormation (through the CDK bootstrap roles) rolls the image out."""
        return ()

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """Never called: the web ACL is CloudFront's, built with the front (``traits``)."""
        raise TypeError("ECS Express's web ACL is its CloudFront front's (web.waf)")

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """The load balancer's and its targets' 5XX, running tasks below desired (Container
        Insights, by the literal cluster and service names) and, in us-east-1, CloudFront's 5XX
        (its 502 and 504 when it cannot reach the load balancer, which the ALB never sees)."""
        dimension = self.front.load_balancer_dimension
        elb_5xx, target_5xx = (
            cloudwatch.Metric(
                namespace=ALB_NAMESPACE,
                metric_name=metric,
                dimensions_map={"LoadBalancer": dimension},
                statistic="Sum",
                period=period,
            )
            for metric in ("HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count")
        )
        web_5xx = cloudwatch.MathExpression(
            expression="FILL(elb, 0) + FILL(target, 0)",
            using_metrics={"elb": elb_5xx, "target": target_5xx},
            label="ALB + target 5XX",
            period=period,
        )
        missing = tasks_missing(self.service_name, self.service_name, period)
        return (
            WebAlarm("Web5xx", web_5xx, thresholds.web_5xx, "Express ALB 5XX", "Express ALB 5XX"),
            WebAlarm("TasksBelowDesired", missing, 1, "running tasks < desired", "Tasks missing"),
            *cloudfront_5xx_alarms(
                self.front.distribution,
                thresholds,
                period=period,
                in_metrics_region=self._in_metrics_region,
                id_="Edge5xx",
            ),
        )

    def _revision(self) -> str:
        """Changes whenever CloudFormation updates the Express service: its task definition's
        ARN (a new revision keeps the same ``Ref``) and a digest of its properties as written
        in the template (scaling, health path, network). Express rewrites its load balancer's
        group on its own updates (express-service-advanced-customization.html: the group "is
        automatically updated to match the container port provided in your Express Mode
        Create or Update calls"), so the front's ingress step then adds its rule again."""
        stack = Stack.of(self)
        written = json.dumps(stack.resolve(self.service._cfn_properties), sort_keys=True)
        digest = hashlib.sha256(written.encode()).hexdigest()[:REVISION_DIGEST_CHARS]
        return Fn.join(":", [self.task_definition.task_definition_arn, digest])

    def _security_group(self, props: WebRuntimeProps) -> ec2.SecurityGroup:
        """The tasks' group: the container port from the app subnets, where Express puts the
        load balancer with them; HTTPS out only. (Express may add groups of its own: whatever
        they allow is Express's.)"""
        group = https_out_security_group(
            self,
            "ServiceSecurityGroup",
            vpc=props.vpc,
            description="Web tasks: the container port from the ALB in the app subnets; HTTPS out",
        )
        for subnet in selected_subnets(props.vpc, props.app_subnets):
            group.add_ingress_rule(
                ec2.Peer.ipv4(subnet.ipv4_cidr_block),
                ec2.Port.tcp(props.port),
                "The Express ALB (in the app subnets) to the web tasks",
            )
        return group

    def _infrastructure_role(self, name: str) -> iam.Role:
        """What Express creates and changes the load balancer, groups, certificate and scaling
        with: AWS's managed policy, as AWS documents it."""
        role = iam.Role(
            self,
            "InfrastructureRole",
            assumed_by=iam.ServicePrincipal(INFRASTRUCTURE_PRINCIPAL),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(INFRASTRUCTURE_POLICY)
            ],
            description=f"{name}: lets ECS Express manage its load balancer and scaling",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4",
            "AWS's policy for ECS Express Mode's infrastructure role, which AWS revises as Express "
            "changes (v6, 2026-02-12); its writes are limited to resources tagged "
            "AmazonECSManaged=true and it reads no data.",
            applies_to=f"Policy::arn:<AWS::Partition>:iam::aws:policy/{INFRASTRUCTURE_POLICY}",
        )
        return role


def _host(endpoint: str) -> str:
    """The host name of Express's ``Endpoint`` attribute, whether CloudFormation returns it bare
    or as a URL (neither the API nor the CloudFormation reference says): any ``https://`` and
    ``/`` are removed, which a host name never contains."""
    without_scheme = Fn.join("", Fn.split(SCHEME, endpoint))
    return Fn.join("", Fn.split("/", without_scheme))


def _validate(props: WebRuntimeProps) -> None:
    """Fail the synth on what Express would only reject at deploy time."""
    refuse_strategy(WebRuntime.EXPRESS, ExpressWebService.release_strategies, props.release)
    if not Token.is_unresolved(props.name) and not SERVICE_NAME.fullmatch(props.name):
        raise ValueError(
            f"service name {props.name!r}: up to 255 letters, digits, '-' or '_' (ECS Express)"
        )
    if props.memory_mib not in EXPRESS_CPU_MEMORY.get(props.cpu, ()):
        raise ValueError(
            f"ECS Express is given cpu {props.cpu} with memory {props.memory_mib} MiB "
            f"here only among: {EXPRESS_CPU_MEMORY}"
        )
    if not 1 <= props.min_instances <= props.max_instances:
        raise ValueError(
            f"instances: need 1 <= min ({props.min_instances}) <= max ({props.max_instances})"
        )

"""The public front of the Express runtime: CloudFront, through a VPC origin, to the internal load
balancer ECS Express creates in the app subnets.

Why it takes this shape (AWS's rules, each cited where it is applied):

- Express's load balancer follows its tasks' subnets, so in the app subnets it is internal; a
  CloudFront VPC origin reaches an internal ALB in private subnets ("You can use internal
  Application Load Balancers inside private subnets with CloudFront by using VPC origins",
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/restrict-access-to-load-balancer.html).
- The ALB must be active before the VPC origin is made ("The resource you launch must be fully
  deployed and in Active status before you can use it for a VPC origin",
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html):
  a custom resource waits for it.
- Express's listener is HTTPS only, routes by Host header, and its certificate is for
  ``<service>.ecs.<region>.on.aws`` (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/express-service-work.html).
  So the origin's domain is that host and the viewer's Host is never forwarded
  (``AllViewerExceptHostHeader``): CloudFront then sends the origin's domain as Host and SNI
  ("CloudFront sets the value to the domain name of the origin",
  https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html).
- The ALB's security group must admit CloudFront's service-managed group
  ``CloudFront-VPCOrigins-Service-SG``, which exists only once the VPC origin does and which no
  CloudFormation attribute names ("This can be done only after the VPC origin is created",
  same page): the second step of the custom resource (``lambda_src/vpc_origin_ingress``) looks
  it up and adds the rule, again after every release, since Express rewrites that group's rules
  on its own updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_constructs.edge import EdgeDomain
from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import (
    DEPLOY_TIME_FUNCTION,
    LAMBDA_BASIC_EXECUTION,
    acknowledge_all,
    nag_text,
)
from cdk_constructs.web_runtime.cdn import (
    access_log_bucket,
    edge_resources,
    platform_distribution,
    security_headers_policy,
)
from cdk_constructs.web_runtime.interface import HTTPS_PORT, WebRuntimeProps

INGRESS_PACKAGE = Path(__file__).resolve().parents[2] / "lambda_src" / "vpc_origin_ingress"
"""The custom resource's function: boto3 only, which the Lambda runtime provides, so the asset
is the package's files as they are (no requirements to install)."""
READY_STEP = "load-balancer-ready"
ADMIT_STEP = "admit-vpc-origin"
"""The function's two steps (``vpc_origin_ingress.handler.Step``; a test keeps them equal)."""
FUNCTION_TIMEOUT = Duration.minutes(15)
"""Lambda's longest: the function waits up to 10 minutes for the ALB or CloudFront's group."""
ORIGIN_SSL_PROTOCOLS = ["TLSv1.2"]
HTTPS_ONLY = "https-only"


@dataclass(frozen=True, kw_only=True)
class FrontOptions:
    """The front's own settings (config's ``web.domain_name`` and ``web.waf``)."""

    domain: EdgeDomain | None = None
    waf: bool = False


class VpcOriginFront(Construct):
    """The distribution (TLS 1.2+, HTTP/2 and 3, security headers, no caching, access logs), its
    VPC origin on Express's ALB, the rule that admits CloudFront on that ALB's group, and the
    optional domain and CLOUDFRONT-scope web ACL (us-east-1: ``cdn.edge_resources``)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: WebRuntimeProps,
        load_balancer_arn: str,
        origin_host: str,
        revision: str,
        options: FrontOptions,
    ) -> None:
        """``load_balancer_arn``: Express's ALB; ``origin_host``: Express's endpoint host, which
        its listener rule and certificate name; ``revision``: changes with every release (the
        task definition's ARN), so the ingress step runs again after Express's update."""
        super().__init__(scope, id_)
        arn = load_balancer_arn
        self.edge = edge_resources(self, props, domain=options.domain, waf=options.waf)
        self.function = self._function(props)
        self.load_balancer_ready = CustomResource(
            self,
            "LoadBalancerReady",
            service_token=self.function.function_arn,
            resource_type="Custom::ExpressLoadBalancerReady",
            properties={"Step": READY_STEP, "LoadBalancerArn": arn},
        )
        self.load_balancer_dimension: str = self.load_balancer_ready.get_att_string(
            "MetricDimension"
        )
        """The ALB's ``LoadBalancer`` metric dimension (``app/<name>/<id>``), answered by the
        ready step: an attribute the ops stack's alarms import as it is (cfn-lint refuses
        ``Fn::Split`` over an imported output)."""
        self.vpc_origin = cloudfront.CfnVpcOrigin(
            self,
            "VpcOrigin",
            vpc_origin_endpoint_config=cloudfront.CfnVpcOrigin.VpcOriginEndpointConfigProperty(
                name=props.name,
                arn=arn,
                https_port=HTTPS_PORT,
                origin_protocol_policy=HTTPS_ONLY,
                origin_ssl_protocols=ORIGIN_SSL_PROTOCOLS,
            ),
        )
        self.vpc_origin.node.add_dependency(self.load_balancer_ready)
        imported = cloudfront.VpcOrigin.from_vpc_origin_attributes(
            self, "Origin", vpc_origin_id=self.vpc_origin.attr_id, domain_name=origin_host
        )
        self.access_logs = access_log_bucket(
            self, "AccessLogs", removal_policy=props.removal_policy
        )
        domain = options.domain
        self.distribution = platform_distribution(
            self,
            "Distribution",
            comment=props.name,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.VpcOrigin.with_vpc_origin(imported, domain_name=origin_host),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy=security_headers_policy(
                    self, "Headers", comment=f"{props.name}: security headers of the web app"
                ),
            ),
            edge=self.edge,
            domain=domain,
            access_logs=self.access_logs,
            origins_why="The one origin is Express's ALB over HTTPS with TLSv1.2 only.",
        )
        self.ingress = CustomResource(
            self,
            "VpcOriginIngress",
            service_token=self.function.function_arn,
            resource_type="Custom::ExpressVpcOriginIngress",
            properties={
                "Step": ADMIT_STEP,
                "LoadBalancerArn": arn,
                "VpcId": props.vpc.vpc_id,
                "Revision": revision,
            },
        )
        # CloudFront's group exists once the VPC origin does; the distribution is waited for
        # too (CDK's guide: "may be available after the distribution is deployed"). On delete
        # the rule goes first, so CloudFront can then delete its group.
        self.ingress.node.add_dependency(self.vpc_origin, self.distribution)
        self.url: str = (
            f"https://{domain.domain_name}"
            if domain
            else f"https://{self.distribution.distribution_domain_name}"
        )

    def _function(self, props: WebRuntimeProps) -> lambda_.Function:
        """Reads load balancers and groups; adds and removes ingress rules on groups of this VPC
        only (the ``ec2:Vpc`` condition, as AWS's example policy for one VPC's groups)."""
        stack = Stack.of(self)
        function = lambda_.Function(
            self,
            "IngressFunction",
            description="Waits for Express's ALB; admits CloudFront's VPC origin group on it",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(INGRESS_PACKAGE), exclude=["__pycache__"]),
            handler="handler.on_event",
            timeout=FUNCTION_TIMEOUT,
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=retained_log_group(self, "IngressFunctionLogs", settings=props),
            logging_format=lambda_.LoggingFormat.JSON,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "ec2:DescribeSecurityGroups",
                ],
                resources=["*"],
            )
        )
        vpc_arn = stack.format_arn(service="ec2", resource="vpc", resource_name=props.vpc.vpc_id)
        any_group = stack.format_arn(service="ec2", resource="security-group", resource_name="*")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                resources=[any_group],
                conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}},
            )
        )
        acknowledge_all(
            function,
            (
                (
                    "Serverless-LambdaDLQ",
                    "Invoked by CloudFormation for a custom resource, which keeps the event.",
                ),
                (
                    f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
                    "Writes only its own log group; its other actions are listed in its policy.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "DescribeLoadBalancers, DescribeSecurityGroups and X-Ray's writes support no "
                    "resource-level permissions.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_text(stack, any_group)}]",
                    "Express's ALB group is Express's, unknown until deployed; the ec2:Vpc "
                    "condition limits the two rule actions to this VPC's groups.",
                ),
                *DEPLOY_TIME_FUNCTION,
            ),
        )
        return function

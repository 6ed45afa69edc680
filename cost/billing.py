"""How each CloudFormation resource type is billed: always-on, usage-priced, or free.

The always-on types are those the floor rules price (``cost.rules.ALWAYS_ON_TYPES``); this file
lists the others. A type in none of them is unknown: it is reported as unpriced, never priced at
0 in silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from cost.rules import ALWAYS_ON_TYPES

CUSTOM_RESOURCE_PREFIX = "Custom::"
"""A custom resource costs its provider Lambda's invocations: usage-priced."""


class Billing(StrEnum):
    """How a CloudFormation resource type is billed."""

    ALWAYS_ON = "always-on"
    """Billed while it exists: priced line by line in the floor (a line may be 0, e.g. 0 ACU)."""
    USAGE = "usage"
    """Billed per request, GB or second: listed with its unit prices, not summed."""
    FREE = "free"
    """No charge of its own; whatever it causes is billed on another resource."""


USAGE_TYPES = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Serverless::Application",  # the SAR secret-rotation app: a Lambda function
        "AWS::SecretsManager::RotationSchedule",  # the rotation function's invocations
        "AWS::Logs::LogGroup",
        "AWS::EC2::FlowLog",  # vended logs ingestion
        "AWS::WAFv2::LoggingConfiguration",  # vended logs ingestion
        "AWS::S3::Bucket",
        "AWS::ECR::Repository",
        "AWS::ApiGateway::RestApi",
        # Requests (HTTPS, per 10,000) and data transfer out; origin fetches from AWS are free.
        # https://aws.amazon.com/cloudfront/pricing/
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",  # per invocation
        "AWS::Cognito::UserPool",  # monthly active users
        "AWS::ECS::Cluster",  # Container Insights metrics and performance logs
        "AWS::SNS::Topic",
        "AWS::Route53::RecordSet",  # queries (alias queries to AWS resources are free)
        "AWS::AppRunner::ObservabilityConfiguration",  # X-Ray traces
        "AWS::CloudFormation::CustomResource",
        "AWS::Backup::BackupVault",  # backup storage per GB-month, restores per GB
    }
)
"""Billed by use: the usage rules list their unit prices where they exist."""

FREE_TYPES = frozenset(
    {
        "AWS::ApiGateway::Account",
        "AWS::ApiGateway::Authorizer",  # a Lambda authorizer bills on its function
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::GatewayResponse",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Model",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Resource",
        # A VPC link (v1) has no charge of its own: its NLB bills by the hour and NLCU, the API
        # per call. https://aws.amazon.com/api-gateway/pricing/
        "AWS::ApiGateway::VpcLink",
        "AWS::ApplicationAutoScaling::ScalableTarget",  # read by the ECS service rule
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::AppRunner::AutoScalingConfiguration",  # read by the App Runner rule
        "AWS::AppRunner::VpcConnector",
        "AWS::AutoScaling::LifecycleHook",
        "AWS::AutoScaling::ScalingPolicy",
        "AWS::Backup::BackupPlan",  # its jobs bill as storage in the vault
        "AWS::Backup::BackupSelection",
        "AWS::Backup::RestoreTestingPlan",  # priced per job on its selections
        "AWS::CDK::Metadata",
        "AWS::CertificateManager::Certificate",  # public certificates
        # Configuration of a distribution: CloudFront bills its requests and bytes only.
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        # A distribution's way into a VPC: CloudFront's price list has no line for it ("VPC
        # origins ... at no additional cost", https://aws.amazon.com/about-aws/whats-new/2024/11/amazon-cloudfront-vpc-origins/);
        # its traffic bills as the distribution's requests and bytes.
        "AWS::CloudFront::VpcOrigin",
        # "no additional charge for code deployments to Amazon EC2 or AWS Lambda"
        # (https://aws.amazon.com/codedeploy/pricing/); its hook bills as a function.
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentConfig",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::Cognito::ManagedLoginBranding",  # the managed login pages' look
        "AWS::Cognito::UserPoolDomain",
        "AWS::Cognito::UserPoolResourceServer",
        "AWS::EC2::EIPAssociation",  # the address is priced on its EIP
        "AWS::EC2::InternetGateway",
        "AWS::EC2::LaunchTemplate",  # its instances are priced on their Auto Scaling group
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::Subnet",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPC",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        "AWS::ECS::TaskDefinition",  # priced through the service that runs it
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::OIDCProvider",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::KMS::Alias",
        "AWS::Lambda::Alias",  # invocations bill on the function
        "AWS::Lambda::LayerVersion",  # code storage only (BucketDeployment's AWS CLI layer)
        "AWS::Lambda::Permission",
        "AWS::Lambda::Version",
        "AWS::RDS::DBClusterParameterGroup",
        "AWS::RDS::DBParameterGroup",
        "AWS::RDS::OptionGroup",  # an RDS for MySQL instance's options: no charge of its own
        "AWS::RDS::DBProxyTargetGroup",  # read by the proxy rule
        "AWS::RDS::DBSubnetGroup",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",  # deliveries are priced on the topic
        "AWS::SNS::TopicPolicy",
        # Session Manager on EC2 instances is free (https://aws.amazon.com/systems-manager/pricing/):
        # a Session document has no charge of its own.
        "AWS::SSM::Document",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::SecretsManager::SecretTargetAttachment",
        "AWS::WAFv2::WebACLAssociation",
    }
)
"""No charge of their own."""

RESOURCE_BILLING: Mapping[str, Billing] = {
    **dict.fromkeys(sorted(FREE_TYPES), Billing.FREE),
    **dict.fromkeys(sorted(USAGE_TYPES), Billing.USAGE),
    **dict.fromkeys(sorted(ALWAYS_ON_TYPES), Billing.ALWAYS_ON),
}
"""Every type the model knows; a test keeps the three sets apart."""


def billing_of(resource_type: str) -> Billing | None:
    """How a type is billed; None when the model does not know it (it must then be reported)."""
    if resource_type.startswith(CUSTOM_RESOURCE_PREFIX):
        return Billing.USAGE
    return RESOURCE_BILLING.get(resource_type)


def unclassified_types(resource_types: Iterable[str]) -> list[str]:
    """The types among ``resource_types`` that the model does not classify, sorted."""
    return sorted({t for t in resource_types if billing_of(t) is None})

"""`make cost` on the S3M shape's resources, with hand-made templates: the internal NLB behind
the VPC link as its own line (never counted as an ALB), what is free or usage-priced
(CloudFront, the VPC link, the authorizer, managed login, the sign-in parameter, the bucket
deployment), the browser's PKCE client (not M2M) and one Fargate line for several services."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost.billing import Billing, billing_of
from cost.lines import LineKind
from cost.usage import UsageKind
from tests.cost_helpers import HOURS, cents, estimate_of, monthly_by_kind, resource, write_assembly
from tests.template_queries import get_att, ref

LB = "AWS::ElasticLoadBalancingV2::LoadBalancer"


def internal_nlb() -> dict[str, Any]:
    return resource(LB, Type="network", Scheme="internal", Subnets=["subnet-a", "subnet-b"])


def service(task: str, scaling_min: int) -> dict[str, dict[str, Any]]:
    """An ARM64 256/512 Fargate service named ``task`` with its auto scaling target."""
    return {
        f"{task}Task": resource(
            "AWS::ECS::TaskDefinition",
            Cpu="256",
            Memory="512",
            RuntimePlatform={"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
        ),
        f"{task}Service": resource(
            "AWS::ECS::Service",
            Cluster=ref("Cluster"),
            TaskDefinition=ref(f"{task}Task"),
            LaunchType="FARGATE",
            DesiredCount=scaling_min,
        ),
        f"{task}Scaling": resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            MinCapacity=scaling_min,
            MaxCapacity=2,
            ScalableDimension="ecs:service:DesiredCount",
            ServiceNamespace="ecs",
            ResourceId={
                "Fn::Join": [
                    "",
                    ["service/", ref("Cluster"), "/", get_att(f"{task}Service", "Name")],
                ]
            },
        ),
    }


# The S3M resources the cost model sees, stack by stack (the edge stack is in us-east-1).
API = {
    "Nlb": internal_nlb(),
    "ItemsListener": resource("AWS::ElasticLoadBalancingV2::Listener", Protocol="TCP", Port=8080),
    "ItemsTargets": resource("AWS::ElasticLoadBalancingV2::TargetGroup", TargetType="ip"),
    "VpcLink": resource("AWS::ApiGateway::VpcLink", TargetArns=[ref("Nlb")]),
    "RestApi": resource("AWS::ApiGateway::RestApi"),
    "Authorizer": resource("AWS::ApiGateway::Authorizer", Type="TOKEN"),
    "AuthorizerFunction": resource("AWS::Lambda::Function", Architectures=["arm64"]),
    "RoleTable": resource("AWS::DynamoDB::Table", BillingMode="PAY_PER_REQUEST"),
    "Cluster": resource("AWS::ECS::Cluster"),
    **service("Items", 1),
    **service("Me", 1),
    "UserPool": resource("AWS::Cognito::UserPool"),
    "SignInDomain": resource("AWS::Cognito::UserPoolDomain", ManagedLoginVersion=2),
    "Branding": resource("AWS::Cognito::ManagedLoginBranding", UseCognitoProvidedValues=True),
}
WEB = {
    "SiteBucket": resource("AWS::S3::Bucket"),
    "Distribution": resource("AWS::CloudFront::Distribution"),
    "Oac": resource("AWS::CloudFront::OriginAccessControl"),
    "Headers": resource("AWS::CloudFront::ResponseHeadersPolicy"),
    "Cache": resource("AWS::CloudFront::CachePolicy"),
    "SpaFallback": resource("AWS::CloudFront::Function"),
    "Deploy": resource("Custom::CDKBucketDeployment"),  # the type string CDK emits
    "AwsCliLayer": resource("AWS::Lambda::LayerVersion"),
    "Alias": resource("AWS::Route53::RecordSet", AliasTarget={"DNSName": "d.cloudfront.net"}),
    "BrowserClient": resource(
        "AWS::Cognito::UserPoolClient",
        UserPoolId="pool",
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        GenerateSecret=False,
    ),
    "ClientIds": resource("AWS::SSM::Parameter", Type="String", Value="abc"),
}
EDGE = {
    "Certificate": resource("AWS::CertificateManager::Certificate"),
    "WebAcl": resource(
        "AWS::WAFv2::WebACL", Scope="CLOUDFRONT", Rules=[{"Name": "RateLimit", "Statement": {}}]
    ),
}

# Each figure: quantity x the literal list price x 730 hours (or per month).
S3M_USD = {
    LineKind.NLB: cents(Decimal("0.0225") * HOURS),  # 16.43
    LineKind.FARGATE_VCPU: cents(2 * Decimal("0.25") * Decimal("0.03238") * HOURS),  # 11.82
    LineKind.FARGATE_MEMORY: cents(2 * Decimal("0.5") * Decimal("0.00356") * HOURS),  # 2.60
    LineKind.WAF_WEB_ACL: Decimal("5.00"),
    LineKind.WAF_RULES: Decimal("1.00"),
}


@pytest.fixture
def s3m(tmp_path: Path) -> Path:
    return write_assembly(tmp_path, "spa", {"Api": API, "Web": WEB, "Edge": EDGE})


def test_the_s3m_resources_are_priced_line_by_line(s3m: Path) -> None:
    result = estimate_of(s3m, "spa")

    assert result.unpriced == ()
    assert monthly_by_kind(result) == S3M_USD
    assert result.total_usd == sum(S3M_USD.values()) == Decimal("36.85")


def test_two_services_are_one_fargate_line_from_their_minimum_tasks(s3m: Path) -> None:
    lines = {line.kind: line for line in estimate_of(s3m, "spa").lines}

    vcpu, memory = lines[LineKind.FARGATE_VCPU], lines[LineKind.FARGATE_MEMORY]
    assert (vcpu.description, vcpu.quantity) == ("Fargate ARM64 vCPU", Decimal("0.5"))
    assert (memory.description, memory.quantity) == ("Fargate ARM64 memory", Decimal(1))
    assert "minimum from auto scaling MinCapacity" in vcpu.details[0]


def test_the_s3m_usage_items_are_cloudfront_nlcus_and_requests(s3m: Path) -> None:
    usage = {item.kind for item in estimate_of(s3m, "spa").usage}

    assert {
        UsageKind.CLOUDFRONT,
        UsageKind.CLOUDFRONT_FUNCTIONS,
        UsageKind.NLB_NLCU,
        UsageKind.API_GATEWAY_REQUESTS,
        UsageKind.LAMBDA_ARM,
        UsageKind.DYNAMODB_ON_DEMAND,
        UsageKind.COGNITO_MAU,
        UsageKind.ROUTE53_QUERIES,
    } <= usage
    # An internal NLB is no ALB and sends nothing to the internet; the browser client is no M2M.
    assert not usage & {
        UsageKind.ALB_LCU,
        UsageKind.DATA_TRANSFER_OUT,
        UsageKind.COGNITO_M2M_TOKENS,
    }


@pytest.mark.parametrize(
    ("resource_type", "billing"),
    [
        ("AWS::ApiGateway::VpcLink", Billing.FREE),
        ("AWS::ApiGateway::Authorizer", Billing.FREE),
        ("AWS::CloudFront::OriginAccessControl", Billing.FREE),
        ("AWS::CloudFront::CachePolicy", Billing.FREE),
        ("AWS::CloudFront::ResponseHeadersPolicy", Billing.FREE),
        ("AWS::CloudFront::OriginRequestPolicy", Billing.FREE),
        ("AWS::Cognito::ManagedLoginBranding", Billing.FREE),
        ("AWS::CertificateManager::Certificate", Billing.FREE),
        ("AWS::Lambda::LayerVersion", Billing.FREE),
        ("AWS::CloudFront::Distribution", Billing.USAGE),
        ("AWS::CloudFront::Function", Billing.USAGE),
        ("AWS::Route53::RecordSet", Billing.USAGE),
        ("Custom::CDKBucketDeployment", Billing.USAGE),
        ("AWS::SSM::Parameter", Billing.ALWAYS_ON),  # standard: 0; advanced: refused
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", Billing.ALWAYS_ON),
    ],
)
def test_each_s3m_type_is_classified(resource_type: str, billing: Billing) -> None:
    assert billing_of(resource_type) is billing


# --- The NLB: its own line, never an ALB's ---------------------------------------------------


def test_an_alb_and_an_internal_nlb_are_each_priced_once(tmp_path: Path) -> None:
    alb = resource(LB, Type="application", Scheme="internet-facing", Subnets=["a", "b"])
    write_assembly(tmp_path, "both", {"Stack": {"Alb": alb, "Nlb": internal_nlb()}})
    result = estimate_of(tmp_path, "both")

    by_kind = {line.kind: line for line in result.lines}
    assert set(by_kind) == {LineKind.ALB, LineKind.PUBLIC_IPV4_ALB, LineKind.NLB}
    assert (by_kind[LineKind.ALB].description, by_kind[LineKind.ALB].quantity) == (
        "Application Load Balancer",
        Decimal(1),
    )
    assert by_kind[LineKind.PUBLIC_IPV4_ALB].quantity == 2  # the ALB's subnets only
    assert (by_kind[LineKind.NLB].description, by_kind[LineKind.NLB].quantity) == (
        "Network Load Balancer",
        Decimal(1),
    )
    assert (
        by_kind[LineKind.NLB].monthly_usd == by_kind[LineKind.ALB].monthly_usd == Decimal("16.43")
    )
    usage = {item.kind for item in result.usage}
    assert {UsageKind.ALB_LCU, UsageKind.NLB_NLCU} <= usage


def test_an_internet_facing_nlb_pays_for_the_public_ipv4s_it_owns(tmp_path: Path) -> None:
    by_subnets = resource(LB, Type="network", Subnets=["a", "b", "c"])
    by_eips = resource(
        LB,
        Type="network",
        Scheme="internet-facing",
        SubnetMappings=[
            {"SubnetId": "a", "AllocationId": get_att("EipA", "AllocationId")},
            {"SubnetId": "b", "AllocationId": get_att("EipB", "AllocationId")},
        ],
    )
    write_assembly(
        tmp_path,
        "public",
        {
            "Stack": {
                "BySubnets": by_subnets,
                "ByEips": by_eips,
                "EipA": resource("AWS::EC2::EIP"),
                "EipB": resource("AWS::EC2::EIP"),
                "Bare": resource(LB, Type="network", Scheme="internet-facing"),
            }
        },
    )
    result = estimate_of(tmp_path, "public")

    quantities = {line.kind: line.quantity for line in result.lines}
    assert quantities[LineKind.NLB] == 3
    assert quantities[LineKind.PUBLIC_IPV4_NLB] == 3  # BySubnets; ByEips' addresses are its EIPs
    assert quantities[LineKind.PUBLIC_IPV4_EIP] == 2
    assert LineKind.ALB not in quantities
    assert [(u.logical_id, u.reason) for u in result.unpriced] == [
        ("Bare", "internet-facing NLB without Subnets to count its IPv4s")
    ]
    assert UsageKind.DATA_TRANSFER_OUT in {item.kind for item in result.usage}


def test_a_gateway_load_balancer_is_still_reported(tmp_path: Path) -> None:
    write_assembly(tmp_path, "gwlb", {"Stack": {"Gwlb": resource(LB, Type="gateway")}})
    result = estimate_of(tmp_path, "gwlb")

    assert [u.reason for u in result.unpriced] == ["gateway load balancers are not modeled"]
    assert result.lines == ()


# --- Free by shape: the sign-in parameter, the browser's app client ----------------------------


def test_a_standard_parameter_is_free_an_advanced_one_is_reported(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "ssm",
        {
            "Stack": {
                "Default": resource("AWS::SSM::Parameter", Type="String", Value="a"),
                "Standard": resource("AWS::SSM::Parameter", Tier="Standard", Value="a"),
                "Advanced": resource("AWS::SSM::Parameter", Tier="Advanced", Value="a"),
            }
        },
    )
    result = estimate_of(tmp_path, "ssm")

    assert result.lines == ()
    assert [(u.logical_id, u.reason) for u in result.unpriced] == [
        ("Advanced", "Advanced SSM parameters are not modeled")
    ]


def test_the_pkce_browser_client_is_not_a_machine_to_machine_client(tmp_path: Path) -> None:
    machine = resource(
        "AWS::Cognito::UserPoolClient",
        AllowedOAuthFlows=["client_credentials"],
        GenerateSecret=True,
    )
    write_assembly(tmp_path, "clients", {"Stack": {"Browser": WEB["BrowserClient"]}})
    write_assembly(tmp_path, "m2m", {"Stack": {"Browser": WEB["BrowserClient"], "M2m": machine}})

    browser_only = estimate_of(tmp_path, "clients")
    assert browser_only.lines == ()
    assert UsageKind.COGNITO_M2M_TOKENS not in {item.kind for item in browser_only.usage}
    (line,) = estimate_of(tmp_path, "m2m").lines
    assert (line.kind, line.quantity) == (LineKind.COGNITO_M2M_CLIENTS, Decimal(1))

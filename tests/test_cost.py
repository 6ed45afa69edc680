"""`make cost` on hand-made templates: an environment checked by hand to the cent, the NAT
instance, Fargate Spot, and resources that are reported instead of priced at 0."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cost.lines import LineKind
from cost.prices import PriceId, load_prices
from cost.usage import UsageKind
from tests.cost_helpers import (
    HOURS,
    cents,
    estimate_of,
    monthly_by_kind,
    resource,
    write_assembly,
)
from tests.template_queries import get_att, ref

# --- A hand-checked environment ----------------------------------------------------------------

NETWORK = {
    "Vpc": resource("AWS::EC2::VPC", CidrBlock="10.0.0.0/16"),
    "PublicA": resource("AWS::EC2::Subnet", VpcId=ref("Vpc"), MapPublicIpOnLaunch=False),
    "AppA": resource("AWS::EC2::Subnet", VpcId=ref("Vpc")),
    "AppB": resource("AWS::EC2::Subnet", VpcId=ref("Vpc")),
    "NatEip": resource("AWS::EC2::EIP", Domain="vpc"),
    "Nat": resource(
        "AWS::EC2::NatGateway",
        AllocationId=get_att("NatEip", "AllocationId"),
        SubnetId=ref("PublicA"),
    ),
    "S3Endpoint": resource(
        "AWS::EC2::VPCEndpoint", VpcEndpointType="Gateway", ServiceName="com.amazonaws.s3"
    ),
    "ApiEndpoint": resource(
        "AWS::EC2::VPCEndpoint",
        VpcEndpointType="Interface",
        ServiceName="com.amazonaws.us-east-1.execute-api",
        SubnetIds=[ref("AppA"), ref("AppB")],
    ),
}

DATA = {
    "Key": resource("AWS::KMS::Key", EnableKeyRotation=True),
    "Cluster": resource(
        "AWS::RDS::DBCluster",
        Engine="aurora-postgresql",
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 4},
    ),
    "Writer": resource(
        "AWS::RDS::DBInstance", DBClusterIdentifier=ref("Cluster"), DBInstanceClass="db.serverless"
    ),
    "Reader": resource(
        "AWS::RDS::DBInstance", DBClusterIdentifier=ref("Cluster"), DBInstanceClass="db.serverless"
    ),
    "Proxy": resource("AWS::RDS::DBProxy", EngineFamily="POSTGRESQL"),
    "ProxyTargets": resource(
        "AWS::RDS::DBProxyTargetGroup",
        DBProxyName=ref("Proxy"),
        DBClusterIdentifiers=[ref("Cluster")],
        TargetGroupName="default",
    ),
    "DatabaseSecret": resource("AWS::SecretsManager::Secret"),
    "AppSecret": resource("AWS::SecretsManager::Secret"),
    "Table": resource("AWS::DynamoDB::GlobalTable", BillingMode="PAY_PER_REQUEST"),
}

WEB = {
    "Alb": resource(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        Type="application",
        Scheme="internet-facing",
        Subnets=["subnet-a", "subnet-b"],
    ),
    "EcsCluster": resource("AWS::ECS::Cluster"),
    "Task": resource(
        "AWS::ECS::TaskDefinition",
        Cpu="256",
        Memory="512",
        # Fargate Spot runs X86_64 tasks only (see test_arm64_tasks_on_fargate_spot_are_not_priced).
        RuntimePlatform={"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
    ),
    "Service": resource(
        "AWS::ECS::Service",
        Cluster=ref("EcsCluster"),
        TaskDefinition=ref("Task"),
        DesiredCount=1,
        CapacityProviderStrategy=[{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
    ),
    "ServiceScaling": resource(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        MinCapacity=1,
        MaxCapacity=3,
        ScalableDimension="ecs:service:DesiredCount",
        ServiceNamespace="ecs",
        ResourceId={
            "Fn::Join": ["", ["service/", ref("EcsCluster"), "/", get_att("Service", "Name")]]
        },
    ),
    "WebAcl": resource(
        "AWS::WAFv2::WebACL",
        Rules=[
            {"Name": "RateLimit", "Statement": {"RateBasedStatement": {"Limit": 1000}}},
            *(
                {
                    "Name": name,
                    "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
                }
                for name in (
                    "AWSManagedRulesAmazonIpReputationList",
                    "AWSManagedRulesCommonRuleSet",
                    "AWSManagedRulesKnownBadInputsRuleSet",
                )
            ),
        ],
    ),
    "Canary": resource("AWS::Synthetics::Canary", Schedule={"Expression": "rate(5 minutes)"}),
    **{
        f"Alarm{i}": resource(
            "AWS::CloudWatch::Alarm", MetricName="Errors", Namespace="App", Period=300
        )
        for i in range(3)
    },
    "Dashboard": resource("AWS::CloudWatch::Dashboard", DashboardBody="{}"),
    "UserPool": resource("AWS::Cognito::UserPool"),
    "MachineClient": resource(
        "AWS::Cognito::UserPoolClient",
        UserPoolId=ref("UserPool"),
        AllowedOAuthFlows=["client_credentials"],
    ),
    "BrowserClient": resource(
        "AWS::Cognito::UserPoolClient", UserPoolId=ref("UserPool"), AllowedOAuthFlows=["code"]
    ),
    "RunnerScaling": resource("AWS::AppRunner::AutoScalingConfiguration", MinSize=2, MaxSize=4),
    "Runner": resource(
        "AWS::AppRunner::Service",
        InstanceConfiguration={"Cpu": "1024", "Memory": "2048"},
        AutoScalingConfigurationArn=get_att("RunnerScaling", "AutoScalingConfigurationArn"),
        SourceConfiguration={"AutoDeploymentsEnabled": False},
    ),
}

# Each figure: quantity x the literal list price x 730 hours (or per month, per run).
HAND_CHECKED_USD = {
    LineKind.NAT_GATEWAY: cents(1 * Decimal("0.045") * HOURS),  # 32.85
    LineKind.PUBLIC_IPV4_EIP: cents(1 * Decimal("0.005") * HOURS),  # 3.65
    LineKind.PUBLIC_IPV4_ALB: cents(2 * Decimal("0.005") * HOURS),  # 7.30: one per subnet
    LineKind.INTERFACE_ENDPOINT: cents(2 * Decimal("0.01") * HOURS),  # 14.60: 2 AZs
    LineKind.AURORA_MIN_CAPACITY: cents(2 * Decimal("0.5") * Decimal("0.12") * HOURS),  # 87.60
    LineKind.RDS_PROXY_MIN_CAPACITY: cents(8 * Decimal("0.015") * HOURS),  # 87.60: 8-ACU floor
    LineKind.ALB: cents(Decimal("0.0225") * HOURS),  # 16.425 -> 16.43
    LineKind.FARGATE_VCPU: cents(Decimal("0.25") * Decimal("0.012144") * HOURS),  # 2.22: x86 Spot
    LineKind.FARGATE_MEMORY: cents(Decimal("0.5") * Decimal("0.0013335") * HOURS),  # 0.49
    LineKind.APP_RUNNER_PROVISIONED_MEMORY: cents(2 * 2 * Decimal("0.007") * HOURS),  # 20.44
    LineKind.WAF_WEB_ACL: Decimal("5.00"),
    LineKind.WAF_RULES: 4 * Decimal("1.00"),
    LineKind.CANARY_RUNS: cents(HOURS * 60 / 5 * Decimal("0.0012")),  # 8,760 runs: 10.51
    LineKind.SECRETS: 2 * Decimal("0.40"),
    LineKind.KMS_KEYS: 1 * Decimal("1.00"),
    LineKind.ALARMS_STANDARD: 3 * Decimal("0.10"),
    LineKind.DASHBOARDS: 1 * Decimal("3.00"),
    LineKind.COGNITO_M2M_CLIENTS: 1 * Decimal("6.00"),
}
HAND_CHECKED_TOTAL_USD = Decimal("303.79")
"""32.85 + 3.65 + 7.30 + 14.60 + 87.60 + 87.60 + 16.43 + 2.22 + 0.49 + 20.44 + 5 + 4 + 10.51
+ 0.80 + 1 + 0.30 + 3 + 6, added by hand."""


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    return write_assembly(tmp_path, "hand", {"Network": NETWORK, "Data": DATA, "Web": WEB})


def test_hand_made_environment_is_priced_line_by_line_to_the_cent(hand_made: Path) -> None:
    result = estimate_of(hand_made, "hand")

    assert result.unpriced == ()
    assert monthly_by_kind(result) == HAND_CHECKED_USD
    assert result.total_usd == HAND_CHECKED_TOTAL_USD
    assert sum(HAND_CHECKED_USD.values()) == HAND_CHECKED_TOTAL_USD


def test_hand_made_usage_items_are_those_of_its_resources(hand_made: Path) -> None:
    usage = {item.kind for item in estimate_of(hand_made, "hand").usage}

    assert {
        UsageKind.NAT_GATEWAY_DATA,
        UsageKind.AURORA_STORAGE_IO,
        UsageKind.AURORA_ACU_ABOVE_MINIMUM,
        UsageKind.RDS_PROXY_ABOVE_MINIMUM,
        UsageKind.ALB_LCU,
        UsageKind.FARGATE_ABOVE_MINIMUM,
        UsageKind.APP_RUNNER_ACTIVE,
        UsageKind.WAF_REQUESTS,
        UsageKind.COGNITO_M2M_TOKENS,
        UsageKind.DYNAMODB_ON_DEMAND,
    } <= usage
    # No Lambda, S3, ECR, REST API or log group in these templates: none of their prices.
    assert not usage & {
        UsageKind.LAMBDA_REQUESTS,
        UsageKind.S3,
        UsageKind.ECR_STORAGE,
        UsageKind.API_GATEWAY_REQUESTS,
        UsageKind.CLOUDWATCH_LOGS,
    }


def test_nat_instance_pays_for_its_type_public_ip_volume_and_monitoring(tmp_path: Path) -> None:
    instance = {
        "InstanceType": "t4g.nano",
        "SourceDestCheck": False,
        "Monitoring": True,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3"}}],
    }
    with_ip = {"NetworkInterfaces": [{"DeviceIndex": "0", "AssociatePublicIpAddress": True}]}
    write_assembly(
        tmp_path,
        "nat",
        {
            "Network": {
                "Subnet": resource("AWS::EC2::Subnet", MapPublicIpOnLaunch=False),
                "Nat": resource("AWS::EC2::Instance", **instance, **with_ip),
                "Isolated": resource("AWS::EC2::Instance", **instance, SubnetId=ref("Subnet")),
            }
        },
    )
    result = estimate_of(tmp_path, "nat")

    by_kind = {line.kind: line for line in result.lines}
    assert by_kind[LineKind.EC2_INSTANCE].monthly_usd == cents(2 * Decimal("0.0042") * HOURS)
    assert by_kind[LineKind.PUBLIC_IPV4_INSTANCE].monthly_usd == cents(1 * Decimal("0.005") * HOURS)
    assert by_kind[LineKind.EC2_DETAILED_MONITORING].monthly_usd == 2 * 7 * Decimal("0.30")
    assert by_kind[LineKind.EBS_VOLUME].monthly_usd == 2 * 8 * Decimal("0.08")
    (warning,) = result.warnings
    assert "Network/Isolated" in warning
    assert "cannot reach the internet" in warning


# --- Fargate Spot: X86_64 only -------------------------------------------------------------------

# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
# https://aws.amazon.com/fargate/pricing/: "Fargate Spot allows customers to run
# interrupt-tolerant Amazon ECS Tasks* on spare capacity at up to a 70% discount off the regular
# Fargate price."


def test_fargate_spot_prices_are_x86_at_the_documented_discount() -> None:
    prices = load_prices()
    on_demand = (PriceId.FARGATE_X86_VCPU_HOUR, PriceId.FARGATE_X86_GB_HOUR)
    spot = (PriceId.FARGATE_SPOT_X86_VCPU_HOUR, PriceId.FARGATE_SPOT_X86_GB_HOUR)
    for regular, discounted in zip(on_demand, spot, strict=True):
        assert prices[discounted].usd == prices[regular].usd * Decimal("0.3")
        assert "X86_64" in prices[discounted].unit
        assert prices[discounted].source == "https://aws.amazon.com/fargate/pricing/"


def test_arm64_tasks_on_fargate_spot_are_not_priced(tmp_path: Path) -> None:
    """Such tasks never start: the model reports the service instead of pricing it."""
    arm64_task = {**WEB["Task"]["Properties"], "RuntimePlatform": {"CpuArchitecture": "ARM64"}}
    write_assembly(
        tmp_path,
        "arm",
        {
            "Web": {
                "EcsCluster": WEB["EcsCluster"],
                "Task": resource("AWS::ECS::TaskDefinition", **arm64_task),
                "Service": WEB["Service"],
            }
        },
    )
    result = estimate_of(tmp_path, "arm")

    (unpriced,) = result.unpriced
    assert (unpriced.logical_id, unpriced.resource_type) == ("Service", "AWS::ECS::Service")
    assert "X86_64" in unpriced.reason
    assert [line.kind for line in result.lines] == []


# --- Unknown and unpriceable resources -----------------------------------------------------------


def test_an_unknown_type_is_reported_not_priced_at_zero(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "dev",
        {
            "Network": {
                "Nat": resource("AWS::EC2::NatGateway"),
                "Hub": resource("AWS::EC2::TransitGateway"),
            }
        },
    )
    result = estimate_of(tmp_path, "dev")

    assert [(u.logical_id, u.resource_type) for u in result.unpriced] == [
        ("Hub", "AWS::EC2::TransitGateway")
    ]
    assert [line.kind for line in result.lines] == [LineKind.NAT_GATEWAY]


def test_always_on_shapes_the_model_cannot_price_are_reported(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "odd",
        {
            "Data": {
                "Cluster": resource("AWS::RDS::DBCluster", Engine="aurora-postgresql"),
                "Provisioned": resource(
                    "AWS::RDS::DBInstance",
                    DBClusterIdentifier=ref("Cluster"),
                    DBInstanceClass="db.r6g.large",
                ),
                "Canary": resource(
                    "AWS::Synthetics::Canary", Schedule={"Expression": "cron(0 * * * ? *)"}
                ),
                "Gwlb": resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="gateway"),
            }
        },
    )
    unpriced = {u.logical_id for u in estimate_of(tmp_path, "odd").unpriced}

    assert unpriced == {"Provisioned", "Canary", "Gwlb"}

"""`make cost`: the monthly always-on floor read from cdk.out, checked by hand and on the shipped
environments; an unknown or unpriceable resource is reported, never priced at 0."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from cdk_constructs.options import NatMode
from cost.__main__ import main
from cost.model import (
    PRICED_ALWAYS_ON_TYPES,
    RESOURCE_BILLING,
    Billing,
    Estimate,
    LineKind,
    UsageKind,
    billing_of,
    estimate,
    unclassified_types,
)
from cost.prices import PriceId, load_prices
from cost.report import group_estimates, render_json
from cost.templates import load_assemblies
from stacks.config import APP_CONFIG
from tests.conftest import REPO_ROOT, Synthesized
from tests.template_queries import get_att, ref

HOURS = Decimal(730)
DEV_FLOOR_TARGET_USD = Decimal(61)
"""The project's target for the always-on cost of dev. It was 60 while dev's Spot task was
priced as ARM64 Spot (59.81), a task Fargate Spot never runs; as the X86_64 Spot task it really
is, dev's floor is 60.36."""


def cents(amount: Decimal) -> Decimal:
    """Round half up to the cent (the test's own rounding, independent of the model's)."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def resource(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def write_assembly(cdk_out: Path, name: str, stacks: dict[str, dict[str, dict[str, Any]]]) -> Path:
    """Templates (stack -> resources) laid out as cdk.out does: assembly-<name>/*.template.json."""
    folder = cdk_out / f"assembly-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    for stack, resources in stacks.items():
        (folder / f"{stack}.template.json").write_text(json.dumps({"Resources": resources}))
    return cdk_out


def estimate_of(cdk_out: Path, name: str) -> Estimate:
    (found,) = [a for a in load_assemblies(cdk_out) if a.name == name]
    return estimate(found, load_prices())


def monthly_by_kind(result: Estimate) -> dict[LineKind, Decimal]:
    kinds = [line.kind for line in result.lines]
    assert len(kinds) == len(set(kinds)), f"one line per kind expected: {kinds}"
    return {line.kind: line.monthly_usd for line in result.lines}


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
X86_SPOT_PRICE_IDS = {PriceId.FARGATE_SPOT_X86_VCPU_HOUR, PriceId.FARGATE_SPOT_X86_GB_HOUR}


def test_fargate_spot_prices_are_x86_at_the_documented_discount() -> None:
    prices = load_prices()
    on_demand = (PriceId.FARGATE_X86_VCPU_HOUR, PriceId.FARGATE_X86_GB_HOUR)
    spot = (PriceId.FARGATE_SPOT_X86_VCPU_HOUR, PriceId.FARGATE_SPOT_X86_GB_HOUR)
    for regular, discounted in zip(on_demand, spot, strict=True):
        assert prices[discounted].usd == prices[regular].usd * Decimal("0.3")
        assert "X86_64" in prices[discounted].unit
        assert prices[discounted].source == "https://aws.amazon.com/fargate/pricing/"


def test_shipped_spot_tasks_are_priced_as_x86_spot(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    for name, env in synthesized.envs.items():
        fargate = [
            line
            for line in shipped[name].lines
            if line.kind in (LineKind.FARGATE_VCPU, LineKind.FARGATE_MEMORY)
        ]
        spot = {line.price_id for line in fargate if "Spot" in line.description}
        assert bool(spot) is env.config.web.spot, name
        assert spot <= X86_SPOT_PRICE_IDS, name
    dev = {line.kind: line for line in shipped["dev"].lines}
    assert dev[LineKind.FARGATE_VCPU].description == "Fargate Spot X86_64 vCPU"
    assert dev[LineKind.FARGATE_VCPU].unit_price_usd == Decimal("0.012144")
    assert dev[LineKind.FARGATE_MEMORY].unit_price_usd == Decimal("0.0013335")


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


def test_every_synthesized_resource_type_is_classified(synthesized: Synthesized) -> None:
    types = {
        body["Type"]
        for path in synthesized.template_files()
        for body in json.loads(path.read_text()).get("Resources", {}).values()
    }
    assert unclassified_types(types) == [], "classify these in cost/model.py RESOURCE_BILLING"


def test_every_always_on_type_has_a_pricing_rule() -> None:
    always_on = {t for t, billing in RESOURCE_BILLING.items() if billing is Billing.ALWAYS_ON}
    assert always_on == PRICED_ALWAYS_ON_TYPES


def test_custom_resources_are_usage_but_unknown_aws_types_are_not_accepted() -> None:
    assert billing_of("Custom::LogRetention") is Billing.USAGE
    assert billing_of("AWS::EC2::TransitGateway") is None
    assert unclassified_types(["AWS::IAM::Role", "AWS::EC2::TransitGateway"]) == [
        "AWS::EC2::TransitGateway"
    ]


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
                "Nlb": resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="network"),
            }
        },
    )
    unpriced = {u.logical_id for u in estimate_of(tmp_path, "odd").unpriced}

    assert unpriced == {"Provisioned", "Canary", "Nlb"}


# --- The shipped environments --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped(synthesized: Synthesized) -> dict[str, Estimate]:
    prices = load_prices()
    first = {envs[0].name for envs in APP_CONFIG.accounts().values()}
    return {
        a.name: estimate(a, prices, free_tier=a.name in first)
        for a in load_assemblies(synthesized.outdir)
    }


def test_dev_floor_is_under_the_project_target(shipped: dict[str, Estimate]) -> None:
    dev = shipped["dev"]
    breakdown = "\n".join(f"{line.monthly_usd:>8} {line.description}" for line in dev.lines)
    assert dev.total_usd < DEV_FLOOR_TARGET_USD, f"dev floor {dev.total_usd} USD:\n{breakdown}"


def test_every_environment_is_priced_and_floors_grow_from_dev_to_prod(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    dev, staging, prod = (shipped[name].total_usd for name in ("dev", "staging", "prod"))

    assert Decimal(0) < dev < staging < prod
    for name in synthesized.envs:
        assert shipped[name].unpriced == (), shipped[name].unpriced


def test_account_level_stacks_cost_nothing_always_on(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    account_level = [e for name, e in shipped.items() if name not in synthesized.envs]

    assert len(account_level) == len(synthesized.oidc)
    assert all(e.lines == () and e.unpriced == () for e in account_level)


def test_floor_follows_the_synthesized_nat_mode_and_canary_schedule(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    gateways = {NatMode.GATEWAY_PER_AZ: 2, NatMode.SINGLE_GATEWAY: 1, NatMode.INSTANCE: 0}
    for name, env in synthesized.envs.items():
        quantities = {line.kind: line.quantity for line in shipped[name].lines}
        assert quantities.get(LineKind.NAT_GATEWAY, 0) == gateways[env.config.network.nat_mode]
        interval = env.config.web.canary_interval_minutes
        assert quantities[LineKind.CANARY_RUNS] == HOURS * 60 / interval


def canary_variables(url_tail: str) -> dict[str, Any]:
    return {"HEALTH_URL": {"Fn::Join": ["", ["http://", {"Ref": "Lb"}, url_tail]]}}


def test_the_canary_line_says_what_it_costs_in_database_time(
    shipped: dict[str, Estimate], tmp_path: Path
) -> None:
    """Dev's database auto-pauses; its canary must not keep it awake (web_stack), and the cost
    report says so: 0 ACU-hours of database time."""
    (dev_canary,) = [line for line in shipped["dev"].lines if line.kind is LineKind.CANARY_RUNS]
    assert "database time: 0 ACU-hours" in " ".join(dev_canary.details)
    canary = resource(
        "AWS::Synthetics::Canary",
        Schedule={"Expression": "rate(5 minutes)"},
        RunConfig={"EnvironmentVariables": canary_variables("/healthz/deep")},
    )
    write_assembly(tmp_path, "deep", {"Web": {"Canary": canary}})
    (line,) = [
        line for line in estimate_of(tmp_path, "deep").lines if line.kind is LineKind.CANARY_RUNS
    ]
    assert "reaches the database" in " ".join(line.details)


def test_waf_is_priced_only_where_a_web_acl_is_synthesized(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    for name, env in synthesized.envs.items():
        kinds = {line.kind for line in shipped[name].lines}
        usage = {item.kind for item in shipped[name].usage}
        assert (LineKind.WAF_WEB_ACL in kinds) is env.config.web.waf
        assert (UsageKind.WAF_REQUESTS in usage) is env.config.web.waf


def test_json_round_trips_and_totals_are_the_sum_of_the_lines(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    environments, account_level = group_estimates(list(shipped.values()), list(synthesized.envs))
    document = json.loads(
        render_json(environments, account_level, load_prices()), parse_float=Decimal
    )

    assert list(document["environments"]) == list(synthesized.envs)
    for name, env in document["environments"].items():
        assert env["total_usd"] == shipped[name].total_usd
        assert env["total_usd"] == sum(Decimal(line["monthly_usd"]) for line in env["always_on"])
        assert [line["kind"] for line in env["always_on"]] == [
            line.kind for line in shipped[name].lines
        ]


def test_price_file_is_dated_and_every_price_has_a_unit_and_source() -> None:
    prices = load_prices()

    assert prices.region == "us-east-1"
    assert prices.as_of[:2] == "20"
    for price_id in PriceId:
        assert prices[price_id].source.startswith("https://"), price_id
        assert prices[price_id].unit, price_id


# --- The command line ----------------------------------------------------------------------------


def test_cli_prints_a_table_per_environment_with_a_total(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cdk-out", str(synthesized.outdir)]) == 0

    out = capsys.readouterr().out
    assert "us-east-1" in out
    assert "730 hours" in out
    for name in synthesized.envs:
        assert f"== {name} (environment" in out
        assert f"Total always-on floor, {name} " in out


def test_cli_json_is_valid_json(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cdk-out", str(synthesized.outdir), "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert set(document["environments"]) == set(synthesized.envs)


def test_cli_fails_when_a_resource_cannot_be_priced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_assembly(tmp_path, "dev", {"Network": {"Hub": resource("AWS::EC2::TransitGateway")}})

    assert main(["--cdk-out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "AWS::EC2::TransitGateway" in captured.out
    assert "not priced (AWS::EC2::TransitGateway)" in captured.err


def test_cli_without_cdk_out_gives_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cost", "--cdk-out", str(tmp_path / "cdk.out")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "make synth" in result.stderr
    assert "Traceback" not in result.stderr


def test_always_free_allowances_count_once_per_account(shipped: dict[str, Estimate]) -> None:
    """Each shipped environment has its own account: each gets CloudWatch's 3 dashboards and
    10 alarm metrics and Synthetics' 100 runs, capped at what it uses."""
    for name, env in shipped.items():
        if name not in APP_CONFIG.environment_names:
            continue
        used = {line.kind: line.quantity for line in env.lines if line.quantity > 0}
        free = {
            line.description: line.quantity
            for line in env.lines
            if line.kind is LineKind.ALWAYS_FREE_TIER
        }
        assert free == {
            "Always-free tier: CloudWatch dashboards": -min(Decimal(3), used[LineKind.DASHBOARDS]),
            "Always-free tier: CloudWatch alarms, standard resolution": -min(
                Decimal(10), used[LineKind.ALARMS_STANDARD]
            ),
            "Always-free tier: Synthetics canary runs": -min(
                Decimal(100), used[LineKind.CANARY_RUNS]
            ),
        }

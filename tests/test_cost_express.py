"""``make cost`` on ECS Express Mode services (cost/compute.py ``express_service``): the Fargate
tasks at the service's minimum count, priced by their architecture, and the Application Load
Balancer Express creates for them, which is not in the template (one per cluster: Express shares
it between its services, up to 25).

https://aws.amazon.com/fargate/pricing/ and https://aws.amazon.com/elasticloadbalancing/pricing/;
Express itself has no charge of its own.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from cdk_constructs.options import WebRuntime
from cost.lines import LineKind
from cost.usage import UsageKind
from stacks.config import APP_CONFIG
from tests.cost_helpers import HOURS, cents, estimate_of, monthly_by_kind, resource, write_assembly
from tests.synth import Tier, synth_variant_tiers

EXPRESS = "AWS::ECS::ExpressGatewayService"
ALB_USD = cents(Decimal("0.0225") * HOURS)  # 16.425 -> 16.43


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def express(**properties: Any) -> dict[str, Any]:
    return resource(EXPRESS, InfrastructureRoleArn="arn:aws:iam::1:role/infra", **properties)


ARM_TASK = resource(
    "AWS::ECS::TaskDefinition",
    Cpu="512",
    Memory="1024",
    RequiresCompatibilities=["FARGATE"],
    RuntimePlatform={"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
)


def test_own_task_definition_prices_its_arm64_tasks_at_the_minimum_and_the_alb(
    tmp_path: Path,
) -> None:
    write_assembly(
        tmp_path,
        "own",
        {
            "Web": {
                "Task": ARM_TASK,
                "Service": express(
                    Cluster="web",
                    TaskDefinitionArn=ref("Task"),
                    ScalingTarget={"MinTaskCount": 2, "MaxTaskCount": 6},
                ),
            }
        },
    )
    result = estimate_of(tmp_path, "own")

    assert result.unpriced == ()
    assert monthly_by_kind(result) == {
        LineKind.ALB: ALB_USD,
        LineKind.FARGATE_VCPU: cents(2 * Decimal("0.5") * Decimal("0.03238") * HOURS),  # 23.64
        LineKind.FARGATE_MEMORY: cents(2 * 1 * Decimal("0.00356") * HOURS),  # 5.20
    }
    assert result.total_usd == Decimal("45.27")  # 16.43 + 23.64 + 5.20, by hand
    (vcpu,) = [line for line in result.lines if line.kind is LineKind.FARGATE_VCPU]
    assert vcpu.description == "Fargate ARM64 vCPU"
    assert "ScalingTarget MinTaskCount" in vcpu.details[0]
    # Express assigns no public IP to its tasks, and its ALB's scheme is not in the template.
    assert not {LineKind.PUBLIC_IPV4_TASK, LineKind.PUBLIC_IPV4_ALB} & set(monthly_by_kind(result))
    usage = {item.kind: item for item in result.usage}
    assert UsageKind.ALB_LCU in usage
    above = [item for item in result.usage if item.kind is UsageKind.FARGATE_ABOVE_MINIMUM]
    assert [item.description for item in above] == ["Fargate ARM64 tasks above the minimum count"]


def test_without_a_task_definition_cloudformations_defaults_on_x86(tmp_path: Path) -> None:
    """Cpu "256", Memory "512", MinTaskCount 1 (the type's registry schema); X86_64, Express's
    default: CloudFormation has no CpuArchitecture for it."""
    write_assembly(tmp_path, "defaults", {"Web": {"Service": express()}})
    result = estimate_of(tmp_path, "defaults")

    assert monthly_by_kind(result) == {
        LineKind.ALB: ALB_USD,
        LineKind.FARGATE_VCPU: cents(Decimal("0.25") * Decimal("0.04048") * HOURS),  # 7.39
        LineKind.FARGATE_MEMORY: cents(Decimal("0.5") * Decimal("0.004445") * HOURS),  # 1.62
    }


def test_services_of_one_cluster_share_one_alb_another_cluster_gets_its_own(
    tmp_path: Path,
) -> None:
    service = {"TaskDefinitionArn": ref("Task")}
    write_assembly(
        tmp_path,
        "shared",
        {
            "Web": {
                "Task": ARM_TASK,
                "A": express(Cluster="one", **service),
                "B": express(Cluster="one", **service),
                "C": express(Cluster="two", **service),
            }
        },
    )
    (alb,) = [line for line in estimate_of(tmp_path, "shared").lines if line.kind is LineKind.ALB]

    assert alb.quantity == 2
    assert sorted(alb.details) == ["1 Express service(s) on it", "2 Express service(s) on it"]


def test_a_task_definition_out_of_the_stack_is_reported_not_priced(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "elsewhere",
        {
            "Web": {
                "Service": express(TaskDefinitionArn="arn:aws:ecs:us-east-1:1:task-definition/x")
            }
        },
    )
    result = estimate_of(tmp_path, "elsewhere")

    (unpriced,) = result.unpriced
    assert (unpriced.logical_id, unpriced.resource_type) == ("Service", EXPRESS)
    assert "same stack" in unpriced.reason
    assert result.lines == ()


def test_the_synthesized_express_web_tier_is_priced_in_full(tmp_path: Path) -> None:
    """dev on Express, as the platform synthesizes it: every resource classified, the tasks at
    the configured minimum on ARM64 and Express's ALB instead of the platform's."""
    dev = APP_CONFIG.environment("dev")
    env = replace(
        dev,
        name="dev-x",
        branch="dev-x",
        web=replace(dev.web, runtime=WebRuntime.EXPRESS, spot=False),
    )
    web = synth_variant_tiers(env, Tier.WEB)[Tier.WEB]
    write_assembly(tmp_path, "dev-x", {"Web": web["Resources"]})
    result = estimate_of(tmp_path, "dev-x")

    assert result.unpriced == ()
    lines = {line.kind: line for line in result.lines}
    assert lines[LineKind.ALB].description == "Application Load Balancer (ECS Express)"
    assert lines[LineKind.FARGATE_VCPU].description == "Fargate ARM64 vCPU"
    minimum, vcpus = Decimal(env.web.min_instances), Decimal(env.web.cpu) / 1024
    assert lines[LineKind.FARGATE_VCPU].quantity == minimum * vcpus

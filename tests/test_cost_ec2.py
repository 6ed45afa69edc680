"""`make cost` on an Auto Scaling group (the EC2 web runtime): its MinSize instances of its launch
template's type, their detailed monitoring and EBS volumes, checked by hand to the cent; and the
shapes it reports instead of pricing. The synthesized runtime's own estimate is checked in
tests/test_web_runtime_ec2.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost.billing import Billing, billing_of
from cost.lines import LineKind
from tests.cost_helpers import HOURS, cents, estimate_of, resource, write_assembly
from tests.template_queries import get_att, ref

GROUP = "AWS::AutoScaling::AutoScalingGroup"
TEMPLATE = "AWS::EC2::LaunchTemplate"


def launch_template(**data: Any) -> dict[str, Any]:
    base = {
        "InstanceType": "t4g.small",
        "Monitoring": {"Enabled": True},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False}],
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3", "VolumeSize": 20}}
        ],
    }
    return resource(TEMPLATE, LaunchTemplateData={**base, **data})


def group(min_size: Any = "2", **props: Any) -> dict[str, Any]:
    spec = {
        "LaunchTemplateId": ref("Template"),
        "Version": get_att("Template", "LatestVersionNumber"),
    }
    return resource(GROUP, MinSize=min_size, MaxSize="6", LaunchTemplate=spec, **props)


def priced(tmp_path: Path, resources: dict[str, dict[str, Any]]) -> Any:
    write_assembly(tmp_path, "asg", {"Web": resources})
    return estimate_of(tmp_path, "asg")


def test_a_group_costs_its_minimum_instances_their_monitoring_and_volumes(tmp_path: Path) -> None:
    result = priced(tmp_path, {"Template": launch_template(), "Group": group()})

    by_kind = {line.kind: line for line in result.lines}
    assert set(by_kind) == {
        LineKind.EC2_INSTANCE,
        LineKind.EC2_DETAILED_MONITORING,
        LineKind.EBS_VOLUME,
    }
    instances = by_kind[LineKind.EC2_INSTANCE]
    assert instances.description == "Auto Scaling instances t4g.small"
    assert instances.details == ("2 instance(s) (MinSize) of launch template Template",)
    assert instances.monthly_usd == cents(2 * Decimal("0.0168") * HOURS)  # 24.53
    assert by_kind[LineKind.EC2_DETAILED_MONITORING].monthly_usd == 2 * 7 * Decimal("0.30")
    assert by_kind[LineKind.EBS_VOLUME].monthly_usd == 2 * 20 * Decimal("0.08")
    assert not result.unpriced
    assert not result.warnings


def test_a_public_ip_per_instance_is_priced_and_an_unknown_one_is_reported(
    tmp_path: Path,
) -> None:
    public = [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}]
    result = priced(
        tmp_path, {"Template": launch_template(NetworkInterfaces=public), "Group": group("3")}
    )
    (address,) = [line for line in result.lines if line.kind is LineKind.PUBLIC_IPV4_INSTANCE]
    assert address.quantity == 3
    assert address.monthly_usd == cents(3 * Decimal("0.005") * HOURS)

    unknown = priced(
        tmp_path / "unknown", {"Template": launch_template(NetworkInterfaces=[]), "Group": group()}
    )
    (warning,) = unknown.warnings
    assert "Web/Group" in warning
    assert "public IPv4" in warning


def test_a_group_scaled_to_zero_costs_nothing_always_on(tmp_path: Path) -> None:
    result = priced(tmp_path, {"Template": launch_template(), "Group": group("0")})
    assert not result.lines
    assert not result.unpriced


@pytest.mark.parametrize(
    ("resources", "reason"),
    [
        ({"Template": launch_template(), "Group": group({"Ref": "Min"})}, "MinSize"),
        (
            {"Group": resource(GROUP, MinSize="1", MaxSize="2", LaunchConfigurationName="x")},
            "only a launch template",
        ),
        (
            {
                "Template": launch_template(InstanceMarketOptions={"MarketType": "spot"}),
                "Group": group(),
            },
            "Spot",
        ),
        (
            {"Template": launch_template(InstanceType="m7g.large"), "Group": group()},
            "no price for instance type 'm7g.large'",
        ),
    ],
)
def test_what_the_model_cannot_price_is_reported_not_priced_at_zero(
    tmp_path: Path, resources: dict[str, dict[str, Any]], reason: str
) -> None:
    result = priced(tmp_path, resources)
    (unpriced,) = result.unpriced
    assert (unpriced.logical_id, unpriced.resource_type) == ("Group", GROUP)
    assert reason in unpriced.reason
    assert [line.kind for line in result.lines] == []


def test_the_groups_other_resources_are_free_and_the_group_always_on() -> None:
    assert billing_of(GROUP) is Billing.ALWAYS_ON
    for free in (TEMPLATE, "AWS::AutoScaling::ScalingPolicy", "AWS::AutoScaling::LifecycleHook"):
        assert billing_of(free) is Billing.FREE, free

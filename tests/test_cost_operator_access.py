"""``make cost`` and the operators' access instance: stopped but while a tunnel runs, so its
8 GiB gp3 root volume is in the floor and its hours are a usage item at its type's price. EC2 API
reference, StopInstances (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html):
"We don't charge usage for a stopped instance, or data transfer fees; however, your root
partition Amazon EBS volume remains and continues to persist your data, and you are charged for
Amazon EBS volume usage. Every time you start your instance, Amazon EC2 charges a one-minute
minimum for instance usage, and thereafter charges per second for instance usage."
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cdk_constructs.options import OPERATOR_ACCESS_TAG
from cost.lines import LineKind
from cost.prices import load_prices
from cost.usage import UsageKind
from tests.cost_helpers import estimate_of, resource, write_assembly

ACCESS_INSTANCE = {
    "InstanceType": "t4g.nano",
    "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3", "VolumeSize": 8}}
    ],
    "Tags": [{"Key": OPERATOR_ACCESS_TAG, "Value": "three-tier-dev"}],
}


def test_the_access_instance_bills_its_disk_always_and_its_hours_as_usage(tmp_path: Path) -> None:
    write_assembly(
        tmp_path, "ops", {"Data": {"Access": resource("AWS::EC2::Instance", **ACCESS_INSTANCE)}}
    )
    result = estimate_of(tmp_path, "ops")

    assert result.unpriced == ()
    assert [(line.kind, line.quantity, line.monthly_usd) for line in result.lines] == [
        (LineKind.EBS_VOLUME, Decimal(8), Decimal("0.64"))
    ]
    (item,) = [item for item in result.usage if item.kind is UsageKind.EC2_ON_DEMAND]
    assert item.prices == (load_prices().ec2_instance_hour["t4g.nano"],)
    assert "t4g.nano" in item.description


def test_an_instance_without_the_tag_is_always_on(tmp_path: Path) -> None:
    untagged = {key: value for key, value in ACCESS_INSTANCE.items() if key != "Tags"}
    write_assembly(tmp_path, "plain", {"Data": {"Box": resource("AWS::EC2::Instance", **untagged)}})
    result = estimate_of(tmp_path, "plain")

    assert {line.kind for line in result.lines} == {LineKind.EC2_INSTANCE, LineKind.EBS_VOLUME}
    assert UsageKind.EC2_ON_DEMAND not in {item.kind for item in result.usage}


def test_an_access_instance_of_an_unpriced_type_is_reported(tmp_path: Path) -> None:
    odd = {**ACCESS_INSTANCE, "InstanceType": "x9.huge"}
    write_assembly(tmp_path, "odd", {"Data": {"Access": resource("AWS::EC2::Instance", **odd)}})
    (unpriced,) = estimate_of(tmp_path, "odd").unpriced

    assert (unpriced.logical_id, unpriced.reason) == (
        "Access",
        "no price for instance type 'x9.huge'",
    )

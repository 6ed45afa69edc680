"""AWS regions and their Availability Zones, checked offline (no AWS call, no CDK lookup)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Mapping
from pathlib import Path

from stacks.config.constraints import Rule, refuse

AZ_LETTERS_PER_REGION: Mapping[str, int] = {
    # North America
    "us-east-1": 6,
    "us-east-2": 3,
    "us-west-1": 3,
    "us-west-2": 4,
    "ca-central-1": 4,  # cac1-az1, -az2, -az4: zones a, b, d
    "ca-west-1": 3,
    "mx-central-1": 3,
    # Africa
    "af-south-1": 3,
    # Asia Pacific
    "ap-east-1": 3,
    "ap-east-2": 3,
    "ap-northeast-1": 4,
    "ap-northeast-2": 4,
    "ap-northeast-3": 3,
    "ap-south-1": 3,
    "ap-south-2": 3,
    "ap-southeast-1": 3,
    "ap-southeast-2": 3,
    "ap-southeast-3": 3,
    "ap-southeast-4": 3,
    "ap-southeast-5": 3,
    "ap-southeast-6": 3,
    "ap-southeast-7": 3,
    # Europe
    "eu-central-1": 3,
    "eu-central-2": 3,
    "eu-north-1": 3,
    "eu-south-1": 3,
    "eu-south-2": 3,
    "eu-west-1": 3,
    "eu-west-2": 4,
    "eu-west-3": 3,
    # Middle East
    "il-central-1": 3,
    "me-central-1": 3,
    "me-south-1": 3,
    # South America
    "sa-east-1": 3,
}
"""Region -> how many zone letters it has: its zones are ``<region>a``, ``<region>b``, ... up to
that many. From the AWS "Availability Zones" tables of the commercial partition
(https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html,
"The code for an Availability Zone is its Region code followed by a letter identifier."): the
highest AZ ID number listed for the region, as a zone's letter follows its AZ ID and IDs can
skip a number (ca-central-1 lists cac1-az1, cac1-az2 and cac1-az4, zones a, b and d). botocore
ships regions but no zones, hence this table; a region missing here is refused until added.
Which of these zones an account sees still varies (older accounts, constrained zones)."""

VPC_ORIGIN_REGIONS: frozenset[str] = frozenset(
    {
        # North America
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "ca-west-1",
        "mx-central-1",
        # Africa
        "af-south-1",
        # Asia Pacific
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        # Europe
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        # Middle East
        "il-central-1",
        "me-central-1",
        "me-south-1",
        # South America
        "sa-east-1",
    }
)
"""The regions where a CloudFront VPC origin works (the ECS Express web runtime's front), from
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html,
"Supported AWS Regions for VPC origins": "VPC origins are currently supported in the following
commercial AWS Regions. Availability Zone (AZ) exceptions are noted." Not listed, so refused:
ap-southeast-6, GovCloud and China. Its zone exceptions are VPC_ORIGIN_EXCLUDED_ZONE_IDS."""

VPC_ORIGIN_EXCLUDED_ZONE_IDS: Mapping[str, frozenset[str]] = {
    "us-east-1": frozenset({"use1-az3"}),
    "us-west-1": frozenset({"usw1-az2"}),
    "ap-northeast-1": frozenset({"apne1-az3"}),
    "ca-central-1": frozenset({"cac1-az3"}),
}
"""Region -> the AZ IDs where a VPC origin does not work, the exceptions noted on the same page
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html,
"VPC origins are currently supported in the following commercial AWS Regions. Availability Zone
(AZ) exceptions are noted."). They are AZ IDs, and which zone name maps to which ID differs per
account: the config (offline) can check only the region; ``make preflight`` maps the configured
zone names to IDs (check ``vpc-origin-zones``) and refuses these."""


@functools.cache
def aws_regions() -> frozenset[str] | None:
    """Every region of every AWS partition, from the endpoints data botocore ships (offline), or
    None where botocore is not installed: the workflows' first jobs install only the config's
    own requirements (``requirements-config.txt``) and get the region's format checked only
    (``make test`` and ``make synth`` check it fully, in the same workflow, before a deploy)."""
    try:
        loader = importlib.util.find_spec("botocore.loaders")
    except ImportError:
        return None
    if loader is None or loader.origin is None:
        return None
    # The file botocore's loader reads, read directly: importing the loader (urllib3, ...)
    # would add ~0.1 s to every import of the config, which is validated when imported.
    shipped = Path(loader.origin).parent / "data" / "endpoints.json"
    if shipped.is_file():
        endpoints = json.loads(shipped.read_text())
    else:
        from botocore.loaders import create_loader

        endpoints = create_loader().load_data("endpoints")
    return frozenset(
        region for partition in endpoints["partitions"] for region in partition["regions"]
    )


_REGION_NAME = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


def _region_problem(region: str) -> str | None:
    regions = aws_regions()
    if regions is None:
        if not _REGION_NAME.match(region):
            raise refuse(f"'{region}' is not a region name", "e.g. us-east-1, eu-west-1")
    elif region not in regions:
        raise refuse(
            f"'{region}' is not a region of any AWS partition (botocore's endpoints data)",
            ", ".join(sorted(regions)),
        )
    return None


REGION = Rule(
    "a region of an AWS partition, e.g. us-east-1 (botocore's endpoints data)", _region_problem
)


def check_zones(region: str, zones: tuple[str, ...]) -> None:
    """Refuse (``availability_zones``) anything but two distinct zones ``region`` has."""
    if len(zones) != 2:
        raise refuse(
            f"{zones!r} is not exactly 2 zones",
            f"two distinct zones of {region}, e.g. ('{region}a', '{region}b')",
            field="availability_zones",
        )
    if len(set(zones)) != 2:
        raise refuse(f"{zones!r} repeats a zone", "two distinct zones", field="availability_zones")
    letters = AZ_LETTERS_PER_REGION.get(region)
    if letters is None:
        raise refuse(
            f"this project has no zone table for region {region}",
            "a region of AZ_LETTERS_PER_REGION in stacks/config/regions.py (add yours from "
            "https://docs.aws.amazon.com/global-infrastructure/latest/regions/"
            "aws-availability-zones.html)",
            field="availability_zones",
        )
    region_zones = [f"{region}{chr(ord('a') + index)}" for index in range(letters)]
    for zone in zones:
        if zone not in region_zones:
            raise refuse(
                f"'{zone}' is not a zone of region {region}",
                ", ".join(region_zones),
                field="availability_zones",
            )

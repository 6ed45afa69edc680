"""The vpc-origin-zones check (a CloudFront VPC origin does not work in some AZ IDs, which only
the account maps to its zone names) and the region tables it reads, from
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html.
EC2 is a botocore Stubber: no AWS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from preflight import Status
from preflight.__main__ import RUNTIME_CHECKS
from preflight.checks import check_vpc_origin_zones
from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.config.regions import (
    AZ_LETTERS_PER_REGION,
    VPC_ORIGIN_EXCLUDED_ZONE_IDS,
    VPC_ORIGIN_REGIONS,
)
from tests.preflight_helpers import REGION, FakeAccount, StubbedSession, own_env
from tests.preflight_helpers import account_fixture as account_fixture  # fixtures
from tests.preflight_helpers import fake_aws as fake_aws

US_EAST_1_ZONES = [
    ("us-east-1a", "use1-az1", "available"),
    ("us-east-1b", "use1-az2", "available"),
    ("us-east-1c", "use1-az3", "available"),
    ("us-east-1d", "use1-az4", "impaired"),
    ("us-east-1e", "use1-az6", "available"),
]
"""What an account's describe-availability-zones may answer in us-east-1 (the name -> ID
mapping differs per account): one zone is the excepted use1-az3, one is not available."""


class _NoAws(StubbedSession):
    """A session that fails the test if any client is made from it."""

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the check made a {service_name} client")


def _env(env_name: str, *zones: str) -> EnvironmentConfig:
    env = own_env(env_name)
    return replace(env, availability_zones=zones) if zones else env


def _check(account: FakeAccount, env: EnvironmentConfig) -> tuple[Status, str]:
    """The check against EC2 answering ``US_EAST_1_ZONES`` once: its status and line."""
    zones = [
        {"ZoneName": name, "ZoneId": zone_id, "State": state, "RegionName": REGION}
        for name, zone_id, state in US_EAST_1_ZONES
    ]
    ec2 = account.stubber("ec2")
    ec2.add_response("describe_availability_zones", {"AvailabilityZones": zones}, {})
    result = check_vpc_origin_zones(StubbedSession(account.clients), APP_CONFIG, env)
    ec2.assert_no_pending_responses()
    return result.status, result.line


def test_the_check_is_registered_for_runtimes() -> None:
    assert RUNTIME_CHECKS["vpc-origin-zones"] is check_vpc_origin_zones


def test_a_region_without_excepted_zones_passes_without_asking_ec2() -> None:
    env = own_env("spa")
    assert env.region == "eu-west-1"
    assert env.region not in VPC_ORIGIN_EXCLUDED_ZONE_IDS
    result = check_vpc_origin_zones(_NoAws({}, region_name=env.region), APP_CONFIG, env)
    assert result.status is Status.PASS
    assert result.line == (
        "PASS vpc-origin-zones: no zone of eu-west-1 is excepted from CloudFront VPC origins"
    )


def test_zones_whose_ids_are_not_excepted_pass(account: FakeAccount) -> None:
    status, line = _check(account, _env("dev"))
    assert status is Status.PASS
    assert line == (
        "PASS vpc-origin-zones: us-east-1a is use1-az1, us-east-1b is use1-az2; "
        "none is use1-az3, where VPC origins do not work"
    )


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_a_zone_whose_id_is_excepted_fails(env_name: str, account: FakeAccount) -> None:
    status, line = _check(account, _env(env_name, "us-east-1a", "us-east-1c"))
    assert status is Status.FAIL
    assert line == (
        "FAIL vpc-origin-zones: us-east-1c is use1-az3, where CloudFront VPC origins do not work "
        f"in us-east-1; fix: set availability_zones of '{env_name}' in "
        "stacks/config/environments.py to two zones whose IDs are not use1-az3 "
        "(aws ec2 describe-availability-zones), i.e. two of: us-east-1a, us-east-1b, us-east-1e"
    )
    offered = line.split("two of: ", 1)[1].split(", ")
    assert "us-east-1c" not in offered  # excepted
    assert "us-east-1d" not in offered  # impaired


def test_a_zone_the_account_does_not_offer_is_left_to_the_availability_zones_check(
    account: FakeAccount,
) -> None:
    status, line = _check(account, _env("dev", "us-east-1a", "us-east-1f"))
    assert status is Status.PASS
    assert "us-east-1f is not offered (see availability-zones)" in line


# --- the region tables --------------------------------------------------------------------------

DOCUMENTED_EXCEPTIONS = {
    "us-east-1": "use1",
    "us-west-1": "usw1",
    "ap-northeast-1": "apne1",
    "ca-central-1": "cac1",
}
"""The regions the AWS page notes AZ exceptions for, with the short code their AZ IDs start with
(use1-az3, usw1-az2, apne1-az3, cac1-az3)."""


def test_every_vpc_origin_region_has_a_zone_table() -> None:
    assert set(AZ_LETTERS_PER_REGION) >= VPC_ORIGIN_REGIONS


def test_excepted_zone_ids_belong_to_their_regions() -> None:
    assert set(VPC_ORIGIN_EXCLUDED_ZONE_IDS) == set(DOCUMENTED_EXCEPTIONS)
    assert set(VPC_ORIGIN_EXCLUDED_ZONE_IDS) <= VPC_ORIGIN_REGIONS
    for region, zone_ids in VPC_ORIGIN_EXCLUDED_ZONE_IDS.items():
        assert zone_ids, region
        for zone_id in zone_ids:
            assert zone_id.startswith(f"{DOCUMENTED_EXCEPTIONS[region]}-az"), (region, zone_id)


def test_regions_the_page_does_not_list_are_not_vpc_origin_regions() -> None:
    assert "ap-southeast-6" not in VPC_ORIGIN_REGIONS
    assert not {region for region in VPC_ORIGIN_REGIONS if region.startswith(("us-gov-", "cn-"))}

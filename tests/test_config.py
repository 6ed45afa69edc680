"""Config validation of the environment's own fields, the app-wide rules and the regions: every
bad value stops the app with one line naming env, field and allowed. Sections: the other
``test_config_*.py`` files."""

from __future__ import annotations

import sys
from dataclasses import replace

import botocore.session
import pytest

from stacks.config import (
    APP_CONFIG,
    AZ_LETTERS_PER_REGION,
    aws_regions,
    validate_app_config,
)
from tests.config_helpers import (
    assert_one_line,
    error_of,
    with_dev,
    with_section,
)


def test_shipped_config_is_valid() -> None:
    validate_app_config(APP_CONFIG)
    assert APP_CONFIG.environment_names == (
        "dev",
        "staging",
        "prod",
        "spa",
        "classic",
        "ec2",
        "express",
    )


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a", ""])
def test_malformed_account_id(account: str) -> None:
    assert_one_line(error_of(lambda: with_dev(account=account)), "dev", "account", "12 digits")


def test_availability_zone_not_in_region() -> None:
    error = error_of(lambda: with_dev(availability_zones=("us-east-1a", "eu-west-1b")))
    assert_one_line(error, "dev", "availability_zones", "us-east-1a")
    assert "'eu-west-1b' is not a zone of region us-east-1" in str(error)


@pytest.mark.parametrize(
    "zones",
    [("us-east-1a",), ("us-east-1a", "us-east-1b", "us-east-1c"), ("us-east-1a", "us-east-1a")],
)
def test_not_exactly_two_availability_zones(zones: tuple[str, ...]) -> None:
    assert_one_line(
        error_of(lambda: with_dev(availability_zones=zones)), "dev", "availability_zones", "two"
    )


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.1/16", "not-a-cidr", "300.0.0.0/16"])
def test_invalid_cidr(cidr: str) -> None:
    error = error_of(lambda: with_section("network", vpc_cidr=cidr))
    assert_one_line(error, "dev", "network.vpc_cidr", "/16 to /21")
    assert "is not a valid CIDR" in str(error)


@pytest.mark.parametrize("cidr", ["10.0.0.0/22", "10.0.0.0/24"])
def test_cidr_too_small_for_six_subnets(cidr: str) -> None:
    error = error_of(lambda: with_section("network", vpc_cidr=cidr))
    assert_one_line(error, "dev", "network.vpc_cidr", "6 subnets of /24 or larger")
    assert "too small" in str(error)


def test_smallest_allowed_cidr_is_accepted() -> None:
    validate_app_config(with_section("network", vpc_cidr="10.0.0.0/21"))


def test_one_branch_mapped_to_two_environments() -> None:
    error = error_of(lambda: with_dev(branch="main"))  # prod deploys main
    assert_one_line(error, "prod", "branch", "one environment per branch")
    assert "already deploys environment 'dev'" in str(error)


def test_an_environment_defined_twice() -> None:
    error = error_of(lambda: with_dev(name="staging", branch="feature"))
    assert_one_line(error, "staging", "name", "one definition per environment")


@pytest.mark.parametrize("email", ["alerts", "alerts@", "@example.com", "a b@example.com", "a@b"])
def test_invalid_alert_email(email: str) -> None:
    error = error_of(lambda: with_dev(alert_email=email))
    assert_one_line(error, "dev", "alert_email", "name@domain.tld")


def test_unknown_interface_endpoint_name() -> None:
    error = error_of(
        lambda: with_section("network", interface_endpoints=("execute-api", "secrets-manager"))
    )
    assert_one_line(error, "dev", "network.interface_endpoints", "secretsmanager", "execute-api")
    assert "'secrets-manager' is not a known endpoint name" in str(error)


def test_unknown_nat_mode() -> None:
    error = error_of(lambda: with_section("network", nat_mode="nat_gateway"))
    assert_one_line(
        error, "dev", "network.nat_mode", "gateway_per_az", "single_gateway", "instance"
    )


def test_unsupported_log_retention() -> None:
    error = error_of(lambda: with_dev(log_retention_days=10))
    assert_one_line(error, "dev", "log_retention_days", "14", "3653")


def test_unknown_environment_selected_with_context() -> None:
    error = error_of(lambda: APP_CONFIG.select("qa"))
    assert_one_line(error, "qa", "env (-c env=...)", "dev, staging, prod")


def test_no_context_selects_every_environment() -> None:
    assert APP_CONFIG.select(None) == APP_CONFIG.environments
    assert APP_CONFIG.select("prod") == (APP_CONFIG.environment("prod"),)


def test_no_environment_at_all() -> None:
    error = error_of(lambda: replace(APP_CONFIG, environments=()))
    assert_one_line(error, "*", "environments", "one or more")


# --- Regions and zones AWS would refuse ------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-9", "xx-west-1", "eu-west"])
def test_unknown_region_is_refused(region: str) -> None:
    error = error_of(
        lambda: with_dev(region=region, availability_zones=(f"{region}a", f"{region}b"))
    )
    assert_one_line(error, "dev", "region", "us-east-1", "eu-west-1")


@pytest.mark.parametrize("zone", ["us-east-1z", "us-east-1g"])
def test_zone_letter_outside_the_region_is_refused(zone: str) -> None:
    error = error_of(lambda: with_dev(availability_zones=("us-east-1a", zone)))
    assert_one_line(error, "dev", "availability_zones", "us-east-1a", "us-east-1f")
    assert f"'{zone}' is not a zone of region us-east-1" in str(error)


def test_zones_of_another_region_are_accepted_where_it_has_them() -> None:
    validate_app_config(
        with_dev(region="ca-central-1", availability_zones=("ca-central-1a", "ca-central-1d"))
    )
    error = error_of(
        lambda: with_dev(region="eu-west-3", availability_zones=("eu-west-3a", "eu-west-3d"))
    )
    assert_one_line(error, "dev", "availability_zones", "eu-west-3a, eu-west-3b, eu-west-3c")


def test_zone_table_covers_exactly_the_regions_botocore_ships() -> None:
    """Every commercial region botocore knows has zones here, and no other: a botocore
    upgrade with a new region fails here until its zones are added from
    https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html
    ("The code for an Availability Zone is its Region code followed by a letter identifier.")."""
    commercial = set(botocore.session.get_session().get_available_regions("ec2"))
    assert set(AZ_LETTERS_PER_REGION) == commercial
    regions = aws_regions()
    assert regions is not None
    assert commercial <= regions


def test_regions_are_botocores_own_endpoints_data() -> None:
    """Read from botocore's data file without importing its loader: the same regions."""
    from botocore.loaders import create_loader

    endpoints = create_loader().load_data("endpoints")
    partitions = endpoints["partitions"]
    assert aws_regions() == frozenset(r for partition in partitions for r in partition["regions"])


def test_without_botocore_the_region_format_is_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workflows' first jobs run without botocore: no crash, format only."""
    monkeypatch.setitem(sys.modules, "botocore.loaders", None)
    aws_regions.cache_clear()
    try:
        assert aws_regions() is None
        validate_app_config(APP_CONFIG)
        error = error_of(lambda: with_dev(region="Virginia"))
        assert_one_line(error, "dev", "region", "us-east-1")
    finally:
        monkeypatch.undo()
        aws_regions.cache_clear()

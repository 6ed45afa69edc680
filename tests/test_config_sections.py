"""Config validation of the sections of an environment (database, api, web, alarms): every bad
value stops the app with one line naming env, field and allowed."""

from __future__ import annotations

from dataclasses import fields

import pytest

from cdk_constructs.options import CpuArchitecture, WebRuntime
from stacks.config import APP_CONFIG, validate_app_config
from stacks.config.sections import AlarmThresholds, WebConfig, WebReleaseConfig
from tests.config_helpers import (
    DEV,
    assert_one_line,
    error_of,
    with_dev,
    with_section,
    with_web,
)

# --- database -----------------------------------------------------------------------------------


def test_shipped_database_profiles() -> None:
    """dev pauses at 0 ACU without proxy or reader; staging and prod keep 0.5 ACU behind a proxy."""
    dev, staging, prod = (
        APP_CONFIG.environment(name).database for name in ("dev", "staging", "prod")
    )
    assert (dev.min_capacity, dev.proxy, dev.readers) == (0, False, 0)
    assert (staging.min_capacity, staging.proxy, staging.readers) == (0.5, True, 0)
    assert (prod.min_capacity, prod.proxy, prod.readers) == (0.5, True, 1)


def test_proxy_with_zero_acu_is_refused() -> None:
    error = error_of(lambda: with_section("database", proxy=True, min_capacity=0))
    assert_one_line(error, "dev", "database.proxy", "proxy=False with min_capacity 0")
    assert "never pauses" in str(error)
    assert "8 ACUs" in str(error)


def test_min_capacity_above_max_capacity() -> None:
    error = error_of(lambda: with_section("database", min_capacity=4, max_capacity=2))
    assert_one_line(error, "dev", "database.min_capacity", "min_capacity <= max_capacity")


@pytest.mark.parametrize(
    ("field_name", "value"), [("min_capacity", 0.25), ("max_capacity", 2.7), ("max_capacity", 1.2)]
)
def test_capacity_off_the_half_acu_grid(field_name: str, value: float) -> None:
    error = error_of(lambda: with_section("database", **{field_name: value}))
    assert_one_line(error, "dev", f"database.{field_name}", "multiple of 0.5")


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("min_capacity", -0.5), ("max_capacity", 0.5), ("max_capacity", 257), ("max_capacity", "4")],
)
def test_capacity_out_of_range(field_name: str, value: object) -> None:
    error = error_of(lambda: with_section("database", **{field_name: value}))
    assert_one_line(error, "dev", f"database.{field_name}", "256 ACUs")


@pytest.mark.parametrize("readers", [2, -1, True])
def test_more_than_one_reader(readers: object) -> None:
    error = error_of(lambda: with_section("database", readers=readers))
    assert_one_line(error, "dev", "database.readers", "0 or 1")


@pytest.mark.parametrize("days", [0, 36, 7.5])
def test_backup_retention_outside_1_to_35(days: object) -> None:
    error = error_of(lambda: with_section("database", backup_retention_days=days))
    assert_one_line(error, "dev", "database.backup_retention_days", "1..35")


@pytest.mark.parametrize("version", ["17.3", "15.7", "18.0", "16", "latest"])
def test_engine_version_not_offered(version: str) -> None:
    error = error_of(lambda: with_section("database", engine_version=version))
    assert_one_line(error, "dev", "database.engine_version", "16.13", "17.9")


@pytest.mark.parametrize("version", ["16.1", "16.2"])
def test_engine_version_that_cannot_scale_to_zero(version: str) -> None:
    """dev runs at 0 ACU: a version without auto-pause is refused on min_capacity."""
    error = error_of(lambda: with_section("database", engine_version=version))
    assert_one_line(error, "dev", "database.min_capacity", "0.5", "16.3")


@pytest.mark.parametrize("minutes", [4, 1441])
def test_auto_pause_outside_aurora_limits(minutes: int) -> None:
    error = error_of(lambda: with_section("database", auto_pause_minutes=minutes))
    assert_one_line(error, "dev", "database.auto_pause_minutes", "5..1440")


# --- api ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["", "-v1", "v 1", "a" * 129, "v1:latest"])
def test_api_image_tag_that_ecr_would_refuse(tag: str) -> None:
    error = error_of(lambda: with_section("api", image_tag=tag))
    assert_one_line(error, "dev", "api.image_tag", "ECR tag")


def test_api_image_tag_accepted() -> None:
    validate_app_config(with_section("api", image_tag="3f2c1e0-build.7"))


@pytest.mark.parametrize(
    ("field_name", "value", "allowed"),
    [
        ("memory_mb", 64, "128..10240"),
        ("memory_mb", 10241, "128..10240"),
        ("timeout_seconds", 30, "1..29"),
        ("timeout_seconds", 0, "1..29"),
        ("reserved_concurrency", 0, "1..1000"),
        ("throttle_rate_limit", 0, "1..10000"),
        ("throttle_burst_limit", 5001, "1..5000"),
    ],
)
def test_api_numbers_out_of_range(field_name: str, value: int, allowed: str) -> None:
    error = error_of(lambda: with_section("api", **{field_name: value}))
    assert_one_line(error, "dev", f"api.{field_name}", allowed)


def test_api_burst_below_rate() -> None:
    error = error_of(lambda: with_section("api", throttle_rate_limit=100, throttle_burst_limit=50))
    assert_one_line(error, "dev", "api.throttle_burst_limit", ">= throttle_rate_limit")


# https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html
# "You can reserve concurrency for as many functions as you like, as long as you leave at least
# 100 simultaneous executions unreserved for functions that aren't configured with a
# per-function limit."
UNRESERVED_MINIMUM = 100
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
# "New AWS accounts have reduced concurrency and memory quotas. AWS raises these quotas
# automatically based on your usage." The docs give no figure; new accounts report a quota of
# 10 (aws-samples/one-observability-demo#278: "In some accounts, initial quota is set to 10";
# awslabs/fhir-works-on-aws-deployment#691: "Full account concurrency is 10").
NEW_ACCOUNT_CONCURRENCY_QUOTA = 10


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_shipped_reserved_concurrency_deploys_on_a_new_account(env_name: str) -> None:
    reserved = APP_CONFIG.environment(env_name).api.reserved_concurrency
    assert reserved is None or reserved + UNRESERVED_MINIMUM <= NEW_ACCOUNT_CONCURRENCY_QUOTA


def test_reserved_concurrency_stays_a_knob() -> None:
    validate_app_config(with_section("api", reserved_concurrency=50))


# --- web ----------------------------------------------------------------------------------------


def test_shipped_web_profiles() -> None:
    dev, staging, prod = (APP_CONFIG.environment(name).web for name in ("dev", "staging", "prod"))
    assert (dev.runtime, dev.spot, dev.min_instances, dev.canary_interval_minutes) == (
        "fargate",
        True,
        1,
        60,
    )
    assert staging.runtime == "fargate"
    assert (prod.min_instances >= 2, prod.waf, prod.canary_interval_minutes) == (True, True, 5)
    assert prod.domain_name is not None


@pytest.mark.parametrize(
    ("runtime", "cpu", "memory"),
    [("fargate", 256, 4096), ("fargate", 1000, 2048), ("app_runner", 512, 2048)],
)
def test_cpu_memory_pair_the_runtime_does_not_offer(runtime: str, cpu: int, memory: int) -> None:
    error = error_of(
        lambda: with_web("dev", runtime=WebRuntime(runtime), spot=False, cpu=cpu, memory_mib=memory)
    )
    assert_one_line(error, "dev", "web.cpu/web.memory_mib", "cpu 256: memory 512")
    assert f"{runtime} does not offer cpu {cpu} with memory {memory}" in str(error)


def test_web_min_above_max() -> None:
    error = error_of(lambda: with_web("dev", min_instances=3, max_instances=2))
    assert_one_line(error, "dev", "web.min_instances", "min_instances <= max_instances")


def test_spot_with_app_runner() -> None:
    error = error_of(lambda: with_web("dev", runtime=WebRuntime.APP_RUNNER, spot=True))
    assert_one_line(error, "dev", "web.spot", "spot=False with app_runner")


def test_a_domain_with_app_runner() -> None:
    error = error_of(
        lambda: with_web("prod", runtime=WebRuntime.APP_RUNNER, release=WebReleaseConfig())
    )
    assert_one_line(error, "prod", "web.domain_name", "domain_name=None with app_runner")
    assert "custom domains of App Runner are linked outside CloudFormation" in str(error)


@pytest.mark.parametrize("path", ["healthz", "", "http://x/healthz"])
def test_health_path_must_start_with_a_slash(path: str) -> None:
    error = error_of(lambda: with_web("dev", health_path=path))
    assert_one_line(error, "dev", "web.health_path", "/")


def test_production_needs_a_domain_or_explicit_plain_http() -> None:
    no_domain = {"domain_name": None, "hosted_zone_id": None, "hosted_zone_name": None}
    error = error_of(lambda: with_web("prod", **no_domain))
    assert_one_line(error, "prod", "web.domain_name", "allow_plain_http=True")
    validate_app_config(with_web("prod", **no_domain, allow_plain_http=True))


def test_domain_outside_its_zone() -> None:
    error = error_of(lambda: with_web("prod", domain_name="www.example.org"))
    assert_one_line(error, "prod", "web.hosted_zone_name", "contains domain_name")


def test_domain_without_zone() -> None:
    error = error_of(lambda: with_web("dev", domain_name="dev.example.com"))
    assert_one_line(error, "dev", "web.hosted_zone_id", "hosted_zone_id")


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.1/24", "anywhere"])
def test_invalid_ingress_cidr(cidr: str) -> None:
    error = error_of(lambda: with_web("dev", allowed_ingress_cidrs=(cidr,)))
    assert_one_line(error, "dev", "web.allowed_ingress_cidrs", "IPv4 CIDRs")


@pytest.mark.parametrize("minutes", [0, 61])
def test_canary_interval_out_of_range(minutes: int) -> None:
    error = error_of(lambda: with_web("dev", canary_interval_minutes=minutes))
    assert_one_line(error, "dev", "web.canary_interval_minutes", "1..60")


def test_unknown_web_runtime() -> None:
    error = error_of(lambda: with_web("dev", runtime="lambda"))
    assert_one_line(error, "dev", "web.runtime", "fargate", "app_runner")


# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
@pytest.mark.parametrize(
    ("runtime", "spot", "architecture"),
    [
        (WebRuntime.FARGATE, False, CpuArchitecture.ARM64),
        (WebRuntime.FARGATE, True, CpuArchitecture.X86_64),
        (WebRuntime.APP_RUNNER, False, CpuArchitecture.X86_64),
    ],
)
def test_web_cpu_architecture_follows_runtime_and_spot(
    runtime: WebRuntime, spot: bool, architecture: CpuArchitecture
) -> None:
    assert WebConfig(runtime=runtime, spot=spot).cpu_architecture is architecture


def test_shipped_spot_environment_runs_x86() -> None:
    assert (DEV.web.spot, DEV.web.cpu_architecture) == (True, CpuArchitecture.X86_64)


# --- alarms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field_name", [item.name for item in fields(AlarmThresholds)])
def test_a_threshold_must_be_positive(field_name: str) -> None:
    error = error_of(lambda: with_dev(alarms=AlarmThresholds(**{field_name: 0})))
    assert_one_line(error, "dev", f"alarms.{field_name}", "above 0")


def test_a_percent_threshold_is_at_most_100() -> None:
    error = error_of(lambda: with_dev(alarms=AlarmThresholds(aurora_cpu_percent=120)))
    assert_one_line(error, "dev", "alarms.aurora_cpu_percent", "at most 100")

"""Wrong types and unknown fields: one line naming the environment, the field and the expected
type, never a pydantic ValidationError or a TypeError; enums written as their strings; where a
bad section value is reported (by the environment that takes it)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest

from cdk_constructs.options import CpuArchitecture, NatMode, WebRuntime
from stacks.config import APP_CONFIG, AppConfig, EnvironmentConfig, validate_app_config
from stacks.config.sections import NetworkConfig, WebConfig
from tests.config_helpers import (
    DEV,
    assert_one_line,
    error_of,
    with_dev,
    with_github,
    with_section,
)


def changed(env_name: str, field_name: str, value: Any) -> AppConfig:
    """The shipped config with one field of the app (``*``) or of dev set to ``value``."""
    section, _, name = field_name.rpartition(".")
    if section == "github":
        return with_github(**{name: value})
    if env_name == "*":
        return replace(APP_CONFIG, **{name: value})
    return with_section(section, **{name: value}) if section else with_dev(**{name: value})


@pytest.mark.parametrize(
    ("env_name", "field_name", "value", "given", "expected"),
    [
        ("*", "app_name", 5, "an int", "a string"),
        ("dev", "region", 5, "an int", "a string"),
        ("dev", "retain_data", "yes", "a str", "boolean"),
        ("dev", "log_retention_days", "14", "a str", "integer"),
        ("dev", "network.vpc_cidr", 5, "an int", "string"),
        ("dev", "network.nat_mode", 5, "an int", "NatMode"),
        ("dev", "network.interface_endpoints", ["execute-api"], "a list", "a tuple"),
        ("dev", "database.min_capacity", "0", "a str", "a number"),
        ("dev", "database.proxy", "no", "a str", "boolean"),
        ("dev", "api.memory_mb", "512", "a str", "integer"),
        ("dev", "api.image_tag", 7, "an int", "string or None"),
        ("dev", "web.spot", "yes", "a str", "boolean"),
        ("dev", "web.cpu", "256", "a str", "integer"),
        ("dev", "web.environment", {"A": 1}, "an int", "a string"),
        ("dev", "alarms.lambda_errors", "5", "a str", "number"),
        ("dev", "alarms.aurora_cpu_percent", 85.5, "a float", "an integer"),
        ("dev", "registry.keep_tagged_images", "10", "a str", "integer"),
        ("*", "github.deploy_session_hours", "3", "a str", "integer"),
        ("*", "github.repository", 5, "an int", "a string"),
        ("*", "github.image_sources", {"web": 5}, "an int", "a string"),
        ("dev", "web.min_instances", "two", "a str", "an integer 1..25"),
    ],
)
def test_wrong_type_gives_one_line_naming_field_and_expected_type(
    env_name: str, field_name: str, value: object, given: str, expected: str
) -> None:
    """Each section (top level, network, database, api, web, alarms, registry, github): a
    ConfigError, never a TypeError, naming the field, the type given and the type expected."""
    error = error_of(lambda: changed(env_name, field_name, value))
    assert_one_line(error, env_name, field_name)
    problem = str(error).split("; allowed: ", 1)[0]
    assert f" is {given}" in problem
    assert expected in str(error)


@pytest.mark.parametrize(
    ("section", "changes", "field_name", "allowed_fragment"),
    [
        ("network", {"nat_mode": "instanse"}, "network.nat_mode", "instance"),
        ("web", {"runtime": "fargat"}, "web.runtime", "fargate"),
    ],
)
def test_enum_typo_names_the_allowed_values(
    section: str, changes: dict[str, Any], field_name: str, allowed_fragment: str
) -> None:
    error = error_of(lambda: with_section(section, **changes))
    assert_one_line(error, "dev", field_name, allowed_fragment)


def test_an_enum_value_written_as_its_string_becomes_the_member() -> None:
    """``runtime="fargate"`` is ``WebRuntime.FARGATE``, so code comparing members with ``is``
    treats it as Fargate (and not as App Runner)."""
    config = with_section("web", runtime="fargate", spot=False)
    web = config.environment("dev").web
    assert web.runtime is WebRuntime.FARGATE
    assert web.cpu_architecture is CpuArchitecture.ARM64
    network = NetworkConfig(vpc_cidr="10.0.0.0/16", nat_mode="instance")  # type: ignore[arg-type]
    assert network.nat_mode is NatMode.INSTANCE
    validate_app_config(config)


# --- unknown fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "env_name", "field_name"),
    [
        (lambda: with_dev(web=WebConfig(foo=1)), "dev", "web.foo"),  # type: ignore[call-arg]
        (lambda: with_section("database", max_acus=4), "dev", "database.max_acus"),
        (lambda: with_dev(colour="blue"), "dev", "colour"),
        (lambda: with_github(repo="acme/platform"), "*", "github.repo"),
        (lambda: replace(APP_CONFIG, region="us-east-1"), "*", "region"),  # type: ignore[call-arg]
    ],
)
def test_an_unknown_field_gives_one_line_naming_it_and_the_fields(
    build: Any, env_name: str, field_name: str
) -> None:
    error = error_of(build)
    assert_one_line(error, env_name, field_name)
    assert "has no such field" in str(error)


def test_the_fields_an_unknown_one_is_refused_with() -> None:
    error = error_of(lambda: with_dev(web=WebConfig(foo=1)))  # type: ignore[call-arg]
    assert_one_line(error, "dev", "web.foo", "runtime", "min_instances", "canary_interval_minutes")


def test_a_missing_field_names_it() -> None:
    given = {item.name: getattr(DEV, item.name) for item in fields(DEV) if item.name != "network"}
    error = error_of(lambda: EnvironmentConfig(**given))
    assert_one_line(error, "dev", "network", "NetworkConfig")
    assert "no value given" in str(error)


# --- where a bad value is reported ----------------------------------------------------------


def test_a_section_reports_its_bad_value_through_its_environment() -> None:
    """A section cannot name its environment: built with a bad value it keeps what it was
    given, and the environment that takes it raises, naming itself and the section's field."""
    two: Any = "two"
    web = replace(DEV.web, min_instances=two)
    assert web.min_instances == two
    error = error_of(lambda: replace(DEV, web=web))
    assert_one_line(error, "dev", "web.min_instances", "1..25")
    staging = APP_CONFIG.environment("staging")
    assert_one_line(error_of(lambda: replace(staging, web=web)), "staging", "web.min_instances")


def test_replace_validates_again() -> None:
    assert replace(DEV, branch="feature/x").branch == "feature/x"
    assert_one_line(error_of(lambda: replace(DEV, branch="a..b")), "dev", "branch", "main")
    two: Any = "two"
    fixed = replace(replace(DEV.web, min_instances=two), min_instances=1)
    assert replace(DEV, web=fixed).web.min_instances == 1


def test_an_error_is_a_config_error_never_pydantics() -> None:
    """Nothing of pydantic's shows: no "validation error", no documentation URL."""
    message = str(error_of(lambda: with_section("web", cpu="256")))
    assert "pydantic" not in message
    assert "validation error" not in message.lower()

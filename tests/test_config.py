"""Config validation: every bad value stops the app with one line naming env, field and allowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields, replace
from typing import Any

import botocore.session
import pytest

from cdk_constructs.options import CpuArchitecture, Image, NatMode, WebRuntime
from stacks import delivery
from stacks.config import (
    APP_CONFIG,
    AZ_LETTERS_PER_REGION,
    ApiConfig,
    AppConfig,
    ConfigError,
    DatabaseConfig,
    EnvironmentConfig,
    GitHubConfig,
    NetworkConfig,
    RegistryConfig,
    WebConfig,
    aws_regions,
    check_deployable,
    validate_app_config,
)
from tests.conftest import REPO_ROOT

DEV = APP_CONFIG.environment("dev")


def with_dev(**changes: Any) -> AppConfig:
    """The shipped config with some fields of dev replaced."""
    dev = replace(DEV, **changes)
    return replace(
        APP_CONFIG,
        environments=tuple(dev if env.name == "dev" else env for env in APP_CONFIG.environments),
    )


def with_dev_network(**changes: Any) -> AppConfig:
    return with_dev(network=replace(DEV.network, **changes))


def with_dev_database(**changes: Any) -> AppConfig:
    return with_dev(database=replace(DEV.database, **changes))


def with_dev_api(**changes: Any) -> AppConfig:
    return with_dev(api=replace(DEV.api, **changes))


def with_web(env_name: str, **changes: Any) -> AppConfig:
    """The shipped config with some ``web`` fields of one environment replaced."""
    return replace(
        APP_CONFIG,
        environments=tuple(
            replace(env, web=replace(env.web, **changes)) if env.name == env_name else env
            for env in APP_CONFIG.environments
        ),
    )


REAL_ACCOUNTS = {"dev": "123456789012", "staging": "234567890123", "prod": "345678901234"}
REAL_REPOSITORY = "acme-platform/serverless-three-tier"
REAL_ZONE = "acme-platform.dev"


def real_config() -> AppConfig:
    """The shipped config with every placeholder replaced by a real-looking value."""
    environments = []
    for env in APP_CONFIG.environments:
        web = env.web
        if web.domain_name is not None:
            web = replace(
                web,
                domain_name=f"www.{REAL_ZONE}",
                hosted_zone_id="Z04517272K5GTIXMX3VQX",
                hosted_zone_name=REAL_ZONE,
            )
        environments.append(
            replace(
                env,
                account=REAL_ACCOUNTS[env.name],
                alert_email=f"alerts-{env.name}@{REAL_ZONE}",
                web=web,
            )
        )
    return replace(
        APP_CONFIG,
        environments=tuple(environments),
        github=replace(APP_CONFIG.github, repository=REAL_REPOSITORY),
    )


def error_of(config: AppConfig) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        validate_app_config(config)
    return caught.value


def assert_one_line(error: ConfigError, env: str, field: str, *allowed_fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"config error: environment '{env}', field '{field}': ")
    allowed = message.split("; allowed: ", 1)[1]
    for fragment in allowed_fragments:
        assert fragment in allowed


def test_shipped_config_is_valid() -> None:
    validate_app_config(APP_CONFIG)
    assert APP_CONFIG.environment_names == ("dev", "staging", "prod")


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a", ""])
def test_malformed_account_id(account: str) -> None:
    assert_one_line(error_of(with_dev(account=account)), "dev", "account", "12 digits")


def test_availability_zone_not_in_region() -> None:
    error = error_of(with_dev(availability_zones=("us-east-1a", "eu-west-1b")))
    assert_one_line(error, "dev", "availability_zones", "us-east-1a")
    assert "'eu-west-1b' is not a zone of region us-east-1" in str(error)


@pytest.mark.parametrize(
    "zones",
    [("us-east-1a",), ("us-east-1a", "us-east-1b", "us-east-1c"), ("us-east-1a", "us-east-1a")],
)
def test_not_exactly_two_availability_zones(zones: tuple[str, ...]) -> None:
    assert_one_line(
        error_of(with_dev(availability_zones=zones)), "dev", "availability_zones", "two"
    )


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.1/16", "not-a-cidr", "300.0.0.0/16"])
def test_invalid_cidr(cidr: str) -> None:
    error = error_of(with_dev_network(vpc_cidr=cidr))
    assert_one_line(error, "dev", "network.vpc_cidr", "/16 to /21")
    assert "is not a valid CIDR" in str(error)


@pytest.mark.parametrize("cidr", ["10.0.0.0/22", "10.0.0.0/24"])
def test_cidr_too_small_for_six_subnets(cidr: str) -> None:
    error = error_of(with_dev_network(vpc_cidr=cidr))
    assert_one_line(error, "dev", "network.vpc_cidr", "6 subnets of /24 or larger")
    assert "too small" in str(error)


def test_smallest_allowed_cidr_is_accepted() -> None:
    validate_app_config(with_dev_network(vpc_cidr="10.0.0.0/21"))


def test_one_branch_mapped_to_two_environments() -> None:
    error = error_of(with_dev(branch="main"))  # prod deploys main
    assert_one_line(error, "prod", "branch", "one environment per branch")
    assert "already deploys environment 'dev'" in str(error)


@pytest.mark.parametrize("email", ["alerts", "alerts@", "@example.com", "a b@example.com", "a@b"])
def test_invalid_alert_email(email: str) -> None:
    assert_one_line(error_of(with_dev(alert_email=email)), "dev", "alert_email", "name@domain.tld")


def test_unknown_interface_endpoint_name() -> None:
    error = error_of(with_dev_network(interface_endpoints=("execute-api", "secrets-manager")))
    assert_one_line(error, "dev", "network.interface_endpoints", "secretsmanager", "execute-api")
    assert "'secrets-manager' is not a known endpoint name" in str(error)


def test_unknown_nat_mode() -> None:
    error = error_of(with_dev_network(nat_mode="nat_gateway"))
    assert_one_line(
        error, "dev", "network.nat_mode", "gateway_per_az", "single_gateway", "instance"
    )


def test_unsupported_log_retention() -> None:
    error = error_of(with_dev(log_retention_days=10))
    assert_one_line(error, "dev", "log_retention_days", "14", "3653")


def test_shipped_database_profiles() -> None:
    """dev pauses at 0 ACU without proxy or reader; staging and prod keep 0.5 ACU behind a proxy."""
    dev, staging, prod = (
        APP_CONFIG.environment(name).database for name in APP_CONFIG.environment_names
    )
    assert (dev.min_capacity, dev.proxy, dev.readers) == (0, False, 0)
    assert (staging.min_capacity, staging.proxy, staging.readers) == (0.5, True, 0)
    assert (prod.min_capacity, prod.proxy, prod.readers) == (0.5, True, 1)


def test_proxy_with_zero_acu_is_refused() -> None:
    error = error_of(with_dev_database(proxy=True, min_capacity=0))
    assert_one_line(error, "dev", "database.proxy", "proxy=False with min_capacity 0")
    assert "never pauses" in str(error)
    assert "8 ACUs" in str(error)


def test_min_capacity_above_max_capacity() -> None:
    error = error_of(with_dev_database(min_capacity=4, max_capacity=2))
    assert_one_line(error, "dev", "database.min_capacity", "min_capacity <= max_capacity")


@pytest.mark.parametrize(
    ("field_name", "value"), [("min_capacity", 0.25), ("max_capacity", 2.7), ("max_capacity", 1.2)]
)
def test_capacity_off_the_half_acu_grid(field_name: str, value: float) -> None:
    error = error_of(with_dev_database(**{field_name: value}))
    assert_one_line(error, "dev", f"database.{field_name}", "multiple of 0.5")


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("min_capacity", -0.5), ("max_capacity", 0.5), ("max_capacity", 257), ("max_capacity", "4")],
)
def test_capacity_out_of_range(field_name: str, value: object) -> None:
    error = error_of(with_dev_database(**{field_name: value}))
    assert_one_line(error, "dev", f"database.{field_name}", "256 ACUs")


@pytest.mark.parametrize("readers", [2, -1, True])
def test_more_than_one_reader(readers: object) -> None:
    error = error_of(with_dev_database(readers=readers))
    assert_one_line(error, "dev", "database.readers", "0 or 1")


@pytest.mark.parametrize("days", [0, 36, 7.5])
def test_backup_retention_outside_1_to_35(days: object) -> None:
    error = error_of(with_dev_database(backup_retention_days=days))
    assert_one_line(error, "dev", "database.backup_retention_days", "1..35")


@pytest.mark.parametrize("version", ["16.2", "17.3", "15.7", "18.0", "16", "latest"])
def test_engine_version_that_cannot_scale_to_zero(version: str) -> None:
    error = error_of(with_dev_database(engine_version=version))
    assert_one_line(error, "dev", "database.engine_version", "16.3", "17.4")


@pytest.mark.parametrize("minutes", [4, 1441])
def test_auto_pause_outside_aurora_limits(minutes: int) -> None:
    error = error_of(with_dev_database(auto_pause_minutes=minutes))
    assert_one_line(error, "dev", "database.auto_pause_minutes", "5..1440")


@pytest.mark.parametrize("tag", ["", "-v1", "v 1", "a" * 129, "v1:latest"])
def test_api_image_tag_that_ecr_would_refuse(tag: str) -> None:
    assert_one_line(error_of(with_dev_api(image_tag=tag)), "dev", "api.image_tag", "ECR tag")


def test_api_image_tag_accepted() -> None:
    validate_app_config(with_dev_api(image_tag="3f2c1e0-build.7"))


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
    error = error_of(with_dev_api(**{field_name: value}))
    assert_one_line(error, "dev", f"api.{field_name}", allowed)


def test_api_burst_below_rate() -> None:
    error = error_of(with_dev_api(throttle_rate_limit=100, throttle_burst_limit=50))
    assert_one_line(error, "dev", "api.throttle_burst_limit", ">= throttle_rate_limit")


def test_shipped_web_profiles() -> None:
    dev, staging, prod = (APP_CONFIG.environment(name).web for name in APP_CONFIG.environment_names)
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
        with_web("dev", runtime=WebRuntime(runtime), spot=False, cpu=cpu, memory_mib=memory)
    )
    assert_one_line(error, "dev", "web.cpu/web.memory_mib", "cpu 256: memory 512")
    assert f"{runtime} does not offer cpu {cpu} with memory {memory}" in str(error)


def test_web_min_above_max() -> None:
    error = error_of(with_web("dev", min_instances=3, max_instances=2))
    assert_one_line(error, "dev", "web.min_instances", "min_instances <= max_instances")


def test_spot_with_app_runner() -> None:
    error = error_of(with_web("dev", runtime=WebRuntime.APP_RUNNER, spot=True))
    assert_one_line(error, "dev", "web.spot", "spot=False with app_runner")


@pytest.mark.parametrize("path", ["healthz", "", "http://x/healthz"])
def test_health_path_must_start_with_a_slash(path: str) -> None:
    assert_one_line(error_of(with_web("dev", health_path=path)), "dev", "web.health_path", "/")


def test_production_needs_a_domain_or_explicit_plain_http() -> None:
    error = error_of(with_web("prod", domain_name=None, hosted_zone_id=None, hosted_zone_name=None))
    assert_one_line(error, "prod", "web.domain_name", "allow_plain_http=True")
    validate_app_config(
        with_web(
            "prod",
            domain_name=None,
            hosted_zone_id=None,
            hosted_zone_name=None,
            allow_plain_http=True,
        )
    )


def test_domain_outside_its_zone() -> None:
    error = error_of(with_web("prod", domain_name="www.example.org"))
    assert_one_line(error, "prod", "web.hosted_zone_name", "contains domain_name")


def test_domain_without_zone() -> None:
    error = error_of(with_web("dev", domain_name="dev.example.com"))
    assert_one_line(error, "dev", "web.hosted_zone_id", "hosted_zone_id")


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.1/24", "anywhere"])
def test_invalid_ingress_cidr(cidr: str) -> None:
    error = error_of(with_web("dev", allowed_ingress_cidrs=(cidr,)))
    assert_one_line(error, "dev", "web.allowed_ingress_cidrs", "IPv4 CIDRs")


@pytest.mark.parametrize("minutes", [0, 61])
def test_canary_interval_out_of_range(minutes: int) -> None:
    error = error_of(with_web("dev", canary_interval_minutes=minutes))
    assert_one_line(error, "dev", "web.canary_interval_minutes", "1..60")


def test_unknown_web_runtime() -> None:
    error = error_of(with_web("dev", runtime="lambda"))
    assert_one_line(error, "dev", "web.runtime", "fargate", "app_runner")


def test_unknown_environment_selected_with_context() -> None:
    with pytest.raises(ConfigError) as caught:
        APP_CONFIG.select("qa")
    assert_one_line(caught.value, "qa", "env (-c env=...)", "dev, staging, prod")


def test_no_context_selects_every_environment() -> None:
    assert APP_CONFIG.select(None) == APP_CONFIG.environments
    assert APP_CONFIG.select("prod") == (APP_CONFIG.environment("prod"),)


def test_deploy_refuses_placeholder_account() -> None:
    assert DEV.is_placeholder_account
    with pytest.raises(ConfigError) as caught:
        check_deployable(APP_CONFIG, "dev")
    assert_one_line(caught.value, "dev", "account", "real 12-digit")


def test_deploy_accepts_a_fully_real_config() -> None:
    """Real accounts, repository, e-mail, domain and zone: every environment may deploy."""
    config = real_config()
    for name in config.environment_names:
        env: EnvironmentConfig = check_deployable(config, name)
        assert env.account == REAL_ACCOUNTS[name]


def run_python(
    *args: str, context: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21,22"}
    if context is not None:
        environment["CDK_CONTEXT_JSON"] = json.dumps(context)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_config_command_refuses_placeholder_in_one_line() -> None:
    result = run_python("-m", "stacks.config", "deployable", "staging")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert lines[0].startswith("config error: environment 'staging', field 'account': ")


def test_app_exits_with_one_line_for_an_unknown_environment() -> None:
    result = run_python("app.py", context={"env": "qa"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "config error: environment 'qa', field 'env (-c env=...)': not a configured environment; "
        "allowed: dev, staging, prod"
    ]


def test_app_exits_with_one_line_for_an_image_tag_without_its_environment() -> None:
    """The deploy workflow's -c <image>_image_tag=... goes with -c env (a bad tag value is
    refused like any config value: see test_api_image_tag_that_ecr_would_refuse)."""
    field_name = "web_image_tag (-c web_image_tag=...)"
    result = run_python("app.py", context={"web_image_tag": "abc123"})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"field '{field_name}'" in lines[0]


def test_readme_documents_every_config_knob() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    knobs = [f"`{field.name}`" for field in fields(AppConfig)]
    knobs += [f"`{field.name}`" for field in fields(EnvironmentConfig)]
    knobs += [f"`network.{field.name}`" for field in fields(NetworkConfig)]
    knobs += [f"`database.{field.name}`" for field in fields(DatabaseConfig)]
    knobs += [f"`api.{field.name}`" for field in fields(ApiConfig)]
    knobs += [f"`web.{field.name}`" for field in fields(WebConfig)]
    knobs += [f"`registry.{field.name}`" for field in fields(RegistryConfig)]
    knobs += [f"`github.{field.name}`" for field in fields(GitHubConfig)]
    missing = [knob for knob in knobs if knob not in readme]
    assert missing == []


# --- github -------------------------------------------------------------------------------------


def with_github(**changes: Any) -> AppConfig:
    return replace(APP_CONFIG, github=replace(APP_CONFIG.github, **changes))


@pytest.mark.parametrize(
    "repository", ["example-org", "org/repo/extra", "-org/repo", "org/re po", "org/"]
)
def test_github_repository_must_be_owner_slash_repo(repository: str) -> None:
    error = error_of(with_github(repository=repository))
    assert_one_line(error, "*", "github.repository", "OWNER/REPO")


def test_existing_oidc_provider_must_belong_to_its_account() -> None:
    dev = APP_CONFIG.environment("dev")
    other = "arn:aws:iam::999999999999:oidc-provider/token.actions.githubusercontent.com"
    error = error_of(with_github(existing_oidc_providers={dev.account: other}))
    assert_one_line(error, "*", f"github.existing_oidc_providers['{dev.account}']", "oidc-provider")
    mine = other.replace("999999999999", dev.account)
    validate_app_config(with_github(existing_oidc_providers={dev.account: mine}))
    unknown = with_github(existing_oidc_providers={"999999999999": other})
    assert "for an account in" in str(error_of(unknown))


@pytest.mark.parametrize("source", ["../web", "/abs/web", "a/../../b"])
def test_image_source_must_be_a_folder_of_the_repository(source: str) -> None:
    error = error_of(with_github(image_sources={Image.WEB: source}))
    assert_one_line(error, "*", "github.image_sources['web']", "relative path")


@pytest.mark.parametrize("hours", [0, 13])
def test_deploy_session_hours_out_of_range(hours: int) -> None:
    error = error_of(with_github(deploy_session_hours=hours))
    assert_one_line(error, "*", "github.deploy_session_hours", "1..12")


# --- Lambda reserved concurrency on a new account -------------------------------------------------

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
    validate_app_config(with_dev_api(reserved_concurrency=50))


# --- Fargate Spot and the CPU architecture --------------------------------------------------------


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


# --- Placeholders: `check` accepts them, `deployable` refuses them --------------------------------


def real_with(env_name: str, **changes: Any) -> AppConfig:
    """The fully real config with some fields of one environment (``web`` as a dict) replaced."""
    config = real_config()
    env = config.environment(env_name)
    web_changes = changes.pop("web", {})
    env = replace(env, web=replace(env.web, **web_changes), **changes)
    return replace(
        config,
        environments=tuple(env if e.name == env_name else e for e in config.environments),
    )


def deploy_error(config: AppConfig, env_name: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_deployable(config, env_name)
    return caught.value


def test_shipped_placeholders_pass_validation_but_not_deployable() -> None:
    validate_app_config(APP_CONFIG)  # synth and tests run on the shipped config
    for name in APP_CONFIG.environment_names:
        assert "placeholder" in str(deploy_error(APP_CONFIG, name))


@pytest.mark.parametrize(
    ("env_name", "changes", "field_name", "allowed_fragment"),
    [
        ("staging", {"account": "222222222222"}, "account", "real 12-digit"),
        ("dev", {"alert_email": "alerts-dev@example.com"}, "alert_email", "RFC 2606"),
        ("dev", {"alert_email": "ops@mail.example.org"}, "alert_email", "example.org"),
        ("dev", {"alert_email": "ops@team.example"}, "alert_email", ".example"),
        (
            "prod",
            {"web": {"domain_name": "www.example.com", "hosted_zone_name": "example.com"}},
            "web.domain_name",
            "example.com",
        ),
        (
            "prod",
            {"web": {"hosted_zone_id": "Z0123456789EXAMPLE0"}},
            "web.hosted_zone_id",
            "Route 53 hosted zone",
        ),
        (
            "prod",
            {"web": {"domain_name": "www.example.net", "hosted_zone_name": "example.net"}},
            "web.domain_name",
            "example.net",
        ),
    ],
)
def test_deployable_refuses_each_placeholder_in_one_line(
    env_name: str, changes: dict[str, Any], field_name: str, allowed_fragment: str
) -> None:
    config = real_with(env_name, **changes)
    validate_app_config(config)
    assert_one_line(deploy_error(config, env_name), env_name, field_name, allowed_fragment)


def test_deployable_refuses_a_placeholder_zone_name() -> None:
    """A zone still named after the example, here on an environment without a domain."""
    config = real_with(
        "prod",
        web={
            "domain_name": None,
            "hosted_zone_name": "example.com",
            "allow_plain_http": True,
        },
    )
    validate_app_config(config)
    assert_one_line(deploy_error(config, "prod"), "prod", "web.hosted_zone_name", "RFC 2606")


def test_deployable_refuses_the_shipped_github_repository() -> None:
    config = replace(
        real_config(), github=replace(APP_CONFIG.github, repository=APP_CONFIG.github.repository)
    )
    assert_one_line(deploy_error(config, "dev"), "dev", "github.repository", "OWNER/REPO")


def test_both_deploy_paths_ask_deployable(capsys: pytest.CaptureFixture[str]) -> None:
    """``make deploy`` (require_env: ``python -m stacks.config deployable``) and the deploy
    workflow (``python -m stacks.delivery plan``) refuse a placeholder domain in one line."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "@$(PY) -m stacks.config deployable $(ENV)" in makefile
    for target in ("deploy", "diff", "bootstrap"):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "$(require_env)" in recipe, target
    config = real_with(
        "prod", web={"domain_name": "www.example.com", "hosted_zone_name": "example.com"}
    )
    assert delivery.main(["plan", "prod"], config) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "environment 'prod', field 'web.domain_name'" in captured.err


# --- Regions and zones AWS would refuse ------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-9", "xx-west-1", "eu-west"])
def test_unknown_region_is_refused(region: str) -> None:
    error = error_of(with_dev(region=region, availability_zones=(f"{region}a", f"{region}b")))
    assert_one_line(error, "dev", "region", "us-east-1", "eu-west-1")


@pytest.mark.parametrize("zone", ["us-east-1z", "us-east-1g"])
def test_zone_letter_outside_the_region_is_refused(zone: str) -> None:
    error = error_of(with_dev(availability_zones=("us-east-1a", zone)))
    assert_one_line(error, "dev", "availability_zones", "us-east-1a", "us-east-1f")
    assert f"'{zone}' is not a zone of region us-east-1" in str(error)


def test_zones_of_another_region_are_accepted_where_it_has_them() -> None:
    validate_app_config(
        with_dev(region="ca-central-1", availability_zones=("ca-central-1a", "ca-central-1d"))
    )
    error = error_of(with_dev(region="eu-west-3", availability_zones=("eu-west-3a", "eu-west-3d")))
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


def test_without_botocore_the_region_format_is_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workflows' first steps run on a bare Python (no botocore): no crash, format only."""
    monkeypatch.setitem(sys.modules, "botocore.loaders", None)
    aws_regions.cache_clear()
    try:
        assert aws_regions() is None
        validate_app_config(APP_CONFIG)
        assert_one_line(error_of(with_dev(region="Virginia")), "dev", "region", "us-east-1")
    finally:
        monkeypatch.undo()
        aws_regions.cache_clear()


# --- Wrong types: one line naming the field and the expected type, never a traceback ----------


def with_section(section: str, **changes: Any) -> AppConfig:
    return with_dev(**{section: replace(getattr(DEV, section), **changes)})


@pytest.mark.parametrize(
    ("config", "env_name", "field_name", "given", "expected"),
    [
        (lambda: replace(APP_CONFIG, app_name=5), "*", "app_name", "an int", "a string"),  # type: ignore[arg-type]
        (lambda: with_dev(region=5), "dev", "region", "an int", "a string"),
        (lambda: with_dev(retain_data="yes"), "dev", "retain_data", "a str", "boolean"),
        (
            lambda: with_dev(log_retention_days="14"),
            "dev",
            "log_retention_days",
            "a str",
            "integer",
        ),
        (
            lambda: with_section("network", vpc_cidr=5),
            "dev",
            "network.vpc_cidr",
            "an int",
            "string",
        ),
        (
            lambda: with_section("network", nat_mode=5),
            "dev",
            "network.nat_mode",
            "an int",
            "NatMode",
        ),
        (
            lambda: with_section("network", interface_endpoints=["execute-api"]),
            "dev",
            "network.interface_endpoints",
            "a list",
            "a tuple",
        ),
        (
            lambda: with_section("database", min_capacity="0"),
            "dev",
            "database.min_capacity",
            "a str",
            "a number",
        ),
        (lambda: with_section("database", proxy="no"), "dev", "database.proxy", "a str", "boolean"),
        (lambda: with_section("api", memory_mb="512"), "dev", "api.memory_mb", "a str", "integer"),
        (
            lambda: with_section("api", image_tag=7),
            "dev",
            "api.image_tag",
            "an int",
            "string or None",
        ),
        (lambda: with_section("web", spot="yes"), "dev", "web.spot", "a str", "boolean"),
        (lambda: with_section("web", cpu="256"), "dev", "web.cpu", "a str", "integer"),
        (
            lambda: with_section("web", environment={"A": 1}),
            "dev",
            "web.environment",
            "an int",
            "a string",
        ),
        (
            lambda: with_section("alarms", lambda_errors="5"),
            "dev",
            "alarms.lambda_errors",
            "a str",
            "number",
        ),
        (
            lambda: with_section("alarms", aurora_cpu_percent=85.5),
            "dev",
            "alarms.aurora_cpu_percent",
            "a float",
            "an integer",
        ),
        (
            lambda: with_section("registry", keep_tagged_images="10"),
            "dev",
            "registry.keep_tagged_images",
            "a str",
            "integer",
        ),
        (
            lambda: with_github(deploy_session_hours="3"),
            "*",
            "github.deploy_session_hours",
            "a str",
            "integer",
        ),
        (lambda: with_github(repository=5), "*", "github.repository", "an int", "a string"),
        (
            lambda: with_github(image_sources={"web": 5}),
            "*",
            "github.image_sources",
            "an int",
            "a string",
        ),
    ],
)
def test_wrong_type_gives_one_line_naming_field_and_expected_type(
    config: Any, env_name: str, field_name: str, given: str, expected: str
) -> None:
    """Each section (top level, network, database, api, web, alarms, registry, github): a
    ConfigError, never a TypeError, naming the field, the type given and the type expected."""
    error = error_of(config())
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
    assert_one_line(error_of(with_section(section, **changes)), "dev", field_name, allowed_fragment)


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

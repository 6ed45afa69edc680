"""``python -m preflight ENV [--ci]``: one line per check, exit 1 on any FAIL.

First, failing fast with one line: the environment is deployable (config), there are
credentials and they are for the environment's account; with ``--ci`` (or GITHUB_ACTIONS=true)
the checks then read through the CDK bootstrap's lookup role, which has ReadOnlyAccess and
which the GitHub deploy role may assume (it may assume only the bootstrap roles). Then every
check that applies runs; an unexpected error in one is a FAIL line for it, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from preflight import CheckResult, Status
from preflight.capacity import check_elastic_ips, check_lambda_concurrency, check_nat_gateways
from preflight.checks import (
    CLIENT_CONFIG,
    Check,
    bootstrap_settings,
    check_app_runner,
    check_availability_zones,
    check_bootstrap,
    check_cognito_domain,
    check_deploy_role,
    check_edge_region_bootstrap,
    check_hosted_zone,
    check_vpc_origin_zones,
    error_code,
)
from preflight.release import check_ecs_release_strategy
from stacks.config import (
    APP_CONFIG,
    AppConfig,
    ConfigError,
    EnvironmentConfig,
    check_deployable,
    runtime_spec,
)

SessionFactory = Callable[..., boto3.Session]
"""Makes the boto3 sessions (``boto3.Session``; tests pass one whose clients moto or a botocore
Stubber answer)."""


RUNTIME_CHECKS: Mapping[str, Check] = {
    "app-runner": check_app_runner,
    "ecs-release-strategy": check_ecs_release_strategy,
    "edge-region-bootstrap": check_edge_region_bootstrap,
    "vpc-origin-zones": check_vpc_origin_zones,
}
"""The checks a web runtime may need, by the names its spec lists (``preflight_checks``)."""


def selected(env: EnvironmentConfig, *, ci: bool) -> list[tuple[str, Check]]:
    """The checks that apply to this environment, by name, in the order they run."""
    chosen: list[tuple[str, Check]] = [("bootstrap", check_bootstrap)]
    if ci:
        chosen.append(("deploy-role", check_deploy_role))
    chosen += [
        ("availability-zones", check_availability_zones),
        ("lambda-concurrency", check_lambda_concurrency),
        ("elastic-ips", check_elastic_ips),
        ("nat-gateways", check_nat_gateways),
    ]
    if env.web.domain_name:
        chosen.append(("hosted-zone", check_hosted_zone))
    chosen += [
        (name, RUNTIME_CHECKS[name]) for name in runtime_spec(env.web.runtime).preflight_checks
    ]
    chosen.append(("cognito-domain", check_cognito_domain))
    return chosen


def _failure(error: Exception) -> str:
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"AWS error {error_code(error)}" + (f": {message}" if message else "")
    return f"{type(error).__name__}: {error}"


def _guarded(
    name: str, check: Check, session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    try:
        return check(session, app, env)
    except Exception as error:  # one FAIL line for this check; the others still run
        rerun = f"make preflight ENV={env.name}"
        if isinstance(error, ClientError):
            fix = f"check that the caller may make this read-only call, then {rerun}"
        else:
            fix = f"check the network and that {env.region} offers the service, then {rerun}"
        return CheckResult.failed(name, _failure(error), fix)


def _caller(session: boto3.Session, env: EnvironmentConfig) -> tuple[CheckResult, str]:
    """Whose credentials these are, and the partition (``aws``) of their ARN."""
    fix = (
        f"get credentials for account {env.account} (aws sso login --profile P, then export "
        "AWS_PROFILE=P); in the workflow, run after 'Assume the deploy role'"
    )
    try:
        identity = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        return CheckResult.failed(
            "credentials", f"no usable credentials ({_failure(error)})", fix
        ), ""
    arn = identity["Arn"]
    if identity["Account"] != env.account:
        detail = f"{arn} is in account {identity['Account']}, '{env.name}' is in {env.account}"
        return CheckResult.failed("credentials", detail, fix), ""
    return CheckResult.passed("credentials", arn), arn.split(":")[1]


def _lookup_role_session(
    session: boto3.Session, env: EnvironmentConfig, partition: str, factory: SessionFactory
) -> tuple[CheckResult, boto3.Session | None]:
    # The bundled bootstrap template (node_modules/aws-cdk/lib/api/bootstrap/) gives the
    # LookupRole "ManagedPolicyArns: arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess" and
    # trusts the account; the GitHub deploy role may assume it (CDK_BOOTSTRAP_ROLES).
    qualifier, _ = bootstrap_settings()
    name = f"cdk-{qualifier}-lookup-role-{env.account}-{env.region}"
    role = f"arn:{partition}:iam::{env.account}:role/{name}"
    try:
        credentials = session.client("sts", config=CLIENT_CONFIG).assume_role(
            RoleArn=role, RoleSessionName=f"preflight-{env.name}", DurationSeconds=900
        )["Credentials"]
    except (ClientError, BotoCoreError) as error:
        return CheckResult.failed(
            "read-access",
            f"cannot assume {role} ({_failure(error)})",
            f"make bootstrap ENV={env.name} from a laptop: the CDK bootstrap creates this "
            "read-only role, which the deploy role may assume",
        ), None
    reader = factory(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=env.region,
    )
    return CheckResult.passed("read-access", f"reading through {role}"), reader


def run(
    config: AppConfig, env_name: str, *, ci: bool, session_factory: SessionFactory
) -> Iterator[CheckResult]:
    """Every check's result, in order; stops after a failed config, credentials or read-access."""
    try:
        env = check_deployable(config, env_name)
    except ConfigError as error:
        fix = "edit stacks/config/environments.py (python -m stacks.config check re-checks it)"
        yield CheckResult.failed("config", str(error), fix)
        return
    yield CheckResult.passed("config", f"'{env.name}' deploys to {env.account}/{env.region}")
    session = session_factory(region_name=env.region)
    result, partition = _caller(session, env)
    yield result
    if result.status is Status.FAIL:
        return
    if ci:
        result, reader = _lookup_role_session(session, env, partition, session_factory)
        yield result
        if reader is None:
            return
        session = reader
    for name, check in selected(env, ci=ci):
        yield _guarded(name, check, session, config, env)


def main(
    argv: Sequence[str] | None = None,
    config: AppConfig = APP_CONFIG,
    session_factory: SessionFactory = boto3.Session,
    environ: Mapping[str, str] = os.environ,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m preflight", description="Read-only checks of an environment's account."
    )
    parser.add_argument("env", help="environment name (stacks/config/environments.py)")
    parser.add_argument(
        "--ci",
        action="store_true",
        help="deploy workflow run (implied by GITHUB_ACTIONS=true): also check the GitHub "
        "deploy role, and read through the CDK bootstrap lookup role",
    )
    args = parser.parse_args(argv)
    ci = bool(args.ci) or environ.get("GITHUB_ACTIONS") == "true"
    failed = False
    for result in run(config, args.env, ci=ci, session_factory=session_factory):
        print(result.line, flush=True)
        failed |= result.status is Status.FAIL
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

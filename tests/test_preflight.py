"""make preflight: every check against a moto account (botocore's Stubber where moto lacks an
API: Lambda's GetAccountSettings, App Runner), a ready account passing, each check failing with
its line; and the numbers it relies on pinned to where they come from. No CDK synth, no AWS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
import yaml
from botocore.credentials import CredentialResolver
from botocore.stub import Stubber
from moto import mock_aws

from cdk_constructs.github_deploy_role import CDK_BOOTSTRAP_ROLES
from cdk_constructs.options import NatMode, WebRuntime
from preflight.__main__ import main, selected
from preflight.capacity import nat_gateways_per_zone
from preflight.checks import BOOTSTRAP_VERSION, bootstrap_settings
from stacks.config import (
    APP_CONFIG,
    ApiConfig,
    AppConfig,
    EnvironmentConfig,
    NetworkConfig,
    WebConfig,
    cognito_domain_prefix,
    deploy_role_name,
    stack_name,
)
from tests.conftest import REPO_ROOT

ACCOUNT = "123456789012"
"""moto's default account: the environments under test are moved there."""
REGION = "us-east-1"
SNAPSHOTS = REPO_ROOT / "tests" / "__snapshots__" / "test_snapshots"


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials, no profile, config file or endpoint override, and moto answering every
    call: no test can reach AWS (and GITHUB_ACTIONS of a CI runner does not leak in)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "GITHUB_ACTIONS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield


_MODELS = botocore.loaders.create_loader()
"""One cache of botocore's service models for every session of the module (keeps it fast)."""


def core_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _MODELS)
    return session


class StubbedSession(boto3.Session):
    """A boto3 Session that hands out the given (Stubber-backed) clients; moto answers the rest."""

    def __init__(self, given: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(botocore_session=core_session(), **kwargs)
        self.given = given

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name in self.given:
            return self.given[service_name]
        # The stubs type client() per service name literal; this passes any name through.
        return super().client(service_name, *args, **kwargs)  # type: ignore[call-overload]


class FakeAccount:
    """The moto account, made ready for a deploy step by step; Stubbers for what moto lacks."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        self.session = boto3.Session(botocore_session=core_session(), region_name=REGION)

    def stubber(self, service: str) -> Stubber:
        """The Stubber that answers every call preflight makes to this service, in order."""
        if service not in self.stubbers:
            self.clients[service] = self.session.client(service)  # type: ignore[call-overload]
            self.stubbers[service] = Stubber(self.clients[service])
            self.stubbers[service].activate()
        return self.stubbers[service]

    def bootstrap(self, version: int | None = BOOTSTRAP_VERSION) -> None:
        qualifier, toolkit_stack = bootstrap_settings()
        parameter = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Type": "String",
                "Name": f"/cdk-bootstrap/{qualifier}/version",
                "Value": str(version),
            },
        }
        resources = {"CdkBootstrapVersion": parameter} if version else {"Empty": _OTHER_RESOURCE}
        self.session.client("cloudformation").create_stack(
            StackName=toolkit_stack, TemplateBody=json.dumps({"Resources": resources})
        )

    def unreserved_concurrency(self, executions: int = 1000) -> Stubber:
        stubber = self.stubber("lambda")
        limit = {"UnreservedConcurrentExecutions": executions, "ConcurrentExecutions": 1000}
        stubber.add_response("get_account_settings", {"AccountLimit": limit}, {})
        return stubber

    def hosted_zone(self, name: str, *, private: bool = False) -> str:
        route53 = self.session.client("route53")
        options: dict[str, Any] = {}
        if private:
            vpc = self.session.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
            options = {
                "HostedZoneConfig": {"PrivateZone": True},
                "VPC": {"VPCRegion": REGION, "VPCId": vpc},
            }
        zone = route53.create_hosted_zone(Name=name, CallerReference=name, **options)
        return str(zone["HostedZone"]["Id"].rsplit("/", 1)[-1])

    def run(
        self,
        capsys: pytest.CaptureFixture[str],
        config: AppConfig,
        env_name: str,
        *flags: str,
        environ: Mapping[str, str] | None = None,
    ) -> tuple[int, list[str]]:
        factory = partial(StubbedSession, self.clients)
        code = main([env_name, *flags], config, factory, environ or {})
        return code, capsys.readouterr().out.splitlines()


_OTHER_RESOURCE = {
    "Type": "AWS::SSM::Parameter",
    "Properties": {"Type": "String", "Name": "/some/other/parameter", "Value": "x"},
}


@pytest.fixture
def account() -> FakeAccount:
    return FakeAccount()


OWN_DOMAIN = "acme-widgets.com"
"""Stands in for the shipped example names, which only a deploy (and so preflight) refuses."""


def own_env(env_name: str) -> EnvironmentConfig:
    """A shipped environment moved to moto's account, with real-looking e-mail and domain."""
    env = APP_CONFIG.environment(env_name)
    web = env.web
    if web.domain_name is not None:
        web = replace(
            web,
            domain_name=f"www.{OWN_DOMAIN}",
            hosted_zone_name=OWN_DOMAIN,
            hosted_zone_id="Z0000000000000MISSING",
        )
    return replace(env, account=ACCOUNT, alert_email=f"alerts-{env_name}@{OWN_DOMAIN}", web=web)


def moved(env_name: str, **changes: Any) -> AppConfig:
    """The shipped config with one environment moved to moto's account (and changed), and the
    GitHub repository a real one."""
    env = replace(own_env(env_name), **changes)
    return replace(
        APP_CONFIG,
        github=replace(APP_CONFIG.github, repository="acme-widgets/serverless-three-tier"),
        environments=tuple(env if e.name == env_name else e for e in APP_CONFIG.environments),
    )


def ready(account: FakeAccount, env_name: str, unreserved: int = 1000, **changes: Any) -> AppConfig:
    """A config whose environment the moto account is ready for (bootstrapped, its zone there,
    room for everything), with Lambda's account settings stubbed."""
    account.bootstrap()
    account.unreserved_concurrency(unreserved)
    web = own_env(env_name).web
    if web.hosted_zone_name and "web" not in changes:
        changes["web"] = replace(web, hosted_zone_id=account.hosted_zone(web.hosted_zone_name))
    return moved(env_name, **changes)


def with_web(env_name: str, **web: Any) -> WebConfig:
    return replace(own_env(env_name).web, **web)


def with_nat(env_name: str, nat_mode: NatMode) -> NetworkConfig:
    return replace(own_env(env_name).network, nat_mode=nat_mode)


def reserving(env_name: str, executions: int | None) -> ApiConfig:
    return replace(own_env(env_name).api, reserved_concurrency=executions)


def with_domain(env_name: str, zone_id: str) -> WebConfig:
    domain = {"domain_name": f"www.{OWN_DOMAIN}", "hosted_zone_name": OWN_DOMAIN}
    return with_web(env_name, runtime=WebRuntime.FARGATE, hosted_zone_id=zone_id, **domain)


def line_of(lines: list[str], check: str) -> str:
    (line,) = [line for line in lines if re.match(rf"(PASS|FAIL) {check}: ", line)]
    return line


def names(lines: list[str]) -> list[str]:
    return [line.split(":", 1)[0].split(" ", 1)[1] for line in lines]


# --- a ready account ----------------------------------------------------------------------------


@pytest.mark.parametrize("ci", [False, True], ids=["laptop", "workflow"])
@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_a_ready_account_passes_every_check(
    env_name: str, ci: bool, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, env_name)
    env = config.environment(env_name)
    if ci:
        account.session.client("iam").create_role(
            RoleName=deploy_role_name(config, env), AssumeRolePolicyDocument="{}"
        )
    code, lines = account.run(capsys, config, env_name, *(["--ci"] if ci else []))
    assert [line for line in lines if not line.startswith("PASS ")] == []
    assert code == 0
    gates = ["config", "credentials", *(["read-access"] if ci else [])]
    assert names(lines) == gates + [name for name, _ in selected(env, ci=ci)]
    assert ("hosted-zone" in names(lines)) == (env.web.domain_name is not None)
    if ci:
        lookup_role = f"cdk-hnb659fds-lookup-role-{ACCOUNT}-{REGION}"
        assert lookup_role in line_of(lines, "read-access")


def test_a_missing_deploy_role_fails_in_the_workflow(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")
    # No --ci: GITHUB_ACTIONS=true alone makes it a workflow run.
    code, lines = account.run(capsys, config, "staging", environ={"GITHUB_ACTIONS": "true"})
    assert code == 1
    assert "read-access" in names(lines)
    assert line_of(lines, "deploy-role").startswith(
        "FAIL deploy-role: role three-tier-staging-github-deploy does not exist in 123456789012; "
        "fix: make bootstrap ENV=staging"
    )


def test_app_runner_passes_where_the_account_may_use_it(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging", web=with_web("staging", runtime=WebRuntime.APP_RUNNER))
    account.stubber("apprunner").add_response(
        "list_services", {"ServiceSummaryList": []}, {"MaxResults": 1}
    )
    code, lines = account.run(capsys, config, "staging")
    assert code == 0
    assert line_of(lines, "app-runner").startswith("PASS app-runner: App Runner answers in us-")


# --- failing fast -------------------------------------------------------------------------------


def test_a_placeholder_account_fails_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_session(**_: Any) -> boto3.Session:
        raise AssertionError("no AWS session for an environment that cannot deploy")

    code = main(["dev"], APP_CONFIG, no_session, {})
    (line,) = capsys.readouterr().out.splitlines()
    assert code == 1
    assert line.startswith("FAIL config: config error: environment 'dev', field 'account': ")
    assert line.endswith(
        "; fix: edit stacks/config.py (python -m stacks.config check re-checks it)"
    )


def test_no_credentials_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def without_credentials(**kwargs: Any) -> boto3.Session:
        core = botocore.session.get_session()
        core.register_component("credential_provider", CredentialResolver(providers=[]))
        return boto3.Session(botocore_session=core, **kwargs)

    code = main(["staging"], moved("staging"), without_credentials, {})
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == "PASS config: 'staging' deploys to 123456789012/us-east-1"
    assert lines[1:] == [
        "FAIL credentials: no usable credentials (NoCredentialsError: Unable to locate "
        "credentials); fix: get credentials for account 123456789012 (aws sso login --profile "
        "P, then export AWS_PROFILE=P); in the workflow, run after 'Assume the deploy role'"
    ]


def test_credentials_of_another_account_are_refused(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replace(
        moved("staging"),
        environments=(replace(moved("staging").environment("staging"), account="210987654321"),),
    )
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert lines[1].startswith(
        "FAIL credentials: arn:aws:sts::123456789012:user/moto is in account 123456789012, "
        "'staging' is in 210987654321; fix: get credentials for account 210987654321"
    )
    assert len(lines) == 2


def test_the_workflow_needs_the_lookup_role(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    sts = account.stubber("sts")
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/three-tier-staging-github-deploy/gh"
    sts.add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": caller, "UserId": "AROA:gh"}, {}
    )
    sts.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole")
    code, lines = account.run(capsys, moved("staging"), "staging", "--ci")
    assert code == 1
    assert names(lines) == ["config", "credentials", "read-access"]
    assert lines[-1] == (
        f"FAIL read-access: cannot assume arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-lookup-role-"
        f"{ACCOUNT}-us-east-1 (AWS error AccessDenied: not authorized to perform sts:AssumeRole); "
        "fix: make bootstrap ENV=staging from a laptop: the CDK bootstrap creates this read-only "
        "role, which the deploy role may assume"
    )


# --- each check failing -------------------------------------------------------------------------


def test_an_account_that_is_not_bootstrapped(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.unreserved_concurrency()
    code, lines = account.run(capsys, moved("staging"), "staging")
    assert code == 1
    assert line_of(lines, "bootstrap") == (
        "FAIL bootstrap: no stack CDKToolkit in 123456789012/us-east-1; "
        "fix: make bootstrap ENV=staging (from a laptop, with admin credentials)"
    )
    assert line_of(lines, "cognito-domain").startswith("PASS ")  # the other checks still ran


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        (BOOTSTRAP_VERSION - 1, f"is {BOOTSTRAP_VERSION - 1}, the pinned CDK CLI bootstraps"),
        (None, "not found in 123456789012/us-east-1 (bootstrapped with another qualifier?)"),
    ],
    ids=["older", "no-version-parameter"],
)
def test_a_bootstrap_older_than_the_pinned_cli_or_without_its_version(
    version: int | None, problem: str, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.bootstrap(version)
    account.unreserved_concurrency()
    code, lines = account.run(capsys, moved("staging"), "staging")
    assert code == 1
    line = line_of(lines, "bootstrap")
    assert line.startswith("FAIL bootstrap: /cdk-bootstrap/hnb659fds/version ")
    assert problem in line
    assert "fix: make bootstrap ENV=staging" in line


@pytest.mark.parametrize(
    ("offered", "problem"),
    [
        ({"us-east-1a": "available", "us-east-1b": "impaired"}, "us-east-1b is impaired"),
        ({"us-east-1a": "available"}, "us-east-1b is not offered to this account"),
    ],
    ids=["impaired", "not-offered"],
)
def test_availability_zones_the_account_cannot_use(
    offered: dict[str, str],
    problem: str,
    account: FakeAccount,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ready(account, "dev", network=with_nat("dev", NatMode.INSTANCE))
    zones = [{"ZoneName": zone, "State": state} for zone, state in offered.items()]
    zones.append({"ZoneName": "us-east-1c", "State": "available"})
    account.stubber("ec2").add_response(
        "describe_availability_zones", {"AvailabilityZones": zones}, {}
    )
    code, lines = account.run(capsys, config, "dev")
    assert code == 1
    assert line_of(lines, "availability-zones") == (
        f"FAIL availability-zones: {problem} in us-east-1; fix: set availability_zones of 'dev' "
        "in stacks/config.py to two of: us-east-1a, us-east-1c"
    )


def test_a_reservation_the_account_cannot_hold(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "prod", unreserved=150, api=reserving("prod", 100))
    code, lines = account.run(capsys, config, "prod")
    assert code == 1
    assert line_of(lines, "lambda-concurrency") == (
        "FAIL lambda-concurrency: api.reserved_concurrency 100 needs 200 unreserved executions "
        "(100 always stay unreserved), the account has 150; fix: request a higher 'Concurrent "
        "executions' quota (Service Quotas: AWS Lambda, L-B99A9384), or lower or unset "
        "api.reserved_concurrency of 'prod'"
    )


def test_a_redeploy_counts_the_reservation_the_api_holds_already(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API stack's function holds 100 of the 200 needed: only 100 stay unreserved."""
    config = ready(account, "prod", unreserved=100, api=reserving("prod", 100))
    api_function = _deploy_api_stack_with_a_function(account, config)
    lambda_ = account.stubber("lambda")
    lambda_.add_response(
        "get_function_concurrency",
        {"ReservedConcurrentExecutions": 100},
        {"FunctionName": api_function},
    )
    code, lines = account.run(capsys, config, "prod")
    assert line_of(lines, "lambda-concurrency") == (
        "PASS lambda-concurrency: api.reserved_concurrency 100 needs 200 unreserved executions "
        "(100 always stay unreserved), the account has 100 + 100 this environment's API stack "
        "reserves already"
    )
    assert code == 0
    lambda_.assert_no_pending_responses()


def _deploy_api_stack_with_a_function(account: FakeAccount, config: AppConfig) -> str:
    role = account.session.client("iam").create_role(
        RoleName="api-function", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Role": role,
            "Code": {"ZipFile": "def handler(event, context): pass"},
        },
    }
    cloudformation = account.session.client("cloudformation")
    name = stack_name(config, config.environment("prod"), "api")
    template = {"Resources": {"ItemsFunction": function, "Other": _OTHER_RESOURCE}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    (resource,) = [
        r
        for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    return str(resource["PhysicalResourceId"])


def _allocate_addresses(account: FakeAccount, count: int, tags: Mapping[str, str]) -> list[str]:
    ec2 = account.session.client("ec2")
    spec = [
        {"ResourceType": "elastic-ip", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    ]
    return [
        ec2.allocate_address(Domain="vpc", TagSpecifications=spec if tags else [])["AllocationId"]  # type: ignore[arg-type]
        for _ in range(count)
    ]


def test_too_few_elastic_ips_for_a_nat_gateway_per_az(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "prod", network=with_nat("prod", NatMode.GATEWAY_PER_AZ))
    _allocate_addresses(account, 4, {})
    code, lines = account.run(capsys, config, "prod")
    assert code == 1
    # moto's Service Quotas knows no EC2 quota: the AWS default of 5 applies.
    assert line_of(lines, "elastic-ips") == (
        "FAIL elastic-ips: nat_mode gateway_per_az needs 2 Elastic IPs, 1 free (quota 5, the "
        "AWS default: Service Quotas answered NoSuchResourceException; 4 allocated, 0 of them "
        "this environment's); fix: release unused Elastic IPs (aws ec2 describe-addresses), "
        "request a higher 'EC2-VPC Elastic IPs' quota (L-0263D0A3), or set nat_mode of 'prod' "
        "to instance"
    )


def test_the_environments_own_elastic_ips_count_back(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "prod", network=with_nat("prod", NatMode.GATEWAY_PER_AZ))
    _allocate_addresses(account, 3, {})
    _allocate_addresses(account, 2, {"app": "three-tier", "environment": "prod"})
    code, lines = account.run(capsys, config, "prod")
    assert line_of(lines, "elastic-ips").startswith(
        "PASS elastic-ips: nat_mode gateway_per_az needs 2 Elastic IPs, 2 free"
    )
    assert code == 0


def test_an_az_full_of_nat_gateways(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging", network=with_nat("staging", NatMode.SINGLE_GATEWAY))
    ec2 = account.session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for zone, cidr in (("us-east-1a", "10.8.0.0/24"), ("us-east-1c", "10.8.1.0/24"))
    }
    for zone, count in (("us-east-1a", 5), ("us-east-1c", 1)):
        for allocation in _allocate_addresses(account, count, {}):
            ec2.create_nat_gateway(SubnetId=subnets[zone], AllocationId=allocation)
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert line_of(lines, "nat-gateways").startswith(
        "FAIL nat-gateways: nat_mode single_gateway adds 1 in us-east-1a beside 5 of others "
        "(quota 5 per AZ); fix: delete unused NAT gateways in those AZs, request a higher "
        "'NAT gateways per Availability Zone' quota (L-FE5A380F)"
    )


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        (None, "no hosted zone Z0000000000000MISSING in 123456789012"),
        ("private", "is private"),
        ("acme-widgets.org", "is named acme-widgets.org, not acme-widgets.com, does not hold"),
    ],
    ids=["missing", "private", "another-name"],
)
def test_a_hosted_zone_that_cannot_hold_the_domain(
    zone: str | None, problem: str, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    if zone is None:
        zone_id = "Z0000000000000MISSING"
    elif zone == "private":
        zone_id = account.hosted_zone("example.com", private=True)
    else:
        zone_id = account.hosted_zone(zone)
    config = ready(account, "prod", web=with_domain("prod", zone_id))
    code, lines = account.run(capsys, config, "prod")
    assert code == 1
    line = line_of(lines, "hosted-zone")
    assert line.startswith("FAIL hosted-zone: ")
    assert problem in line
    assert line.endswith(
        "fix: set web.hosted_zone_id and web.hosted_zone_name of 'prod' to the public zone of "
        "this account that holds www.acme-widgets.com (aws route53 list-hosted-zones)"
    )


@pytest.mark.parametrize("code", ["SubscriptionRequiredException", "AccessDeniedException"])
def test_app_runner_closed_to_this_account(
    code: str, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging", web=with_web("staging", runtime=WebRuntime.APP_RUNNER))
    account.stubber("apprunner").add_client_error("list_services", code, "not for you")
    exit_code, lines = account.run(capsys, config, "staging")
    assert exit_code == 1
    assert line_of(lines, "app-runner") == (
        f"FAIL app-runner: App Runner refused ListServices ({code}): it closed to new customers "
        "on 2026-04-30, so an account that never used it cannot run this web tier (or this "
        "principal may not call apprunner:ListServices); fix: set web.runtime of 'staging' to "
        "WebRuntime.FARGATE in stacks/config.py"
    )


def _claim_cognito_domain(account: FakeAccount, prefix: str, tags: Mapping[str, str]) -> str:
    cognito = account.session.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="some-pool", UserPoolTags=dict(tags))["UserPool"]
    cognito.create_user_pool_domain(Domain=prefix, UserPoolId=pool["Id"])
    return str(pool["Id"])


def test_the_cognito_domain_of_another_pool_of_this_account(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")
    prefix = cognito_domain_prefix(config, config.environment("staging"))
    pool = _claim_cognito_domain(account, prefix, {"app": "three-tier", "environment": "dev"})
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert line_of(lines, "cognito-domain") == (
        f"FAIL cognito-domain: three-tier-staging-123456789012 belongs to user pool {pool} "
        "(some-pool) of this account, not to this environment's (tags app=three-tier, "
        "environment=staging); fix: if it is unused, aws cognito-idp delete-user-pool-domain "
        f"--domain three-tier-staging-123456789012 --user-pool-id {pool}; otherwise change "
        "app_name in stacks/config.py"
    )


def test_the_cognito_domain_of_another_account(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")
    prefix = cognito_domain_prefix(config, config.environment("staging"))
    cognito = account.stubber("cognito-idp")
    theirs = {"UserPoolId": "us-east-1_Theirs", "AWSAccountId": "999999999999", "Domain": prefix}
    cognito.add_response(
        "describe_user_pool_domain", {"DomainDescription": theirs}, {"Domain": prefix}
    )
    cognito.add_client_error("describe_user_pool", "ResourceNotFoundException", "no such pool")
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert line_of(lines, "cognito-domain") == (
        "FAIL cognito-domain: three-tier-staging-123456789012 belongs to user pool "
        "us-east-1_Theirs of another AWS account (999999999999); fix: change app_name in "
        "stacks/config.py (the prefix is <app_name>-staging-<account>)"
    )


def test_the_environments_own_cognito_domain_passes(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")
    prefix = cognito_domain_prefix(config, config.environment("staging"))
    pool = _claim_cognito_domain(account, prefix, {"app": "three-tier", "environment": "staging"})
    code, lines = account.run(capsys, config, "staging")
    assert line_of(lines, "cognito-domain") == (
        f"PASS cognito-domain: three-tier-staging-123456789012 is this environment's ({pool})"
    )
    assert code == 0


def test_an_unexpected_aws_error_fails_its_check_only(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.bootstrap()
    account.stubber("lambda").add_client_error(
        "get_account_settings", "ServiceException", "Lambda is having a day", 500
    )
    code, lines = account.run(capsys, moved("staging"), "staging")
    assert code == 1
    assert [line for line in lines if not line.startswith("PASS ")] == [
        "FAIL lambda-concurrency: AWS error ServiceException: Lambda is having a day; fix: check "
        "that the caller may make this read-only call, then make preflight ENV=staging"
    ]
    assert names(lines)[-1] == "cognito-domain"


# --- what the checks rely on, pinned to where it comes from -------------------------------------


def test_the_bootstrap_version_is_the_pinned_clis() -> None:
    """The CLI in node_modules (package.json's pin) bootstraps this version: bump both together."""
    template_file = REPO_ROOT / "node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml"
    assert template_file.is_file(), "run make setup: the pinned CDK CLI is not installed"
    template = yaml.safe_load(template_file.read_text())
    assert int(template["Outputs"]["BootstrapVersion"]["Value"]) == BOOTSTRAP_VERSION
    assert int(template["Resources"]["CdkBootstrapVersion"]["Properties"]["Value"]) == (
        BOOTSTRAP_VERSION
    )
    assert template["Parameters"]["Qualifier"]["Default"] == "hnb659fds"
    assert bootstrap_settings() == ("hnb659fds", "CDKToolkit")  # what cdk.json sets today
    # --ci reads through the lookup role: read-only, and one the GitHub deploy role may assume.
    lookup_role = template["Resources"]["LookupRole"]["Properties"]
    assert lookup_role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}
    ]
    assert "lookup-role" in CDK_BOOTSTRAP_ROLES


def _snapshot_resources(stack: str, env_name: str, kind: str) -> list[dict[str, Any]]:
    template = json.loads((SNAPSHOTS / f"test_stack_snapshot[{stack}-{env_name}].json").read_text())
    return [r for r in template["Resources"].values() if r["Type"] == kind]


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_the_cognito_prefix_is_the_one_the_api_stack_asks_for(env_name: str) -> None:
    (domain,) = _snapshot_resources("api", env_name, "AWS::Cognito::UserPoolDomain")
    env = APP_CONFIG.environment(env_name)
    assert domain["Properties"]["Domain"] == cognito_domain_prefix(APP_CONFIG, env)


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_nat_needs_are_what_the_network_tier_creates(env_name: str) -> None:
    env = APP_CONFIG.environment(env_name)
    gateways = len(_snapshot_resources("network", env_name, "AWS::EC2::NatGateway"))
    addresses = len(_snapshot_resources("network", env_name, "AWS::EC2::EIP"))
    assert sum(nat_gateways_per_zone(env).values()) == gateways == addresses
    expected = {NatMode.GATEWAY_PER_AZ: 2, NatMode.SINGLE_GATEWAY: 1, NatMode.INSTANCE: 0}
    assert gateways == expected[env.network.nat_mode]


# --- entry points -------------------------------------------------------------------------------


def test_python_m_preflight_prints_one_line_and_no_traceback() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "-m", "preflight", "dev"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.startswith("FAIL config: config error: environment 'dev', field 'account'")
    assert result.stdout.count("\n") == 1


def test_preflight_imports_no_cdk() -> None:
    code = "import sys, preflight.__main__; sys.exit('aws_cdk' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_make_deploy_runs_preflight_first() -> None:
    def dry_run(*args: str) -> list[str]:
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.splitlines()

    deploy = dry_run("deploy", "ENV=staging")

    def first(text: str) -> int:
        return next(i for i, line in enumerate(deploy) if text in line)

    deployable, preflight = first("stacks.config deployable staging"), first("-m preflight staging")
    assert deployable < preflight < first("cdk deploy")
    (ci_line,) = [
        line
        for line in dry_run("preflight", "ENV=prod", "PREFLIGHT_FLAGS=--ci")
        if "-m preflight" in line
    ]
    assert ci_line.endswith("-m preflight prod --ci")
    help_text = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert re.search(r"^  make preflight +Read-only account checks", help_text, re.MULTILINE)

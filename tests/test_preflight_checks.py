"""make preflight: each check failing with its one line (and passing where the account is
right), against a moto account. No CDK synth, no AWS."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from cdk_constructs.options import NatMode, WebRuntime
from preflight.checks import BOOTSTRAP_VERSION
from stacks.config import AppConfig, cognito_domain_prefix, stack_name
from stacks.config.sections import WebReleaseConfig
from tests.preflight_helpers import (
    OTHER_RESOURCE,
    FakeAccount,
    line_of,
    moved,
    names,
    ready,
    reserving,
    with_domain,
    with_nat,
    with_web,
)
from tests.preflight_helpers import account_fixture as account_fixture  # fixtures
from tests.preflight_helpers import fake_aws as fake_aws


def _failed_line(
    account: FakeAccount,
    capsys: pytest.CaptureFixture[str],
    config: AppConfig,
    env_name: str,
    check: str,
) -> str:
    """The line of ``check`` from a preflight run of ``env_name`` that fails (exits 1)."""
    code, lines = account.run(capsys, config, env_name)
    assert code == 1
    return line_of(lines, check)


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
    assert _failed_line(account, capsys, config, "dev", "availability-zones") == (
        f"FAIL availability-zones: {problem} in us-east-1; fix: set availability_zones of 'dev' "
        "in stacks/config/environments.py to two of: us-east-1a, us-east-1c"
    )


def test_a_reservation_the_account_cannot_hold(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "prod", unreserved=150, api=reserving("prod", 100))
    assert _failed_line(account, capsys, config, "prod", "lambda-concurrency") == (
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
    template = {"Resources": {"ItemsFunction": function, "Other": OTHER_RESOURCE}}
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
    # moto's Service Quotas knows no EC2 quota: the AWS default of 5 applies.
    assert _failed_line(account, capsys, config, "prod", "elastic-ips") == (
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
    config = ready(
        account,
        "staging",
        web=with_web("staging", runtime=WebRuntime.APP_RUNNER, release=WebReleaseConfig()),
    )
    account.stubber("apprunner").add_client_error("list_services", code, "not for you")
    exit_code, lines = account.run(capsys, config, "staging")
    assert exit_code == 1
    assert line_of(lines, "app-runner") == (
        f"FAIL app-runner: App Runner refused ListServices ({code}): it closed to new customers "
        "on 2026-04-30, so an account that never used it cannot run this web tier (or this "
        "principal may not call apprunner:ListServices); fix: set web.runtime of 'staging' to "
        "WebRuntime.FARGATE in stacks/config/environments.py"
    )


def _claim_cognito_domain(account: FakeAccount, prefix: str, tags: Mapping[str, str]) -> str:
    cognito = account.session.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="some-pool", UserPoolTags=dict(tags))["UserPool"]
    cognito.create_user_pool_domain(Domain=prefix, UserPoolId=pool["Id"])
    return str(pool["Id"])


def _staging_ready(account: FakeAccount) -> tuple[AppConfig, str]:
    """Staging, ready in the account, and its Cognito domain prefix."""
    config = ready(account, "staging")
    return config, cognito_domain_prefix(config, config.environment("staging"))


def test_the_cognito_domain_of_another_pool_of_this_account(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config, prefix = _staging_ready(account)
    pool = _claim_cognito_domain(account, prefix, {"app": "three-tier", "environment": "dev"})
    assert _failed_line(account, capsys, config, "staging", "cognito-domain") == (
        f"FAIL cognito-domain: three-tier-staging-123456789012 belongs to user pool {pool} "
        "(some-pool) of this account, not to this environment's (tags app=three-tier, "
        "environment=staging); fix: if it is unused, aws cognito-idp delete-user-pool-domain "
        f"--domain three-tier-staging-123456789012 --user-pool-id {pool}; otherwise change "
        "app_name in stacks/config/environments.py"
    )


def test_the_cognito_domain_of_another_account(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config, prefix = _staging_ready(account)
    cognito = account.stubber("cognito-idp")
    theirs = {"UserPoolId": "us-east-1_Theirs", "AWSAccountId": "999999999999", "Domain": prefix}
    cognito.add_response(
        "describe_user_pool_domain", {"DomainDescription": theirs}, {"Domain": prefix}
    )
    cognito.add_client_error("describe_user_pool", "ResourceNotFoundException", "no such pool")
    assert _failed_line(account, capsys, config, "staging", "cognito-domain") == (
        "FAIL cognito-domain: three-tier-staging-123456789012 belongs to user pool "
        "us-east-1_Theirs of another AWS account (999999999999); fix: change app_name in "
        "stacks/config/environments.py (the prefix is <app_name>-staging-<account>)"
    )


def test_the_environments_own_cognito_domain_passes(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config, prefix = _staging_ready(account)
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

"""The account checks. Each takes a boto3 Session (in the environment's region), the app config
and the environment, makes read-only calls and returns one CheckResult; an unexpected AWS error
becomes a FAIL line in the runner (``preflight.__main__``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from preflight import CheckResult
from stacks.config import (
    AppConfig,
    EnvironmentConfig,
    cognito_domain_prefix,
    deploy_role_name,
    stack_name,
)
from stacks.config.regions import VPC_ORIGIN_EXCLUDED_ZONE_IDS

Check = Callable[[boto3.Session, AppConfig, EnvironmentConfig], CheckResult]
REPO_ROOT = Path(__file__).resolve().parent.parent
CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
)

BOOTSTRAP_VERSION = 33
"""Version of the bootstrap template the pinned CDK CLI (package.json) ships, i.e. what
``make bootstrap`` installs; tests/test_preflight.py reads it from node_modules/aws-cdk, so a CLI
bump cannot leave it stale. (The synthesized templates themselves reject only versions below 6,
8 for lookups: requiring the pinned CLI's version keeps accounts on the template it deploys.)"""
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
"""The cdk.json context key that overrides the qualifier (stacks/platform_app.py reads it too)."""


def bootstrap_settings(root: Path = REPO_ROOT) -> tuple[str, str]:
    """The bootstrap qualifier and toolkit stack name the CDK CLI takes from cdk.json."""
    settings = json.loads((root / "cdk.json").read_text())
    qualifier = settings.get("context", {}).get(QUALIFIER_CONTEXT) or DEFAULT_QUALIFIER
    return str(qualifier), str(settings.get("toolkitStackName") or "CDKToolkit")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def missing_stack(error: ClientError) -> bool:
    return error_code(error) == "ValidationError" and "does not exist" in str(error)


def tag_map(tags: Iterable[Mapping[str, object]] | None) -> dict[str, str]:
    """EC2-style ``[{"Key": k, "Value": v}]`` tags as a dict."""
    return {str(tag.get("Key")): str(tag.get("Value")) for tag in tags or ()}


def belongs_to(tags: Mapping[str, str], app: AppConfig, env: EnvironmentConfig) -> bool:
    """Whether resource tags are the ones every resource of this environment carries (its
    stage tags them app=<app_name>, environment=<env>)."""
    return tags.get("app") == app.app_name and tags.get("environment") == env.name


def check_bootstrap(session: boto3.Session, app: AppConfig, env: EnvironmentConfig) -> CheckResult:
    return _bootstrapped("bootstrap", session, env, None)


def check_edge_region_bootstrap(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    """The static site's certificate and CLOUDFRONT web ACL must be in us-east-1
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html,
    https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html): outside
    us-east-1 they are the edge stack's, deployed there, so the account needs a bootstrap there."""
    if env.edge_region is None:
        detail = "no edge stack (no domain or WAF, or already in us-east-1)"
        return CheckResult.passed("edge-region-bootstrap", detail)
    return _bootstrapped("edge-region-bootstrap", session, env, env.edge_region)


def _bootstrapped(
    name: str, session: boto3.Session, env: EnvironmentConfig, region: str | None
) -> CheckResult:
    """``region``: another region than the session's (the environment's), or None."""
    # The bootstrap stack "is usually named CDKToolkit"
    # (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping.html); synthesized templates read
    # its version from the "SSM parameter where the bootstrap stack version number can be found"
    # (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.cloud_assembly_schema.AssetManifestOptions.html).
    qualifier, toolkit_stack = bootstrap_settings()
    parameter = f"/cdk-bootstrap/{qualifier}/version"
    fix = f"make bootstrap ENV={env.name} (from a laptop, with admin credentials)"
    where = f"{env.account}/{region or env.region}"
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG, region_name=region)
    try:
        stack = cloudformation.describe_stacks(StackName=toolkit_stack)["Stacks"][0]
    except ClientError as error:
        if not missing_stack(error):
            raise
        return CheckResult.failed(name, f"no stack {toolkit_stack} in {where}", fix)
    status = stack["StackStatus"]
    if status.endswith("FAILED") or status == "ROLLBACK_COMPLETE" or "DELETE" in status:
        return CheckResult.failed(name, f"{toolkit_stack} in {where} is {status}", fix)
    try:
        ssm = session.client("ssm", config=CLIENT_CONFIG, region_name=region)
        value = ssm.get_parameter(Name=parameter)
    except ClientError as error:
        if error_code(error) != "ParameterNotFound":
            raise
        detail = f"{parameter} not found in {where} (bootstrapped with another qualifier?)"
        return CheckResult.failed(name, detail, fix)
    version = int(value["Parameter"]["Value"])
    if version < BOOTSTRAP_VERSION:
        detail = f"{parameter} is {version}, the pinned CDK CLI bootstraps {BOOTSTRAP_VERSION}"
        return CheckResult.failed(name, detail, f"{fix}; it upgrades the stack in place")
    detail = f"{toolkit_stack} {status}, {parameter} = {version} (>= {BOOTSTRAP_VERSION})"
    return CheckResult.passed(name, detail)


def check_deploy_role(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    name = deploy_role_name(app, env)
    try:
        role = session.client("iam", config=CLIENT_CONFIG).get_role(RoleName=name)["Role"]
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        return CheckResult.failed(
            "deploy-role",
            f"role {name} does not exist in {env.account}",
            f"make bootstrap ENV={env.name} from a laptop (it deploys the account's GitHub OIDC "
            f"stack, which holds the role), then set AWS_DEPLOY_ROLE_ARN in the GitHub "
            f"environment '{env.name}'",
        )
    return CheckResult.passed("deploy-role", f"{role['Arn']} exists")


def check_availability_zones(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    answer = session.client("ec2", config=CLIENT_CONFIG).describe_availability_zones()
    states = {zone["ZoneName"]: zone["State"] for zone in answer["AvailabilityZones"]}
    bad = [
        f"{zone} is {states.get(zone, 'not offered to this account')}"
        for zone in env.availability_zones
        if states.get(zone) != "available"
    ]
    if bad:
        usable = ", ".join(sorted(zone for zone, state in states.items() if state == "available"))
        return CheckResult.failed(
            "availability-zones",
            f"{'; '.join(bad)} in {env.region}",
            f"set availability_zones of '{env.name}' in stacks/config/environments.py "
            f"to two of: {usable}",
        )
    return CheckResult.passed(
        "availability-zones", f"{', '.join(env.availability_zones)} are available"
    )


def check_vpc_origin_zones(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    """A CloudFront VPC origin does not work in some AZ IDs of its regions
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html,
    "Availability Zone (AZ) exceptions are noted"). Zone names map to IDs per account, so only
    the account can say whether a configured zone is one; an excepted one is refused, as the page
    does not say whether it breaks the origin or only that zone. A zone the account does not
    offer is the availability-zones check's."""
    excluded = VPC_ORIGIN_EXCLUDED_ZONE_IDS.get(env.region, frozenset())
    if not excluded:
        detail = f"no zone of {env.region} is excepted from CloudFront VPC origins"
        return CheckResult.passed("vpc-origin-zones", detail)
    answer = session.client("ec2", config=CLIENT_CONFIG).describe_availability_zones()
    zones = answer["AvailabilityZones"]
    ids = {zone["ZoneName"]: zone["ZoneId"] for zone in zones}
    bad = [f"{zone} is {ids[zone]}" for zone in env.availability_zones if ids.get(zone) in excluded]
    excepted = ", ".join(sorted(excluded))
    if bad:
        usable = ", ".join(
            sorted(
                zone["ZoneName"]
                for zone in zones
                if zone["State"] == "available" and zone["ZoneId"] not in excluded
            )
        )
        return CheckResult.failed(
            "vpc-origin-zones",
            f"{'; '.join(bad)}, where CloudFront VPC origins do not work in {env.region}",
            f"set availability_zones of '{env.name}' in stacks/config/environments.py to two "
            f"zones whose IDs are not {excepted} (aws ec2 describe-availability-zones), "
            f"i.e. two of: {usable}",
        )
    configured = ", ".join(
        f"{zone} is {ids.get(zone, 'not offered (see availability-zones)')}"
        for zone in env.availability_zones
    )
    detail = f"{configured}; none is {excepted}, where VPC origins do not work"
    return CheckResult.passed("vpc-origin-zones", detail)


def check_hosted_zone(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    web = env.web
    domain, zone_id, zone_name = web.domain_name, web.hosted_zone_id, web.hosted_zone_name
    if not (domain and zone_id and zone_name):
        return CheckResult.passed("hosted-zone", "no web.domain_name, no zone needed")
    fix = (
        f"set web.hosted_zone_id and web.hosted_zone_name of '{env.name}' to the public zone "
        f"of this account that holds {domain} (aws route53 list-hosted-zones)"
    )
    try:
        zone = session.client("route53", config=CLIENT_CONFIG).get_hosted_zone(Id=zone_id)
    except ClientError as error:
        if error_code(error) not in ("NoSuchHostedZone", "InvalidInput"):
            raise
        return CheckResult.failed("hosted-zone", f"no hosted zone {zone_id} in {env.account}", fix)
    name = zone["HostedZone"]["Name"].rstrip(".").lower()
    problems = ["is private"] if zone["HostedZone"].get("Config", {}).get("PrivateZone") else []
    if name != zone_name.rstrip(".").lower():
        problems.append(f"is named {name}, not {zone_name}")
    if domain != name and not domain.endswith(f".{name}"):
        problems.append(f"does not hold {domain}")
    if problems:
        return CheckResult.failed("hosted-zone", f"{zone_id} {', '.join(problems)}", fix)
    return CheckResult.passed("hosted-zone", f"{zone_id} is the public zone {name}, holds {domain}")


def check_app_runner(session: boto3.Session, app: AppConfig, env: EnvironmentConfig) -> CheckResult:
    # "AWS App Runner is no longer open to new customers. Existing customers can continue to use
    # the service as normal." https://docs.aws.amazon.com/apprunner/latest/dg/apprunner-availability-change.html
    try:
        answer = session.client("apprunner", config=CLIENT_CONFIG).list_services(MaxResults=1)
    except ClientError as error:
        code = error_code(error)
        if not re.search(r"AccessDenied|Subscription|OptIn", code):
            raise
        return CheckResult.failed(
            "app-runner",
            f"App Runner refused ListServices ({code}): it closed to new customers on "
            "2026-04-30, so an account that never used it cannot run this web tier (or this "
            "principal may not call apprunner:ListServices)",
            f"set web.runtime of '{env.name}' to WebRuntime.FARGATE "
            "in stacks/config/environments.py",
        )
    if answer["ServiceSummaryList"]:
        return CheckResult.passed("app-runner", f"App Runner answers in {env.region}")
    return CheckResult.passed(
        "app-runner",
        f"App Runner answers in {env.region} (no service yet: only accounts that used it before "
        "2026-04-30 can create one; if the deploy is refused, use fargate)",
    )


def check_cognito_domain(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    # DescribeUserPoolDomain answers an empty DomainDescription for a free prefix; else
    # "AWSAccountId (string) - The Amazon Web Services ID for the user pool owner."
    # https://boto3.amazonaws.com/v1/documentation/api/1.34.86/reference/services/cognito-idp/client/describe_user_pool_domain.html
    prefix = cognito_domain_prefix(app, env)
    cognito = session.client("cognito-idp", config=CLIENT_CONFIG)
    domain = cognito.describe_user_pool_domain(Domain=prefix)["DomainDescription"]
    pool_id = domain.get("UserPoolId")
    if not pool_id:
        return CheckResult.passed("cognito-domain", f"{prefix} is free")
    try:
        pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        owner = domain.get("AWSAccountId", "")
        owner = f" ({owner})" if re.fullmatch(r"\d{12}", owner) else ""
        return CheckResult.failed(
            "cognito-domain",
            f"{prefix} belongs to user pool {pool_id} of another AWS account{owner}",
            "change app_name in stacks/config/environments.py "
            f"(the prefix is <app_name>-{env.name}-<account>)",
        )
    tags = pool.get("UserPoolTags", {})
    stack = tags.get("aws:cloudformation:stack-name")
    if belongs_to(tags, app, env) or stack == stack_name(app, env, "api"):
        return CheckResult.passed("cognito-domain", f"{prefix} is this environment's ({pool_id})")
    return CheckResult.failed(
        "cognito-domain",
        f"{prefix} belongs to user pool {pool_id} ({pool.get('Name')}) of this account, "
        f"not to this environment's (tags app={app.app_name}, environment={env.name})",
        f"if it is unused, aws cognito-idp delete-user-pool-domain --domain {prefix} "
        f"--user-pool-id {pool_id}; otherwise change app_name in stacks/config/environments.py",
    )

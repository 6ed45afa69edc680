"""Capacity checks: Lambda concurrency, Elastic IPs and NAT gateways the environment needs,
against the account's quotas minus what others use (this environment's own resources count
back: a re-deploy keeps them). Same contract as preflight.checks."""

from __future__ import annotations

from collections import Counter

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cdk_constructs.options import NatMode
from preflight import CheckResult
from preflight.checks import CLIENT_CONFIG, belongs_to, error_code, missing_stack, tag_map
from stacks.config import AppConfig, EnvironmentConfig, stack_name

UNRESERVED_MINIMUM = 100
ELASTIC_IP_QUOTA = ("ec2", "L-0263D0A3", 5)
NAT_GATEWAY_QUOTA = ("vpc", "L-FE5A380F", 5)
"""(service code, quota code, AWS default) of "EC2-VPC Elastic IPs" (per region) and "NAT
gateways per Availability Zone". https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html:
"Elastic IP addresses per Region | 5 | Yes"; "NAT gateways per Availability Zone | 5 | Yes |
NAT gateways only count toward your quota in the pending, active, and deleting states.\""""
NAT_COUNTED_STATES = ["pending", "available", "deleting"]


def nat_gateways_per_zone(env: EnvironmentConfig) -> dict[str, int]:
    """NAT gateways, each with one Elastic IP, that cdk_constructs/network.py creates per AZ: one
    per AZ, one in the first AZ, or none (a NAT instance gets an auto-assigned public IP)."""
    if env.network.nat_mode is NatMode.GATEWAY_PER_AZ:
        return dict.fromkeys(env.availability_zones, 1)
    if env.network.nat_mode is NatMode.SINGLE_GATEWAY:
        return {env.availability_zones[0]: 1}
    return {}


def check_lambda_concurrency(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    # "You can reserve up to the Unreserved account concurrency value that is shown, minus 100
    # for functions that don't have reserved concurrency."
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    settings = session.client("lambda", config=CLIENT_CONFIG).get_account_settings()
    unreserved = settings["AccountLimit"]["UnreservedConcurrentExecutions"]
    wanted = env.api.reserved_concurrency
    if wanted is None:
        detail = f"no api.reserved_concurrency; {unreserved} unreserved concurrent executions"
        return CheckResult.passed("lambda-concurrency", detail)
    held = _reserved_by_api_stack(session, app, env)
    needed = wanted + UNRESERVED_MINIMUM
    detail = (
        f"api.reserved_concurrency {wanted} needs {needed} unreserved executions "
        f"({UNRESERVED_MINIMUM} always stay unreserved), the account has {unreserved}"
        + (f" + {held} this environment's API stack reserves already" if held else "")
    )
    if unreserved + held < needed:
        return CheckResult.failed(
            "lambda-concurrency",
            detail,
            "request a higher 'Concurrent executions' quota (Service Quotas: AWS Lambda, "
            f"L-B99A9384), or lower or unset api.reserved_concurrency of '{env.name}'",
        )
    return CheckResult.passed("lambda-concurrency", detail)


def _reserved_by_api_stack(session: boto3.Session, app: AppConfig, env: EnvironmentConfig) -> int:
    """What the functions of the deployed API stack reserve now (a re-deploy keeps it), found
    through the stack's resources; 0 before the first deploy."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    pages = cloudformation.get_paginator("list_stack_resources").paginate(
        StackName=stack_name(app, env, "api")
    )
    try:
        functions = [
            resource["PhysicalResourceId"]
            for page in pages
            for resource in page["StackResourceSummaries"]
            if resource["ResourceType"] == "AWS::Lambda::Function"
            and resource.get("PhysicalResourceId")
        ]
    except ClientError as error:
        if missing_stack(error):
            return 0
        raise
    lambda_ = session.client("lambda", config=CLIENT_CONFIG)
    return sum(
        lambda_.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions", 0)
        for name in functions
    )


def _quota(session: boto3.Session, service: str, code: str, default: int) -> tuple[int, str]:
    """The account's quota, or the AWS default when Service Quotas does not answer."""
    quotas = session.client("service-quotas", config=CLIENT_CONFIG)
    try:
        value = int(quotas.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
    except (ClientError, BotoCoreError) as error:
        reason = error_code(error) if isinstance(error, ClientError) else type(error).__name__
        return default, f"quota {default}, the AWS default: Service Quotas answered {reason}"
    return value, f"quota {value}"


def check_elastic_ips(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    mode = env.network.nat_mode
    needed = sum(nat_gateways_per_zone(env).values())
    if not needed:
        return CheckResult.passed("elastic-ips", f"nat_mode {mode} allocates no Elastic IP")
    quota, quota_note = _quota(session, *ELASTIC_IP_QUOTA)
    addresses = session.client("ec2", config=CLIENT_CONFIG).describe_addresses()["Addresses"]
    ours = sum(belongs_to(tag_map(address.get("Tags")), app, env) for address in addresses)
    free = quota - (len(addresses) - ours)
    detail = (
        f"nat_mode {mode} needs {needed} Elastic IPs, {free} free ({quota_note}; "
        f"{len(addresses)} allocated, "
        f"{ours} of them this environment's)"
    )
    if free < needed:
        return CheckResult.failed(
            "elastic-ips",
            detail,
            "release unused Elastic IPs (aws ec2 describe-addresses), request a higher "
            f"'EC2-VPC Elastic IPs' quota (L-0263D0A3), or set nat_mode of '{env.name}' to "
            "instance",
        )
    return CheckResult.passed("elastic-ips", detail)


def check_nat_gateways(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    mode, wanted = env.network.nat_mode, nat_gateways_per_zone(env)
    if not wanted:
        return CheckResult.passed("nat-gateways", f"nat_mode {mode} creates no NAT gateway")
    quota, quota_note = _quota(session, *NAT_GATEWAY_QUOTA)
    ec2 = session.client("ec2", config=CLIENT_CONFIG)
    pages = ec2.get_paginator("describe_nat_gateways").paginate(
        Filters=[{"Name": "state", "Values": NAT_COUNTED_STATES}]
    )
    subnets = [
        gateway["SubnetId"]
        for page in pages
        for gateway in page["NatGateways"]
        if gateway.get("SubnetId") and not belongs_to(tag_map(gateway.get("Tags")), app, env)
    ]
    zone_of: dict[str, str] = {}
    if subnets:
        ids = sorted(set(subnets))
        subnet_pages = ec2.get_paginator("describe_subnets").paginate(
            Filters=[{"Name": "subnet-id", "Values": ids}]
        )
        for page in subnet_pages:
            zone_of |= {
                subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in page["Subnets"]
            }
    in_use = Counter(zone_of.get(subnet) for subnet in subnets)
    adds = ", ".join(f"{n} in {zone} beside {in_use[zone]}" for zone, n in wanted.items())
    detail = f"nat_mode {mode} adds {adds} of others ({quota_note} per AZ)"
    if any(in_use[zone] + count > quota for zone, count in wanted.items()):
        return CheckResult.failed(
            "nat-gateways",
            detail,
            "delete unused NAT gateways in those AZs, request a higher 'NAT gateways per "
            f"Availability Zone' quota (L-FE5A380F), or choose other availability_zones or "
            f"nat_mode instance for '{env.name}'",
        )
    return CheckResult.passed("nat-gateways", detail)

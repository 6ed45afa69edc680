"""The Fargate web tier's release strategy against the running ECS service. AWS documents moving
a rolling service to blue/green (canary and linear use the same load balancer resources) in two
steps: a rolling deployment that adds the load balancer's ``advancedConfiguration``, then the
strategy change; doing both in one update is not documented, so this check refuses it. Same
contract as preflight.checks."""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.exceptions import ClientError

from cdk_constructs.options import WebReleaseStrategy
from preflight import CheckResult
from preflight.checks import CLIENT_CONFIG, error_code, missing_stack
from release.contract import SERVICE_ID_OUTPUT
from stacks.config import AppConfig, EnvironmentConfig, stack_name

CHECK = "ecs-release-strategy"
ECS_SERVICE_ARN = re.compile(r"arn:[\w-]+:ecs:[\w-]+:\d{12}:service/(?:(?P<cluster>[^/]+)/)?[^/]+")
"""An ECS service ARN: ``service/<cluster>/<service>``, or ``service/<service>`` in ECS's old
short format (which names no cluster)."""
ROLLING = "ROLLING"
"""The ECS strategy a service has when DescribeServices names none."""


def check_ecs_release_strategy(
    session: boto3.Session, app: AppConfig, env: EnvironmentConfig
) -> CheckResult:
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/update-rolling-to-bluegreen.html:
    # "If the service uses Elastic Load Balancing, update the service with the new
    # advancedConfiguration and start a rolling deployment" before changing the strategy.
    strategy = env.web.release.strategy
    if strategy is WebReleaseStrategy.ROLLING:
        return CheckResult.passed(CHECK, "rolling: nothing to migrate")
    stack = stack_name(app, env, "web")
    service_arn = _service_arn(session, stack)
    if service_arn is None:
        return CheckResult.passed(
            CHECK, f"no service in {stack} yet: the deploy creates it with {strategy} directly"
        )
    match = ECS_SERVICE_ARN.fullmatch(service_arn)
    if match is None:
        detail = f"{service_arn} is not an ECS service: the deploy creates one with {strategy}"
        return CheckResult.passed(CHECK, detail)
    cluster = match["cluster"] or _stack_cluster(session, stack)
    service = _service(session, cluster, service_arn)
    if service is None:
        return CheckResult.passed(CHECK, f"{service_arn} is not running: nothing to migrate")
    name = service.get("serviceName") or service_arn
    current = (service.get("deploymentConfiguration") or {}).get("strategy") or ROLLING
    if any(lb.get("advancedConfiguration") for lb in service.get("loadBalancers") or ()):
        return CheckResult.passed(
            CHECK,
            f"{name} runs {current} with the blue/green load balancer "
            f"configuration: {strategy} is the documented second step",
        )
    if current != ROLLING:
        return CheckResult.passed(CHECK, f"{name} runs {current} already")
    return CheckResult.failed(
        CHECK,
        "the running service has no blue/green load balancer configuration yet "
        f"({name} runs {ROLLING}, web.release.strategy is {strategy})",
        "deploy once with web.release.strategy=rolling (adds it with a rolling deployment, "
        f"AWS's documented first step), then with {strategy}",
    )


def _service_arn(session: boto3.Session, stack: str) -> str | None:
    """The web stack's ``ServiceId`` output; None before its first deploy (no stack, or one
    without the output, e.g. a failed first create)."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if missing_stack(error):
            return None
        raise
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in found.get("Outputs") or ()}
    return outputs.get(SERVICE_ID_OUTPUT) or None


def _stack_cluster(session: boto3.Session, stack: str) -> str:
    """The ECS cluster of the web stack, for a service ARN in the short format; ECS's default
    cluster if the stack holds none (as DescribeServices assumes without one)."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    clusters = [
        resource["PhysicalResourceId"]
        for page in pages
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::ECS::Cluster" and resource.get("PhysicalResourceId")
    ]
    return clusters[0] if clusters else "default"


def _service(session: boto3.Session, cluster: str, service_arn: str) -> dict[str, Any] | None:
    """The service as DescribeServices answers it; None when it is gone (missing, draining or
    inactive, or its cluster is)."""
    ecs = session.client("ecs", config=CLIENT_CONFIG)
    try:
        answer = ecs.describe_services(cluster=cluster, services=[service_arn])
    except ClientError as error:
        if error_code(error) == "ClusterNotFoundException":
            return None
        raise
    active = [s for s in answer.get("services") or () if s.get("status") == "ACTIVE"]
    return dict(active[0]) if active else None

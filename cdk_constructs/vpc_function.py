"""A Python Lambda function inside the VPC, with its own security group, role and log group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import acknowledge
from cdk_constructs.python_bundling import python_function_code

PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
"""What Lambda needs on the execution role to attach the function to the VPC."""


def closed_security_group(
    scope: Construct, id_: str, *, vpc: ec2.IVpc, description: str
) -> ec2.SecurityGroup:
    """A security group that sends nothing until a rule is added: every path is a relation."""
    return ec2.SecurityGroup(scope, id_, vpc=vpc, description=description, allow_all_outbound=False)


@dataclass(frozen=True)
class VpcFunctionProps:
    package_dir: Path
    """A Python package with a pinned ``requirements.txt``; zipped by local bundling."""
    handler: str
    """``<package>.<module>.<function>``."""
    description: str
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    """Of the log group."""
    bundle_cache_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    """Plain settings only: never a secret (the function reads those at run time)."""
    timeout: Duration = field(default_factory=lambda: Duration.seconds(30))
    memory_size: int = 256
    reserved_concurrency: int | None = None
    image: lambda_.DockerImageCode | None = None
    """Run this container image (its CMD names the handler) instead of the zip of
    ``package_dir``."""


class VpcPythonFunction(Construct):
    """arm64 Python function in private subnets: no egress until granted, X-Ray on; its
    published versions (``function.current_version``, on first use) are retained.

    Its role holds no managed policy: it may write to its own log group, manage its VPC network
    interfaces and send traces, and gets everything else through explicit grants.
    """

    def __init__(self, scope: Construct, id_: str, *, props: VpcFunctionProps) -> None:
        super().__init__(scope, id_)
        self.security_group = closed_security_group(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{props.description}: egress only where granted",
        )
        self.log_group = retained_log_group(self, "LogGroup", settings=props)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {props.description}",
        )
        self.log_group.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(ENI_ACTIONS), resources=["*"])
        )
        common: dict[str, Any] = {
            "description": props.description,
            "architecture": ARCHITECTURE,
            "role": self.role,
            "vpc": props.vpc,
            "vpc_subnets": props.subnets,
            "security_groups": [self.security_group],
            "environment": dict(props.environment),
            "timeout": props.timeout,
            "memory_size": props.memory_size,
            "reserved_concurrent_executions": props.reserved_concurrency,
            "tracing": lambda_.Tracing.ACTIVE,
            "log_group": self.log_group,
            "logging_format": lambda_.LoggingFormat.JSON,
            # A version, once published (``current_version``), stays when a newer one replaces
            # it in the template, so an alias can be moved back to it by hand.
            "current_version_options": lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        }
        self.function: lambda_.Function
        if props.image is not None:
            self.function = lambda_.DockerImageFunction(
                # Its own id: a zip and an image function are different resources (Lambda cannot
                # change a function's package type), so switching replaces it under a new logical
                # id, and every template that refers to it changes too (README: cross-stack).
                self,
                "ImageFunction",
                code=props.image,
                **common,
            )
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                runtime=PYTHON_RUNTIME,
                code=python_function_code(
                    props.package_dir,
                    runtime=PYTHON_RUNTIME,
                    architecture=ARCHITECTURE,
                    cache_dir=props.bundle_cache_dir,
                ),
                handler=props.handler,
                **common,
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Lambda's VPC network-interface actions and X-Ray's PutTraceSegments/"
            "PutTelemetryRecords support no resource-level permissions.",
            applies_to="Resource::*",
        )

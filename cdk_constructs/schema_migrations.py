"""Applies the SQL migrations on every deploy that changes them (a custom resource)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aws_cdk import CfnElement, CustomResource, Duration, FileSystem, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.data_engine.interface import DEFAULT_CLIENT_FAMILY, DataEngine
from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import (
    DEPLOY_TIME_FUNCTION,
    LAMBDA_BASIC_EXECUTION,
    NIST,
    acknowledge_all,
)
from cdk_constructs.network import HTTPS_PORT
from cdk_constructs.vpc_function import VpcFunctionProps, VpcPythonFunction

MIGRATION_TIMEOUT = Duration.minutes(10)
"""Room for an auto-paused cluster to resume and for slow DDL; CloudFormation waits up to 1 h."""
RUNNER_DEFAULT_FAMILY = DEFAULT_CLIENT_FAMILY
"""The family the runner assumes without ``DB_ENGINE_FAMILY`` (``client_environment``)."""


def migrations_dir(package_dir: Path, family: EngineFamily) -> Path:
    """The migration set of ``family`` in the runner's package (the runner picks the same)."""
    return package_dir / "migrations" / family.value


@dataclass(frozen=True)
class SchemaMigrationsProps:
    database: DataEngine
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    """App subnets: the function needs the database and Secrets Manager."""
    package_dir: Path
    """``lambda_src/db_migrate``: the runner, ``requirements.txt``, ``migrations/<family>/``."""
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None
    """Reach Secrets Manager through this endpoint; None: through the NAT (HTTPS egress)."""
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    bundle_cache_dir: Path


class SchemaMigrations(Construct):
    """A function that logs in as the master user and applies the engine family's
    ``migrations/<family>/*.sql`` in order.

    It connects to the engine's admin endpoint (the writer) directly, never through RDS Proxy:
    the proxy's default auth scheme is IAM_AUTH, and a password login through it is not
    documented.

    The custom resource's properties carry a fingerprint of the migration files, so
    CloudFormation calls it on create and whenever the set changes, never otherwise. A failed or
    tampered migration fails the deploy and CloudFormation rolls back; delete does nothing.
    """

    def __init__(self, scope: Construct, id_: str, *, props: SchemaMigrationsProps) -> None:
        super().__init__(scope, id_)
        database = props.database
        self.migrations_dir = migrations_dir(props.package_dir, database.family)
        environment = {
            "DB_SECRET_ARN": database.secret.secret_arn,
            "DB_HOST": database.admin_endpoint,
            "DB_PORT": str(database.port),
            "DB_NAME": database.database_name,
            "DB_SSLMODE": database.admin_ssl_mode.value,
        }
        if database.family is not RUNNER_DEFAULT_FAMILY:
            environment["DB_ENGINE_FAMILY"] = database.family.value
        self.runner = VpcPythonFunction(
            self,
            "Runner",
            props=VpcFunctionProps(
                package_dir=props.package_dir,
                handler=f"{props.package_dir.name}.handler.on_event",
                description="Schema migrations of the platform database",
                vpc=props.vpc,
                subnets=props.subnets,
                log_retention=props.log_retention,
                removal_policy=props.removal_policy,
                bundle_cache_dir=props.bundle_cache_dir,
                environment=environment,
                timeout=MIGRATION_TIMEOUT,
            ),
        )
        function = self.runner.function
        admission = database.allow_admin_client(
            self.runner.security_group,
            description="Schema migrations (master user, writer directly)",
        )
        database.secret.grant_read(function)
        if props.secrets_manager_endpoint is not None:
            # The endpoints admit HTTPS from the whole VPC; only the egress side is needed.
            for endpoint_group in props.secrets_manager_endpoint.connections.security_groups:
                self.runner.security_group.add_egress_rule(
                    endpoint_group, ec2.Port.tcp(HTTPS_PORT), "Secrets Manager endpoint"
                )
        else:
            self.runner.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(HTTPS_PORT),
                "Secrets Manager through the NAT (this environment has no endpoint for it)",
            )

        self.provider_log_group = retained_log_group(self, "ProviderLogGroup", settings=props)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=function,
            log_group=self.provider_log_group,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::SchemaMigrations",
            properties={
                "MigrationsFingerprint": FileSystem.fingerprint(str(self.migrations_dir)),
                "Endpoint": database.admin_endpoint,
                "Database": database.database_name,
            },
        )
        # Run once the writer can take connections and the runner may reach it.
        database.order_admin_run(self.resource)
        self.resource.node.add_dependency(self.runner.security_group, *admission)
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        function = self.runner.function
        synchronous = (
            "Invoked synchronously by the provider framework: a failure fails the deploy, there "
            "is no asynchronous event to keep."
        )
        acknowledge_all(
            function,
            [
                ("Serverless-LambdaDLQ", synchronous),
                (f"{NIST}LambdaDLQ", synchronous),
                DEPLOY_TIME_FUNCTION[0],  # LambdaConcurrency (it runs in the VPC)
            ],
        )
        function_logical_id = Stack.of(function).get_logical_id(
            cast(CfnElement, function.node.default_child)
        )
        acknowledge_all(
            self.provider.node.find_child("framework-onEvent"),
            [
                (
                    f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
                    "The CDK provider framework's own role: it writes only its own logs.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::<{function_logical_id}.Arn>:*]",
                    "The CDK provider framework may invoke any version of the runner function.",
                ),
                (
                    "Serverless-LambdaDLQ",
                    "The CDK provider framework is invoked by CloudFormation, which keeps the "
                    "event.",
                ),
                (
                    "Serverless-LambdaDefaultMemorySize",
                    "The CDK provider framework's size is set by CDK; it only relays one call.",
                ),
                (
                    "Serverless-LambdaTracing",
                    "The CDK provider framework only relays to the runner, which is traced.",
                ),
                *DEPLOY_TIME_FUNCTION,
            ],
        )

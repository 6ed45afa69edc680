"""Applies the SQL migrations on every deploy that changes them (a custom resource)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CustomResource,
    Duration,
    FileSystem,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from cdk_constructs.database import AuroraDatabase
from cdk_constructs.network import HTTPS_PORT
from cdk_constructs.options import SslMode
from cdk_constructs.vpc_function import VpcFunctionProps, VpcPythonFunction

MIGRATION_TIMEOUT = Duration.minutes(10)
"""Room for an auto-paused cluster to resume and for slow DDL; CloudFormation waits up to 1 h."""
ADMIN_SSL_MODE = SslMode.REQUIRE
"""TLS to the writer endpoint: the Aurora CA bundle is not in the Lambda runtime's trust store."""


@dataclass(frozen=True)
class SchemaMigrationsProps:
    database: AuroraDatabase
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    """App subnets: the function needs the database and Secrets Manager."""
    package_dir: Path
    """``lambda_src/db_migrate``: the runner, its ``requirements.txt`` and ``migrations/``."""
    secrets_manager_endpoint: ec2.IInterfaceVpcEndpoint | None
    """Reach Secrets Manager through this endpoint; None: through the NAT (HTTPS egress)."""
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    bundle_cache_dir: Path


class SchemaMigrations(Construct):
    """A function that logs in as the master user and applies ``migrations/*.sql`` in order.

    It connects to the cluster writer endpoint directly, never through RDS Proxy: the proxy's
    default auth scheme is IAM_AUTH, and a password login through it is not documented.

    The custom resource's properties carry a fingerprint of the migration files, so
    CloudFormation calls it on create and whenever the set changes, never otherwise. A failed or
    tampered migration fails the deploy and CloudFormation rolls back; delete does nothing.
    """

    def __init__(self, scope: Construct, id_: str, *, props: SchemaMigrationsProps) -> None:
        super().__init__(scope, id_)
        database = props.database
        self.migrations_dir = props.package_dir / "migrations"
        writer_endpoint = database.cluster.cluster_endpoint.hostname
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
                environment={
                    "DB_SECRET_ARN": database.secret.secret_arn,
                    "DB_HOST": writer_endpoint,
                    "DB_PORT": str(database.port),
                    "DB_NAME": database.database_name,
                    "DB_SSLMODE": ADMIN_SSL_MODE.value,
                },
                timeout=MIGRATION_TIMEOUT,
            ),
        )
        function = self.runner.function
        admission = database.allow_admin_client(
            self.runner.security_group, "Schema migrations (master user, writer directly)"
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

        self.provider_log_group = logs.LogGroup(
            self,
            "ProviderLogGroup",
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
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
                "Endpoint": writer_endpoint,
                "Database": database.database_name,
            },
        )
        # Run once the writer can take connections and the runner may reach it, and on nothing
        # else of the database: in particular not on the master secret's rotation schedule,
        # whose creation starts a rotation at once (RotateImmediatelyOnUpdate defaults to true).
        self.resource.node.add_dependency(
            *_cluster_and_instances(database), self.runner.security_group, *admission
        )
        # And the other way round: the first rotation waits for the first run, so a first deploy
        # never logs in during the rotation's window (later scheduled rotations can still
        # overlap a run; the runner then reads the secret again and logs in once more).
        for schedule in database.node.find_all():
            if isinstance(schedule, secretsmanager.CfnRotationSchedule):
                schedule.node.add_dependency(self.resource)
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        function = self.runner.function
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="Serverless::Serverless-LambdaDLQ",
                reason="Invoked synchronously by the provider framework: a failure fails the "
                "deploy, there is no asynchronous event to keep.",
            )
        )
        framework = self.provider.node.find_child("framework-onEvent")
        function_logical_id = Stack.of(function).get_logical_id(
            cast(CfnElement, function.node.default_child)
        )
        for rule, reason in (
            (
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                "The CDK provider framework's own role: it writes only its own logs.",
            ),
            (
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{function_logical_id}.Arn>:*]",
                "The CDK provider framework may invoke any version of the runner function.",
            ),
            (
                "Serverless::Serverless-LambdaDLQ",
                "The CDK provider framework is invoked by CloudFormation, which keeps the event.",
            ),
            (
                "Serverless::Serverless-LambdaDefaultMemorySize",
                "The CDK provider framework's size is set by CDK; it only relays one call.",
            ),
            (
                "Serverless::Serverless-LambdaTracing",
                "The CDK provider framework only relays to the runner, which is traced.",
            ),
        ):
            Validations.of(framework).acknowledge(Acknowledgment(id=rule, reason=reason))


def _cluster_and_instances(database: AuroraDatabase) -> list[IConstruct]:
    """The cluster's own resource and its DB instances (writer and readers), nothing else."""
    cluster = database.cluster.node.default_child
    if cluster is None:  # a DatabaseCluster always has its CfnDBCluster; narrows the type
        raise AssertionError("the cluster has no CloudFormation resource")
    instances = [
        child for child in database.cluster.node.find_all() if isinstance(child, rds.CfnDBInstance)
    ]
    if not instances:
        raise AssertionError("the cluster has no instances")
    return [cluster, *instances]

"""What the platform may use of its database, whatever the engine behind it.

The data stack builds an engine through ``factory.create_data_engine`` and every consumer (the
API tier, the schema migrations, the rollback guard, monitoring) goes through ``DataEngine``
only, so a new engine is a new module and a registry row, never an edit of its consumers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from cdk_constructs.data_engine.choices import EngineFamily, SslMode
from cdk_constructs.options import ProtectedKind


@dataclass(frozen=True)
class DataEngineProps:
    """What every engine is built from; every default is the secure one."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    """Isolated subnets for the database and its proxy."""
    availability_zones: tuple[str, str]
    """The writer goes in the first, a reader in the second."""
    name_prefix: str
    """``<app>-<env>``: names the database, proxy, secret and log groups."""
    engine_version: str
    """The engine's ``major.minor``, e.g. ``16.13``."""
    min_capacity: float
    max_capacity: float
    auto_pause: Duration | None
    """Idle time before a 0-ACU database pauses; None when ``min_capacity`` is above 0."""
    readers: int
    proxy: bool
    backup_retention: Duration
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    """Of the key, master secret and logs. A retained database (any policy but DESTROY) also
    leaves a snapshot when deleted and rotates its master secret."""
    deletion_protection: bool
    rotation_subnets: ec2.SubnetSelection
    """Where the secret rotation function runs (it needs Secrets Manager, via NAT or endpoint)."""
    enhanced_monitoring_interval: Duration | None = None
    """How often RDS samples each instance's OS metrics into CloudWatch Logs; None is off."""
    database_name: str = "app"
    master_username: str = "platform_admin"


@dataclass(frozen=True)
class DatabaseIdentity:
    """The cluster or instance behind the endpoints: what the rollback guard protects and
    monitoring watches."""

    resource: CfnResource
    kind: ProtectedKind
    identifier: str
    arn: str
    proxy_name: str | None
    """The RDS Proxy in front of it (its metrics), None without one."""


class DataEngine(Protocol):
    """A database the platform's tiers use: where and how clients and the admin path connect,
    who may, and what identifies it."""

    family: EngineFamily
    """The dialect: picks the migration set and the migration runner's driver."""
    port: int
    database_name: str
    endpoint: str
    """Where clients connect: a proxy when there is one, else the writer."""
    ssl_mode: SslMode
    """The strictest TLS check a Lambda client can make against ``endpoint``."""
    admin_endpoint: str
    """Where the master user logs in (schema migrations): the writer, never a proxy."""
    admin_ssl_mode: SslMode
    secret: secretsmanager.ISecret
    """The master credentials (Secrets Manager's RDS JSON shape)."""
    identity: DatabaseIdentity

    def allow_client(self, client: ec2.IConnectable, *, description: str) -> None:
        """Admit ``client`` at ``endpoint``."""
        ...

    def allow_admin_client(self, client: ec2.IConnectable, *, description: str) -> list[IConstruct]:
        """Admit ``client`` at ``admin_endpoint``; returns the rules this added, for a caller
        that must not log in before they exist."""
        ...

    def grant_connect(self, grantee: iam.IGrantable, *, db_user: str) -> iam.Grant:
        """Let ``grantee`` log in as ``db_user`` with an IAM token at ``endpoint``, nothing else."""
        ...

    def order_admin_run(self, run: Construct) -> None:
        """``run`` (the migrations) logs in as the master user: it waits for the writer, and the
        master secret's first rotation waits for it."""
        ...

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/RDS`` metric of the cluster or instance (``identity``)."""
        ...

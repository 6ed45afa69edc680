"""What the platform may use of its database, whatever the engine behind it.

The data stack builds an engine through ``factory.create_data_engine`` and every consumer (the
API tier, the schema migrations, the rollback guard, monitoring) goes through ``DataEngine``
only, so a new engine is a new module and a registry row, never an edit of its consumers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from cdk_constructs.data_engine.choices import DatabaseEngine, EngineFamily, EngineSpec, SslMode
from cdk_constructs.options import ProtectedKind


@dataclass(frozen=True)
class ServerlessCapacity:
    """The size of an Aurora Serverless v2 cluster."""

    min_capacity: float
    max_capacity: float
    auto_pause: Duration | None
    """Idle time before a 0-ACU database pauses; None when ``min_capacity`` is above 0."""
    readers: int


@dataclass(frozen=True)
class InstanceSize:
    """The size of a single RDS DB instance: its class, its gp3 storage and its standby."""

    instance_class: str
    """Without the ``db.`` prefix: ``t4g.micro``."""
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    """Storage autoscaling's ceiling."""
    multi_az: bool
    """A synchronous standby in another AZ; RDS fails over to it."""


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
    engine: DatabaseEngine
    engine_version: str
    """As config writes it: ``16.13``, ``3.10.4`` (Aurora MySQL), ``8.4.7``."""
    size: ServerlessCapacity | InstanceSize
    """What the engine's kind takes (``ENGINE_SPECS``); the other is refused."""
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
    backup_resource_type: str
    """AWS Backup's type for it (``Aurora`` or ``RDS``): its jobs' metrics dimension."""
    restore_overrides: Mapping[str, str] | None = None
    """Restore testing's metadata overrides that place a restored copy where it is; None:
    restore tests are not offered for this engine."""


class DataEngine(Protocol):
    """A database the platform's tiers use: where and how clients and the admin path connect,
    who may, and what identifies it."""

    spec: EngineSpec
    """The engine's row of ``ENGINE_SPECS`` (its label, kind and versions)."""
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

    def connect_resource_arn(self, db_user: str, *, consumer: IConstruct | None = None) -> str:
        """The ``rds-db:connect`` resource of ``db_user`` at ``endpoint``, for a policy that is
        no principal's own (a managed policy, which is not ``IGrantable``), used in
        ``consumer``'s stack; the proxy, where there is one, may log in as ``db_user`` from
        then on."""
        ...

    def order_admin_run(self, run: Construct) -> None:
        """``run`` (the migrations) logs in as the master user: it waits for the writer, and the
        master secret's first rotation waits for it."""
        ...

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/RDS`` metric of the cluster or instance (``identity``)."""
        ...

    def capacity_alarms(self) -> Sequence[CapacityAlarm]:
        """What of its capacity can run out (ACUs, storage), each as an alarm to raise."""
        ...


@dataclass(frozen=True)
class CapacityAlarm:
    """One engine-specific capacity alarm for monitoring: ``metric`` crossing ``threshold``."""

    id_: str
    metric_name: str
    statistic: str
    what: str
    graph: str
    threshold: float | None = None
    """None: monitoring's configured threshold for ``metric_name`` (ACU utilization)."""
    below: bool = False
    """Alarm at or below ``threshold`` (free space), not at or above."""


DEFAULT_CLIENT_FAMILY = EngineFamily.POSTGRESQL
"""The family a client (the API, the migration runner) assumes without ``DB_ENGINE_FAMILY``:
the variable is set for the other families only, so a PostgreSQL client's configuration stays
as it was before the variable existed."""


def client_environment(engine: DataEngine, *, db_user: str) -> dict[str, str]:
    """The ``DB_*`` variables of a client that logs in as ``db_user`` with IAM at ``endpoint``."""
    environment = {
        "DB_HOST": engine.endpoint,
        "DB_PORT": str(engine.port),
        "DB_NAME": engine.database_name,
        "DB_USER": db_user,
        "DB_SSLMODE": engine.ssl_mode.value,
    }
    if engine.family is not DEFAULT_CLIENT_FAMILY:
        environment["DB_ENGINE_FAMILY"] = engine.family.value
    return environment

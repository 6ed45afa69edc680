"""Data tier of one environment: the database engine, its migrations, the session table."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_rds as rds
from constructs import Construct

from cdk_constructs.backup import DataBackup, DataBackupProps
from cdk_constructs.data_engine.factory import create_data_engine
from cdk_constructs.data_engine.interface import (
    DataEngine,
    DataEngineProps,
    InstanceSize,
    ServerlessCapacity,
)
from cdk_constructs.nag import NIST, acknowledge
from cdk_constructs.network import Network
from cdk_constructs.operator_access import OperatorAccess, OperatorAccessProps
from cdk_constructs.options import InterfaceEndpoint, ProtectedKind
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.schema_migrations import SchemaMigrations, SchemaMigrationsProps
from cdk_constructs.session_table import SessionTable
from stacks.config import log_group_prefix
from stacks.config.sections import DatabaseConfig
from stacks.platform_stack import BUNDLE_CACHE_DIR, REPO_ROOT, PlatformStack, Tier

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage

MIGRATIONS_PACKAGE = REPO_ROOT / "lambda_src" / "db_migrate"

API_DB_USER = "app_api"
"""The login role the migrations create for the API: rds_iam, DML on the app's tables only."""
READONLY_DB_USER = "app_readonly"
"""The operators' login role (migration 0003): IAM login, SELECT on the app's tables only."""


def _size(db: DatabaseConfig) -> ServerlessCapacity | InstanceSize:
    """The sizing the engine's kind takes (config refuses the other's fields)."""
    if db.spec.serverless:
        return ServerlessCapacity(
            min_capacity=db.min_capacity,
            max_capacity=db.max_capacity,
            auto_pause=Duration.minutes(db.auto_pause_minutes) if db.can_pause else None,
            readers=db.readers,
        )
    return InstanceSize(
        instance_class=db.instance_class,
        allocated_storage_gib=db.allocated_storage_gib,
        max_allocated_storage_gib=db.max_allocated_storage_gib,
        multi_az=db.multi_az,
    )


class DataStack(PlatformStack):
    """Composes the database, its migrations and the session table on the network tier."""

    TIER = Tier.DATA
    SUMMARY = "data tier (database, proxy, sessions)"

    def __init__(self, stage: PlatformStage, *, network: Network) -> None:
        super().__init__(stage)
        env_config, prefix = self.env_config, self.resource_prefix
        retention = self.log_retention
        removal_policy = self.removal_policy
        db = env_config.database
        writer_zone, reader_zone = env_config.availability_zones

        self.database: DataEngine = create_data_engine(
            self,
            "Database",
            props=DataEngineProps(
                vpc=network.vpc,
                subnets=network.db_subnets,
                availability_zones=(writer_zone, reader_zone),
                name_prefix=prefix,
                engine=db.engine,
                engine_version=db.version,
                size=_size(db),
                proxy=db.proxy,
                backup_retention=Duration.days(db.backup_retention_days),
                log_retention=retention,
                removal_policy=removal_policy,
                deletion_protection=env_config.retain_data,
                rotation_subnets=network.app_subnets,
                enhanced_monitoring_interval=(
                    Duration.seconds(db.enhanced_monitoring_interval_seconds)
                    if db.enhanced_monitoring_interval_seconds
                    else None
                ),
            ),
        )
        self.migrations = SchemaMigrations(
            self,
            "Migrations",
            props=SchemaMigrationsProps(
                database=self.database,
                vpc=network.vpc,
                subnets=network.app_subnets,
                package_dir=MIGRATIONS_PACKAGE,
                secrets_manager_endpoint=network.interface_endpoints.get(
                    InterfaceEndpoint.SECRETS_MANAGER
                ),
                log_retention=retention,
                removal_policy=removal_policy,
                bundle_cache_dir=BUNDLE_CACHE_DIR,
            ),
        )
        self.sessions = SessionTable(
            self, "Sessions", table_name=f"{prefix}-sessions", removal_policy=removal_policy
        ).table

        self.operator_access = (
            self._operator_access(stage, network) if env_config.operator_access.enabled else None
        )

        if env_config.retain_data:
            self._guard_deletion_protection()
        self.backup = self._backup() if env_config.backup.active(env_config.retain_data) else None

        endpoint = (
            f"{self.database.family.label} endpoint for clients (the proxy when there is one)"
        )
        master = "Master credentials (break-glass; the API logs in with IAM)"
        self.add_outputs(
            ("DatabaseEndpoint", self.database.endpoint, endpoint),
            ("DatabaseSecretArn", self.database.secret.secret_arn, master),
            ("SessionTableName", self.sessions.table_name),
        )
        database = self.database
        self.add_outputs(
            ("DatabaseAdminEndpoint", database.admin_endpoint, "Where the master user logs in"),
            ("DatabasePort", str(database.port)),
            ("DatabaseEngineFamily", database.family.value, "postgresql or mysql"),
            ("DatabaseName", database.database_name),
            ("DatabaseReadonlyUser", READONLY_DB_USER, "The operators' IAM login (read-only)"),
        )
        if self.operator_access is not None:
            tunnel = "make db-tunnel's forwarding target (SSM only; stops itself when idle)"
            self.add_outputs(
                ("AccessInstanceId", self.operator_access.instance.instance_id, tunnel)
            )
        if self.backup is not None:
            self.add_outputs(
                ("BackupVaultName", self.backup.vault.backup_vault_name, "AWS Backup vault"),
                ("BackupRoleArn", self.backup.role.role_arn, "Role for start-restore-job"),
            )

    def _operator_access(self, stage: PlatformStage, network: Network) -> OperatorAccess:
        """The operators' forwarding target to the database, their session log group and shell
        document (``cdk_constructs/operator_access.py``), encrypted with the environment key."""
        env_config = self.env_config
        return OperatorAccess(
            self,
            "OperatorAccess",
            props=OperatorAccessProps(
                name=self.resource_prefix,
                vpc=network.vpc,
                subnets=network.app_subnets,
                availability_zone=env_config.availability_zones[0],
                database=self.database,
                readonly_user=READONLY_DB_USER,
                # The network stack's environment key (built first, so always there).
                key=stage.network.key,
                log_group_name=f"{log_group_prefix(self.app_config, env_config)}/operator-sessions",
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
                idle_stop_minutes=env_config.operator_access.idle_stop_minutes,
            ),
        )

    def _backup(self) -> DataBackup:
        """AWS Backup of the database and the table; the restore test places the restored
        database where the database itself is (the engine's ``restore_overrides``)."""
        identity = self.database.identity
        if isinstance(identity.resource, rds.CfnDBCluster):
            acknowledge(
                cast(Construct, identity.resource.node.scope),  # the cluster with its instances
                f"{NIST}RDSInBackupPlan",
                "AWS Backup protects Aurora per cluster, and the plan selects this cluster by "
                "ARN; the rule looks for the instances, which AWS Backup never selects for "
                "Aurora.",
            )
        return DataBackup(
            self,
            "Backup",
            props=DataBackupProps(
                name=self.resource_prefix,
                config=self.env_config.backup,
                database_arn=identity.arn,
                database_type=identity.backup_resource_type,
                table_arn=self.sessions.table_arn,
                restore_overrides=identity.restore_overrides,
                removal_policy=self.removal_policy,
            ),
        )

    def _guard_deletion_protection(self) -> None:
        """The table first, then the database: neither is ever being created while the other
        exists unguarded, so a failed first create can always delete both."""
        table = cast(CfnResource, self.sessions.node.default_child)
        sessions = self.sessions.table_name, self.sessions.table_arn
        guard = self.rollback_guard
        table_kind = ProtectedKind.DYNAMODB_TABLE
        table_guard = guard.protect(ProtectedResource("Sessions", table, table_kind, *sessions))
        db = self.database.identity
        db.resource.node.add_dependency(table_guard)
        # "Cluster" names the guard of every engine's database: a construct id, kept as it was.
        guard.protect(ProtectedResource("Cluster", db.resource, db.kind, db.identifier, db.arn))

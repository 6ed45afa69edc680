"""One RDS DB instance (PostgreSQL or MySQL), Multi-AZ optional, optionally behind RDS Proxy,
reached with IAM auth over TLS: cheaper than Serverless v2 for a small steady load."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.data_engine.interface import (
    CapacityAlarm,
    DataEngineProps,
    InstanceSize,
)
from cdk_constructs.data_engine.rds_base import POSTGRES_SETTINGS, FamilySettings, RdsEngine
from cdk_constructs.nag import acknowledge
from cdk_constructs.options import ProtectedKind

GIB = 1024**3
LOW_STORAGE_SHARE = 0.05
"""Free storage alarm: 5% of the allocated storage. Storage autoscaling acts at 10% free, so
this fires only when autoscaling did not keep up, waits out its 6-hour pause, or has reached
``max_allocated_storage_gib`` (User Guide, "Managing capacity automatically with Amazon RDS
storage autoscaling")."""
NO_INSIGHTS_SIZES = ("micro", "small")
"""Burstable sizes Database Insights (Performance Insights) does not support on MySQL
(User Guide, "Supported DB engines for Database Insights"): off on both families there."""


def _instance_engine(family: EngineFamily, version: str) -> rds.IInstanceEngine:
    major = version.rsplit(".", 1)[0] if family is EngineFamily.MYSQL else version.split(".")[0]
    if family is EngineFamily.POSTGRESQL:
        return rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of(version, major)
        )
    return rds.DatabaseInstanceEngine.mysql(version=rds.MysqlEngineVersion.of(version, major))


INSTANCE_SETTINGS: dict[EngineFamily, FamilySettings] = {
    EngineFamily.POSTGRESQL: POSTGRES_SETTINGS,
    # require_secure_transport is 0 (OFF) by default on RDS for MySQL 8.4 and takes 1 on an
    # instance (User Guide, "Requiring SSL/TLS for all connections to a MySQL DB instance");
    # Aurora's cluster parameter takes ON. Slow statements (over 2 s) are logged and exported.
    EngineFamily.MYSQL: FamilySettings(
        description="TLS only, slow queries logged",
        parameters={"require_secure_transport": "1", "slow_query_log": "1", "long_query_time": "2"},
        exports={"ErrorLogGroup": "error", "SlowQueryLogGroup": "slowquery"},
    ),
}


class RdsInstance(RdsEngine):
    """The DB instance (gp3, encrypted, storage autoscaling), its KMS key and master secret,
    and RDS Proxy when enabled."""

    def __init__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> None:
        super().__init__(scope, id_, props=props)
        if not isinstance(props.size, InstanceSize):
            raise TypeError(f"{self.spec.label} is sized by instance class, not {props.size}")
        self._size = props.size
        identifier = self._start("instance", INSTANCE_SETTINGS[self.family])
        self.instance = self._instance(identifier)
        self._finish(
            self.instance,
            kind=ProtectedKind.RDS_INSTANCE,
            arn=self.instance.instance_arn,
            identifier=self.instance.instance_identifier,
        )

    def _instance(self, identifier: str) -> rds.DatabaseInstance:
        props, size = self._props, self._size
        engine = _instance_engine(self.family, props.engine_version)
        parameter_group = self._parameter_group("Parameters", identifier, engine)
        insights = size.instance_class.rsplit(".", 1)[-1] not in NO_INSIGHTS_SIZES
        self.monitoring_role = self._monitoring_role(identifier)
        instance = rds.DatabaseInstance(
            self,
            "Instance",
            instance_identifier=identifier,
            engine=engine,
            instance_type=ec2.InstanceType(size.instance_class),
            credentials=rds.Credentials.from_generated_secret(
                props.master_username,
                encryption_key=self.key,
                secret_name=f"{props.name_prefix}/db-master",
            ),
            database_name=props.database_name,
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            security_groups=[self.security_group],
            port=self.port,
            publicly_accessible=False,
            # "You can't set the AvailabilityZone parameter if the DB instance is a Multi-AZ
            # deployment" (AWS::RDS::DBInstance MultiAZ).
            multi_az=size.multi_az,
            availability_zone=None if size.multi_az else props.availability_zones[0],
            # CDK's defaults are gp2, 100 GiB and no encryption without a key: all explicit.
            storage_type=rds.StorageType.GP3,
            allocated_storage=size.allocated_storage_gib,
            max_allocated_storage=size.max_allocated_storage_gib,
            storage_encryption_key=self.key,
            storage_encrypted=True,
            iam_authentication=True,
            parameter_group=parameter_group,
            cloudwatch_logs_exports=list(self.settings.exports.values()),
            enable_performance_insights=insights,
            performance_insight_encryption_key=self.key if insights else None,
            performance_insight_retention=(
                rds.PerformanceInsightRetention.DEFAULT if insights else None
            ),
            monitoring_interval=props.enhanced_monitoring_interval,
            monitoring_role=self.monitoring_role,
            backup_retention=props.backup_retention,
            # A retained database keeps its automated backups (point-in-time restore) after a
            # deletion, beside the final snapshot.
            delete_automated_backups=not self.retained,
            deletion_protection=props.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT if self.retained else RemovalPolicy.DESTROY,
            copy_tags_to_snapshot=True,
        )
        self._acknowledge_database(instance)
        if not size.multi_az:
            acknowledge(
                instance,
                "CloudFormation-Validate::W3010",
                "A single-AZ instance goes in the first of the two AZs the config names for the "
                "environment (where its clients' subnets are).",
            )
            acknowledge(
                instance,
                "AwsSolutions-RDS3",
                "Single-AZ is this environment's configured choice (database.multi_az): "
                "RDS replaces a failed instance from its storage and backups.",
            )
        return instance

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/RDS`` metric of the instance."""
        return self.instance.metric(metric_name, statistic=statistic, period=period)

    def capacity_alarms(self) -> Sequence[CapacityAlarm]:
        """Free storage: autoscaling is not keeping up, or has reached its ceiling."""
        return (
            CapacityAlarm(
                id_="DatabaseFreeStorage",
                metric_name="FreeStorageSpace",
                statistic="Minimum",
                what=(
                    f"database free storage (bytes: {LOW_STORAGE_SHARE:.0%} of the "
                    f"{self._size.allocated_storage_gib} GiB allocated at first)"
                ),
                graph="Free storage (bytes)",
                threshold=self._size.allocated_storage_gib * GIB * LOW_STORAGE_SHARE,
                below=True,
            ),
        )

"""Aurora Serverless v2 (PostgreSQL or MySQL), optionally behind RDS Proxy, reached with IAM
auth over TLS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_rds as rds
from constructs import Construct

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.data_engine.interface import (
    CapacityAlarm,
    DataEngineProps,
    ServerlessCapacity,
)
from cdk_constructs.data_engine.rds_base import POSTGRES_SETTINGS, FamilySettings, RdsEngine
from cdk_constructs.nag import acknowledge
from cdk_constructs.options import ProtectedKind


def _cluster_engine(family: EngineFamily, version: str) -> rds.IClusterEngine:
    if family is EngineFamily.POSTGRESQL:
        major = version.split(".", 1)[0]
        return rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(version, major)
        )
    # Aurora MySQL 3 is MySQL 8.0 compatible: its full version is "8.0.mysql_aurora.3.10.4".
    return rds.DatabaseClusterEngine.aurora_mysql(
        version=rds.AuroraMysqlEngineVersion.of(f"8.0.mysql_aurora.{version}", "8.0")
    )


CLUSTER_SETTINGS: dict[EngineFamily, FamilySettings] = {
    EngineFamily.POSTGRESQL: POSTGRES_SETTINGS,
    # require_secure_transport is a cluster parameter of Aurora MySQL 3 and takes ON there (an
    # RDS instance's takes 1; Aurora User Guide, "Security with Amazon Aurora MySQL"). Only the
    # error log is exported: the slow query log needs instance-level parameters.
    EngineFamily.MYSQL: FamilySettings(
        description="TLS only",
        parameters={"require_secure_transport": "ON"},
        exports={"ErrorLogGroup": "error"},
    ),
}


class AuroraServerless(RdsEngine):
    """The cluster, its KMS key and master secret, and RDS Proxy when enabled."""

    def __init__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> None:
        super().__init__(scope, id_, props=props)
        if not isinstance(props.size, ServerlessCapacity):
            raise TypeError(f"{self.spec.label} is sized in ACUs, not {props.size}")
        self._capacity = props.size
        identifier = self._start("cluster", CLUSTER_SETTINGS[self.family])
        self.cluster = self._cluster(identifier)
        self._finish(
            self.cluster,
            kind=ProtectedKind.RDS_CLUSTER,
            arn=self.cluster.cluster_arn,
            identifier=self.cluster.cluster_identifier,
        )

    backup_resource_type = "Aurora"

    def _cluster(self, cluster_identifier: str) -> rds.DatabaseCluster:
        props, capacity = self._props, self._capacity
        engine = _cluster_engine(self.family, props.engine_version)
        parameter_group = self._parameter_group("ClusterParameters", cluster_identifier, engine)
        writer_zone, reader_zone = props.availability_zones
        insights: dict[str, Any] = {
            "enable_performance_insights": True,
            "performance_insight_encryption_key": self.key,
            "performance_insight_retention": rds.PerformanceInsightRetention.DEFAULT,
        }
        self.monitoring_role = self._monitoring_role(cluster_identifier)
        cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=cluster_identifier,
            engine=engine,
            credentials=rds.Credentials.from_generated_secret(
                props.master_username,
                encryption_key=self.key,
                secret_name=f"{props.name_prefix}/db-master",
            ),
            default_database_name=props.database_name,
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            security_groups=[self.security_group],
            port=self.port,
            writer=rds.ClusterInstance.serverless_v2(
                "Writer", availability_zone=writer_zone, publicly_accessible=False, **insights
            ),
            readers=[
                # Promotion tier 1 scales with the writer: a failover lands on a warm instance.
                rds.ClusterInstance.serverless_v2(
                    f"Reader{index + 1}",
                    availability_zone=reader_zone,
                    scale_with_writer=True,
                    publicly_accessible=False,
                    **insights,
                )
                for index in range(capacity.readers)
            ],
            serverless_v2_min_capacity=capacity.min_capacity,
            serverless_v2_max_capacity=capacity.max_capacity,
            serverless_v2_auto_pause_duration=capacity.auto_pause,
            storage_encryption_key=self.key,
            iam_authentication=True,
            parameter_group=parameter_group,
            cloudwatch_logs_exports=list(self.settings.exports.values()),
            **insights,
            # Per instance (writer and readers), with this role, not CDK's implicit one.
            monitoring_interval=props.enhanced_monitoring_interval,
            monitoring_role=self.monitoring_role,
            backup=rds.BackupProps(retention=props.backup_retention),
            deletion_protection=props.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT if self.retained else RemovalPolicy.DESTROY,
            copy_tags_to_snapshot=True,
        )
        acknowledge(
            cluster,
            "CloudFormation-Validate::W3010",
            "Instances are placed in the two AZs the config names for the "
            "environment: the writer in the first, a reader in the second.",
        )
        self._acknowledge_database(cluster)
        if self.family is EngineFamily.MYSQL:
            acknowledge(
                cluster,
                "AwsSolutions-RDS14",
                "Recovery is point-in-time restore from the automated backups (and AWS Backup "
                "where on); Backtrack rewinds the whole cluster in place, which no runbook here "
                "uses, and this design does not assume it on Serverless v2.",
            )
        return cluster

    def _restore_overrides(self) -> dict[str, str]:
        """Where a restore test puts the restored cluster: its subnets, groups and zones."""
        cluster = cast(rds.CfnDBCluster, self.cluster.node.default_child)
        if cluster.db_subnet_group_name is None or cluster.vpc_security_group_ids is None:
            raise AssertionError("the database cluster has no subnet group or security groups")
        stack = cluster.stack
        return {
            "dbsubnetgroupname": cluster.db_subnet_group_name,
            "vpcsecuritygroupids": stack.to_json_string(list(cluster.vpc_security_group_ids)),
            "availabilityzones": stack.to_json_string(list(self._props.availability_zones)),
        }

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/RDS`` metric of the cluster."""
        return self.cluster.metric(metric_name, statistic=statistic, period=period)

    def capacity_alarms(self) -> Sequence[CapacityAlarm]:
        """ACU utilization: the cluster is near its ``max_capacity``."""
        return (
            CapacityAlarm(
                id_="AuroraAcuUtilization",
                metric_name="ACUUtilization",
                statistic="Maximum",
                what="Aurora ACU (%)",
                graph="ACU utilization %",
            ),
        )

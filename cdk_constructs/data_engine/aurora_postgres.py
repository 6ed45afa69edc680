"""Aurora PostgreSQL Serverless v2, optionally behind RDS Proxy, reached with IAM auth over TLS."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import (
    ArnFormat,
    CfnElement,
    CfnOutput,
    CfnResource,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from cdk_constructs.data_engine.choices import EngineFamily, SslMode
from cdk_constructs.data_engine.interface import DatabaseIdentity, DataEngineProps
from cdk_constructs.keys import rotating_key
from cdk_constructs.logging import admit_log_groups, retained_log_group
from cdk_constructs.nag import NIST, acknowledge
from cdk_constructs.options import ProtectedKind
from cdk_constructs.vpc_function import closed_security_group

POSTGRES_PORT = 5432
MASTER_ROTATION = Duration.days(30)
ENHANCED_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"


class AuroraPostgres(Construct):
    """The cluster, its KMS key and master secret, and RDS Proxy when enabled.

    Nothing reaches the database until ``allow_client`` admits it: clients go to the proxy when
    there is one (the cluster then admits only the proxy, the secret rotation and the admin
    clients of ``allow_admin_client``), else to the writer directly.
    """

    family = EngineFamily.POSTGRESQL
    port = POSTGRES_PORT
    admin_ssl_mode = SslMode.REQUIRE
    """TLS to the writer endpoint: the Aurora CA bundle is not in the Lambda runtime's trust
    store."""

    def __init__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        retained = props.removal_policy is not RemovalPolicy.DESTROY
        self.database_name = props.database_name
        cluster_identifier = f"{props.name_prefix}-db"

        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts {cluster_identifier}: storage, master secret, PI",
            removal_policy=props.removal_policy,
        )
        log_group_name = f"/aws/rds/cluster/{cluster_identifier}/postgresql"
        # Encrypted with the environment's key (EnvironmentPolicies). This key still admits the
        # group: CloudWatch Logs decrypts events written before the group moved to that key
        # with the key that encrypted them.
        admit_log_groups(self.key, name_patterns=[log_group_name])
        self.log_group = self._log_group("PostgresLogGroup", log_group_name)
        self.security_group = closed_security_group(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{cluster_identifier}: admits {POSTGRES_PORT} from its clients only",
        )
        no_cidr = (
            "Every ingress rule of this group has a security group as its source (the proxy, "
            "the rotation function, the named clients), never a CIDR; the rule cannot read the "
            "port, which CDK takes from the cluster's endpoint (a token)."
        )
        for rule in ("EC2RestrictedCommonPorts", "EC2RestrictedSSH"):
            acknowledge(self.security_group, f"{NIST}{rule}", no_cidr)
        self.cluster = self._cluster(cluster_identifier, retained=retained)
        # RDS would create the export's log group itself, without retention or encryption.
        cast(CfnElement, self.cluster.node.default_child).node.add_dependency(self.log_group)
        # The password lives only here: keep it as long as the cluster and its snapshots.
        cast(secretsmanager.Secret, self.cluster.node.find_child("Secret")).apply_removal_policy(
            props.removal_policy
        )
        secret = self.cluster.secret
        if secret is None:  # always set with generated credentials; narrows the type
            raise AssertionError("the cluster has no master secret")
        self.secret: secretsmanager.ISecret = secret
        self.rotation = self._rotation() if retained else None
        if self.rotation is None:
            acknowledge(
                self.cluster.node.find_child("Secret"),
                "AwsSolutions-SMG4",
                "Rotation runs where data is retained (production); this environment is "
                "disposable and its master secret is only read by the migration function.",
            )

        self._proxy_id_import: str | None = None
        self._proxy_logins: set[str] = set()
        self.proxy_role: iam.Role | None = None
        self.proxy_security_group: ec2.SecurityGroup | None = None
        self.proxy: rds.DatabaseProxy | None = self._proxy() if props.proxy else None

        self.admin_endpoint: str = self.cluster.cluster_endpoint.hostname
        self.endpoint: str = self.proxy.endpoint if self.proxy else self.admin_endpoint
        """Where clients connect: the proxy when there is one, else the writer."""
        self.ssl_mode = SslMode.VERIFY_FULL if self.proxy else SslMode.REQUIRE
        """The strictest TLS check a Lambda client can make against ``endpoint``."""
        self.identity = DatabaseIdentity(
            resource=cast(CfnResource, self.cluster.node.default_child),
            kind=ProtectedKind.RDS_CLUSTER,
            identifier=self.cluster.cluster_identifier,
            arn=self.cluster.cluster_arn,
            proxy_name=self.proxy.db_proxy_name if self.proxy else None,
        )

    def _cluster(self, cluster_identifier: str, *, retained: bool) -> rds.DatabaseCluster:
        props = self._props
        major = props.engine_version.split(".", 1)[0]
        engine = rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(props.engine_version, major)
        )
        parameter_group = rds.ParameterGroup(
            self,
            "ClusterParameters",
            engine=engine,
            description=f"{cluster_identifier}: TLS only, DDL statements logged",
            parameters={"rds.force_ssl": "1", "log_statement": "ddl"},
        )
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
            port=POSTGRES_PORT,
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
                for index in range(props.readers)
            ],
            serverless_v2_min_capacity=props.min_capacity,
            serverless_v2_max_capacity=props.max_capacity,
            serverless_v2_auto_pause_duration=props.auto_pause,
            storage_encryption_key=self.key,
            iam_authentication=True,
            parameter_group=parameter_group,
            cloudwatch_logs_exports=["postgresql"],
            **insights,
            # Per instance (writer and readers), with this role, not CDK's implicit one.
            monitoring_interval=props.enhanced_monitoring_interval,
            monitoring_role=self.monitoring_role,
            backup=rds.BackupProps(retention=props.backup_retention),
            deletion_protection=props.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT if retained else RemovalPolicy.DESTROY,
            copy_tags_to_snapshot=True,
        )
        acknowledge(
            cluster,
            "CloudFormation-Validate::W3010",
            "Instances are placed in the two AZs the config names for the "
            "environment: the writer in the first, a reader in the second.",
        )
        acknowledge(
            cluster,
            "AwsSolutions-RDS11",
            "The standard PostgreSQL port is kept: only the proxy and named client security "
            "groups can reach it, so a non-standard port would add no protection.",
        )
        if not props.deletion_protection:
            acknowledge(
                cluster,
                "AwsSolutions-RDS10",
                "Deletion protection is on where data is retained (production); this "
                "environment's data is disposable and must be destroyable with its stack.",
            )
        return cluster

    def _monitoring_role(self, cluster_identifier: str) -> iam.Role | None:
        """The role Enhanced Monitoring writes OS metrics to CloudWatch Logs with, when it is on:
        RDS's own policy, assumed by RDS monitoring for this account only (confused deputy)."""
        if self._props.enhanced_monitoring_interval is None:
            return None
        role = iam.Role(
            self,
            "MonitoringRole",
            assumed_by=iam.ServicePrincipal(
                "monitoring.rds.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description=f"{cluster_identifier}: Enhanced Monitoring writes OS metrics to RDS* logs",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(ENHANCED_MONITORING_POLICY)
            ],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4",
            "AWS's policy for Enhanced Monitoring: it only creates and writes the RDS* log "
            "groups RDS monitoring needs, and AWS keeps it in step with the service.",
            applies_to=f"Policy::arn:<AWS::Partition>:iam::aws:policy/{ENHANCED_MONITORING_POLICY}",
        )
        return role

    def _rotation(self) -> secretsmanager.SecretRotation:
        """The master secret's single-user rotation, where the data is retained."""
        rotation = self.cluster.add_rotation_single_user(
            automatically_after=MASTER_ROTATION, vpc_subnets=self._props.rotation_subnets
        )
        # The rotation function (from the Serverless Application Repository) logs to
        # /aws/lambda/<its name>: named after the cluster, not after this construct (CDK's
        # default), so the environment key's policy knows the name in advance. Its log group
        # exists, with retention, before the function does.
        function_name = f"{self._props.name_prefix}-db-rotation"
        application = cast(CfnResource, rotation.node.find_child("Resource"))
        application.add_property_override("Parameters.functionName", function_name)
        rotation.node.add_dependency(
            self._log_group("RotationLogGroup", f"/aws/lambda/{function_name}")
        )
        return rotation

    def _proxy(self) -> rds.DatabaseProxy:
        """RDS Proxy in front of the cluster: clients log in as their own database user with an
        IAM token, end to end (the proxy holds no password for them)."""
        prefix = self._props.name_prefix
        proxy_security_group = self.proxy_security_group = closed_security_group(
            self,
            "ProxySecurityGroup",
            vpc=self._props.vpc,
            description=f"{prefix}-proxy: admits {POSTGRES_PORT} from clients",
        )
        proxy_role = self.proxy_role = iam.Role(
            self,
            "ProxyRole",
            assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
            description=f"{prefix}-proxy: reads the master secret, signs IAM "
            "logins of granted database users",
        )
        proxy_name = f"{prefix}-proxy"
        # RDS Proxy writes to /aws/rds/proxy/<name> (created on first use, never expiring)
        # even with debug logging off: create it first, with retention.
        log_group = self._log_group("ProxyLogGroup", f"/aws/rds/proxy/{proxy_name}")
        proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            role=proxy_role,
            db_proxy_name=proxy_name,
            proxy_target=rds.ProxyTarget.from_cluster(self.cluster),
            vpc=self._props.vpc,
            vpc_subnets=self._props.subnets,
            security_groups=[proxy_security_group],
            default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
            # The master secret stays registered, but nothing logs in with it here: the
            # migrations reach the writer directly (allow_admin_client).
            secrets=[self.secret],
            iam_auth=False,
            require_tls=True,
            debug_logging=False,
        )
        # ProxyTarget.from_cluster already admits the proxy to the cluster on its port.
        proxy.node.add_dependency(log_group)
        return proxy

    def _log_group(self, id_: str, name: str) -> logs.LogGroup:
        return retained_log_group(self, id_, settings=self._props, log_group_name=name)

    def allow_client(self, client: ec2.IConnectable, *, description: str) -> None:
        """Admit ``client`` on the PostgreSQL port of the endpoint (proxy or writer)."""
        front: ec2.IConnectable = self.proxy if self.proxy else self.cluster
        # Written from the client's side: when the client lives in another stack, both rules
        # go to the client's stack, so that stack depends on this one and not the other way.
        client.connections.allow_to(front, ec2.Port.tcp(POSTGRES_PORT), description)

    def allow_admin_client(self, client: ec2.IConnectable, *, description: str) -> list[IConstruct]:
        """Admit ``client`` on the PostgreSQL port of the cluster writer directly, never the proxy.

        For the master user's password login (schema migrations): the proxy authenticates its
        clients with IAM (``DefaultAuthScheme`` IAM_AUTH), and whether it also passes a password
        login through is not documented, so the admin path does not depend on it. Returns the
        security group rules this call added, for a caller that must not log in before they exist.
        """
        groups = [*self.cluster.connections.security_groups, *client.connections.security_groups]
        existing = {child.node.path for group in groups for child in group.node.children}
        client.connections.allow_to(self.cluster, ec2.Port.tcp(POSTGRES_PORT), description)
        return [
            child
            for group in groups
            for child in group.node.children
            if child.node.path not in existing
        ]

    def order_admin_run(self, run: Construct) -> None:
        """``run`` waits for the cluster and its instances (writer and readers) and nothing else
        of the database: in particular not for the master secret's rotation schedule, whose
        creation starts a rotation at once (RotateImmediatelyOnUpdate defaults to true).

        And the other way round: the first rotation waits for the first run, so a first deploy
        never logs in during the rotation's window (later scheduled rotations can still overlap
        a run; the runner then reads the secret again and logs in once more).
        """
        instances = [
            child for child in self.cluster.node.find_all() if isinstance(child, rds.CfnDBInstance)
        ]
        run.node.add_dependency(self.identity.resource, *instances)
        for schedule in self.node.find_all():
            if isinstance(schedule, secretsmanager.CfnRotationSchedule):
                schedule.node.add_dependency(run)

    def connect_resource_arn(self, db_user: str, *, consumer: IConstruct | None = None) -> str:
        """The ``rds-db:connect`` resource for ``db_user`` at ``endpoint`` (proxy or cluster).

        ``consumer`` is where the ARN is used; from another stack, the proxy's id is read from
        this stack's outputs whole, because CloudFormation cannot split a value read from
        another stack's outputs.
        """
        if self.proxy:
            # arn:aws:rds:<region>:<account>:db-proxy:<prx-id>; IAM names the proxy by its id.
            resource_id = Fn.select(6, Fn.split(":", self.proxy.db_proxy_arn))
            if consumer is not None and Stack.of(consumer) is not Stack.of(self):
                resource_id = self._exported_proxy_id(resource_id)
                Stack.of(consumer).add_stack_dependency(Stack.of(self), "reads the proxy's id")
        else:
            resource_id = self.cluster.cluster_resource_identifier
        return Stack.of(self).format_arn(
            service="rds-db",
            resource="dbuser",
            resource_name=f"{resource_id}/{db_user}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_connect(self, grantee: iam.IGrantable, *, db_user: str) -> iam.Grant:
        """Let ``grantee`` log in as ``db_user`` with an IAM token at ``endpoint``, nothing else."""
        principal = grantee.grant_principal
        consumer = principal if isinstance(principal, Construct) else None
        if self.proxy_role is not None and db_user not in self._proxy_logins:
            # End-to-end IAM: the proxy logs in to the cluster as the same user with its role.
            self._proxy_logins.add(db_user)
            self.cluster.grant_connect(self.proxy_role, db_user)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["rds-db:connect"],
            resource_arns=[self.connect_resource_arn(db_user, consumer=consumer)],
        )

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/RDS`` metric of the cluster."""
        return self.cluster.metric(metric_name, statistic=statistic, period=period)

    def _exported_proxy_id(self, resource_id: str) -> str:
        """The proxy's id as a weak reference (``Fn::GetStackOutput``) for another stack.

        Never an export: an ``Fn::ImportValue`` would block turning the proxy off or replacing
        it. The output is named after the proxy's logical id, so a different proxy is a
        different output and every consumer's template changes with it (and is deployed).
        """
        if self._proxy_id_import is None:
            assert self.proxy is not None
            stack = Stack.of(self)
            proxy_resource = cast(CfnElement, self.proxy.node.default_child)
            output = CfnOutput(
                self,
                "ProxyResourceId",
                value=resource_id,
                description="The proxy's id, as IAM names it in rds-db:connect",
            )
            output.override_logical_id(f"{stack.get_logical_id(proxy_resource)}ResourceId")
            self._proxy_id_import = Fn.get_stack_output(
                stack.stack_name, stack.resolve(output.logical_id)
            )
        return self._proxy_id_import

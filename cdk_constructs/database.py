"""Aurora PostgreSQL Serverless v2, optionally behind RDS Proxy, reached with IAM auth over TLS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CfnElement,
    CfnOutput,
    Duration,
    Fn,
    Names,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from cdk_constructs.logging import encrypted_log_group
from cdk_constructs.options import SslMode

POSTGRES_PORT = 5432
MASTER_ROTATION = Duration.days(30)
PROMOTION_TIER_SCALES_WITH_WRITER = 1
"""Aurora scales Serverless v2 readers in tiers 0-1 with the writer: a failover target at size."""


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(
        Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason)
    )


@dataclass(frozen=True)
class DatabaseProps:
    """What the database needs; every default is the secure one."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    """Isolated subnets for the cluster and the proxy."""
    availability_zones: tuple[str, str]
    """The writer goes in the first, a reader in the second."""
    name_prefix: str
    """``<app>-<env>``: names the cluster, proxy, secret and log group."""
    engine_version: str
    """Aurora PostgreSQL ``major.minor``, e.g. ``16.13``."""
    min_capacity: float
    max_capacity: float
    auto_pause: Duration | None
    """Idle time before a 0-ACU cluster pauses; None when ``min_capacity`` is above 0."""
    readers: int
    proxy: bool
    backup_retention: Duration
    log_retention: logs.RetentionDays
    retain: bool
    """Production: deletion protection, snapshot on delete, retained key/secret/logs, rotation."""
    rotation_subnets: ec2.SubnetSelection
    """Where the secret rotation function runs (it needs Secrets Manager, via NAT or endpoint)."""
    database_name: str = "app"
    master_username: str = "platform_admin"


class AuroraDatabase(Construct):
    """The cluster, its KMS key and master secret, and RDS Proxy when enabled.

    Nothing reaches the database until ``allow_client`` admits it: clients go to the proxy when
    there is one (the cluster then admits only the proxy, the secret rotation and the admin
    clients of ``allow_admin_client``), else to the writer directly.
    """

    def __init__(self, scope: Construct, id_: str, *, props: DatabaseProps) -> None:
        super().__init__(scope, id_)
        removal_policy = RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY
        self.database_name = props.database_name
        self.master_username = props.master_username
        self.port = POSTGRES_PORT
        cluster_identifier = f"{props.name_prefix}-db"

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts {cluster_identifier}: storage, master secret, logs, PI",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(7 if not props.retain else 30),
        )
        self.log_group = encrypted_log_group(
            self,
            "PostgresLogGroup",
            log_group_name=f"/aws/rds/cluster/{cluster_identifier}/postgresql",
            key=self.key,
            retention=props.log_retention,
            removal_policy=removal_policy,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{cluster_identifier}: admits {POSTGRES_PORT} from its clients only",
            allow_all_outbound=False,
        )
        major = props.engine_version.split(".", 1)[0]
        engine = rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(props.engine_version, major)
        )
        self.parameter_group = rds.ParameterGroup(
            self,
            "ClusterParameters",
            engine=engine,
            description=f"{cluster_identifier}: TLS only, DDL statements logged",
            parameters={"rds.force_ssl": "1", "log_statement": "ddl"},
        )
        self.credentials = rds.Credentials.from_generated_secret(
            props.master_username,
            encryption_key=self.key,
            secret_name=f"{props.name_prefix}/db-master",
        )
        writer_zone, reader_zone = props.availability_zones
        instance_options: dict[str, Any] = {
            "publicly_accessible": False,
            "enable_performance_insights": True,
            "performance_insight_encryption_key": self.key,
            "performance_insight_retention": rds.PerformanceInsightRetention.DEFAULT,
        }
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=cluster_identifier,
            engine=engine,
            credentials=self.credentials,
            default_database_name=props.database_name,
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            security_groups=[self.security_group],
            port=POSTGRES_PORT,
            writer=rds.ClusterInstance.serverless_v2(
                "Writer", availability_zone=writer_zone, **instance_options
            ),
            readers=[
                rds.ClusterInstance.serverless_v2(
                    f"Reader{index + 1}",
                    availability_zone=reader_zone,
                    scale_with_writer=True,
                    **instance_options,
                )
                for index in range(props.readers)
            ],
            serverless_v2_min_capacity=props.min_capacity,
            serverless_v2_max_capacity=props.max_capacity,
            serverless_v2_auto_pause_duration=props.auto_pause,
            storage_encryption_key=self.key,
            iam_authentication=True,
            parameter_group=self.parameter_group,
            cloudwatch_logs_exports=["postgresql"],
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            backup=rds.BackupProps(retention=props.backup_retention),
            deletion_protection=props.retain,
            removal_policy=RemovalPolicy.SNAPSHOT if props.retain else RemovalPolicy.DESTROY,
            copy_tags_to_snapshot=True,
        )
        # RDS would create the export's log group itself, without retention or encryption.
        cast(CfnElement, self.cluster.node.default_child).node.add_dependency(self.log_group)
        # The password lives only here: keep it as long as the cluster and its snapshots.
        cast(secretsmanager.Secret, self.cluster.node.find_child("Secret")).apply_removal_policy(
            removal_policy
        )
        secret = self.cluster.secret
        if secret is None:  # always set with generated credentials; narrows the type
            raise AssertionError("the cluster has no master secret")
        self.secret: secretsmanager.ISecret = secret
        self._acknowledge_cluster_findings(props)

        self.rotation: secretsmanager.SecretRotation | None = None
        if props.retain:
            self.rotation = self.cluster.add_rotation_single_user(
                automatically_after=MASTER_ROTATION, vpc_subnets=props.rotation_subnets
            )
            # The rotation function (from the Serverless Application Repository) is named after
            # this construct; its log group exists, with retention, before the function does.
            self.rotation_log_group = logs.LogGroup(
                self,
                "RotationLogGroup",
                log_group_name=f"/aws/lambda/{Names.unique_id(self.rotation)}",
                retention=props.log_retention,
                removal_policy=removal_policy,
            )
            self.rotation.node.add_dependency(self.rotation_log_group)
        else:
            _acknowledge(
                self.cluster.node.find_child("Secret"),
                "SMG4",
                "Rotation runs where data is retained (production); this environment is "
                "disposable and its master secret is only read by the migration function.",
            )

        self._proxy_id_import: str | None = None
        self._proxy_logins: set[str] = set()
        self.proxy_role: iam.Role | None = None
        self.proxy: rds.DatabaseProxy | None = None
        self.proxy_security_group: ec2.SecurityGroup | None = None
        if props.proxy:
            self.proxy_security_group = ec2.SecurityGroup(
                self,
                "ProxySecurityGroup",
                vpc=props.vpc,
                description=f"{props.name_prefix}-proxy: admits {POSTGRES_PORT} from clients",
                allow_all_outbound=False,
            )
            self.proxy_role = iam.Role(
                self,
                "ProxyRole",
                assumed_by=iam.ServicePrincipal("rds.amazonaws.com"),
                description=f"{props.name_prefix}-proxy: reads the master secret, signs IAM "
                "logins of granted database users",
            )
            proxy_name = f"{props.name_prefix}-proxy"
            # RDS Proxy writes to /aws/rds/proxy/<name> (created on first use, never expiring)
            # even with debug logging off: create it first, with retention.
            self.proxy_log_group = logs.LogGroup(
                self,
                "ProxyLogGroup",
                log_group_name=f"/aws/rds/proxy/{proxy_name}",
                retention=props.log_retention,
                removal_policy=removal_policy,
            )
            self.proxy = rds.DatabaseProxy(
                self,
                "Proxy",
                role=self.proxy_role,
                db_proxy_name=proxy_name,
                proxy_target=rds.ProxyTarget.from_cluster(self.cluster),
                vpc=props.vpc,
                vpc_subnets=props.subnets,
                security_groups=[self.proxy_security_group],
                # Clients log in as their own database user with an IAM token, end to end:
                # the proxy holds no password for them.
                default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
                # The master secret stays registered, but nothing logs in with it here: the
                # migrations reach the writer directly (allow_admin_client).
                secrets=[self.secret],
                iam_auth=False,
                require_tls=True,
                debug_logging=False,
            )
            # ProxyTarget.from_cluster already admits the proxy to the cluster on its port.
            self.proxy.node.add_dependency(self.proxy_log_group)

        self.endpoint: str = (
            self.proxy.endpoint if self.proxy else self.cluster.cluster_endpoint.hostname
        )
        """Where clients connect: the proxy when there is one, else the writer."""
        self.ssl_mode = SslMode.VERIFY_FULL if self.proxy else SslMode.REQUIRE
        """The strictest TLS check a Lambda client can make against ``endpoint``."""

    def allow_client(self, client: ec2.IConnectable, description: str) -> None:
        """Admit ``client`` on the PostgreSQL port of the endpoint (proxy or writer)."""
        front: ec2.IConnectable = self.proxy if self.proxy else self.cluster
        # Written from the client's side: when the client lives in another stack, both rules
        # go to the client's stack, so that stack depends on this one and not the other way.
        client.connections.allow_to(front, ec2.Port.tcp(POSTGRES_PORT), description)

    def allow_admin_client(self, client: ec2.IConnectable, description: str) -> list[IConstruct]:
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

    def grant_connect(self, grantee: iam.IGrantable, db_user: str) -> iam.Grant:
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

    def _acknowledge_cluster_findings(self, props: DatabaseProps) -> None:
        Validations.of(self.cluster).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="Instances are placed in the two AZs the config names for the "
                "environment: the writer in the first, a reader in the second.",
            )
        )
        _acknowledge(
            self.cluster,
            "RDS11",
            "The standard PostgreSQL port is kept: only the proxy and named client security "
            "groups can reach it, so a non-standard port would add no protection.",
        )
        if not props.retain:
            _acknowledge(
                self.cluster,
                "RDS10",
                "Deletion protection is on where data is retained (production); this "
                "environment's data is disposable and must be destroyable with its stack.",
            )

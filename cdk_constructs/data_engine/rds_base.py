"""What every RDS engine shares: its key, security group, log groups, master secret rotation,
RDS Proxy with end-to-end IAM, the security group relations and the IAM login grants.

An engine module subclasses ``RdsEngine`` and builds its database (an Aurora cluster or a DB
instance) between ``_start`` and ``_finish``; everything a client, the migrations or
monitoring use is then the same, whatever the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from cdk_constructs.data_engine.choices import EngineSpec, SslMode, engine_spec
from cdk_constructs.data_engine.interface import DatabaseIdentity, DataEngineProps
from cdk_constructs.keys import rotating_key
from cdk_constructs.logging import admit_log_groups, retained_log_group
from cdk_constructs.nag import NIST, acknowledge
from cdk_constructs.options import ProtectedKind
from cdk_constructs.vpc_function import closed_security_group

MASTER_ROTATION = Duration.days(30)
ENHANCED_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"

Database = rds.DatabaseCluster | rds.DatabaseInstance


@dataclass(frozen=True)
class FamilySettings:
    """What one family sets on its database: the parameter group and the exported logs."""

    description: str
    """Of the parameter group, after the database's identifier."""
    parameters: Mapping[str, str]
    exports: Mapping[str, str]
    """Log group construct id -> the export's name (``/aws/rds/<kind>/<id>/<export>``)."""


POSTGRES_SETTINGS = FamilySettings(
    # rds.force_ssl is set although PostgreSQL 15+ may default to it: never depend on a default.
    description="TLS only, DDL statements logged",
    parameters={"rds.force_ssl": "1", "log_statement": "ddl"},
    exports={"PostgresLogGroup": "postgresql"},
)
"""The same on an Aurora cluster and on an RDS instance."""


class RdsEngine(Construct):
    """The parts every engine has; see the module docstring.

    Nothing reaches the database until ``allow_client`` admits it: clients go to the proxy when
    there is one (the database then admits only the proxy, the secret rotation and the admin
    clients of ``allow_admin_client``), else to the database directly.
    """

    admin_ssl_mode = SslMode.REQUIRE
    """TLS to the database's own endpoint: the RDS CA bundle is not in the Lambda runtime's
    trust store."""

    database: Database
    identity: DatabaseIdentity

    def __init__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        self.spec: EngineSpec = engine_spec(props.engine)
        self.family = self.spec.family
        self.port = self.family.port
        self.retained = props.removal_policy is not RemovalPolicy.DESTROY
        self.database_name = props.database_name
        self._proxy_id_import: str | None = None
        self._proxy_logins: set[str] = set()
        self.proxy_role: iam.Role | None = None
        self.proxy_security_group: ec2.SecurityGroup | None = None
        self.proxy: rds.DatabaseProxy | None = None

    def _start(self, kind: str, settings: FamilySettings) -> str:
        """The key, the log groups of ``settings``' exports and the security group: what the
        database is built with. Returns the database's identifier (``<app>-<env>-db``)."""
        props = self._props
        identifier = f"{props.name_prefix}-db"
        self.settings = settings
        log_groups = {
            id_: f"/aws/rds/{kind}/{identifier}/{export}"
            for id_, export in settings.exports.items()
        }
        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts {identifier}: storage, master secret, PI",
            removal_policy=props.removal_policy,
        )
        # Encrypted with the environment's key (EnvironmentPolicies). This key still admits the
        # groups: CloudWatch Logs decrypts events written before a group moved to that key
        # with the key that encrypted them.
        admit_log_groups(self.key, name_patterns=list(log_groups.values()))
        self.log_groups = [self._log_group(id_, name) for id_, name in log_groups.items()]
        self.security_group = closed_security_group(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{identifier}: admits {self.port} from its clients only",
        )
        no_cidr = (
            "Every ingress rule of this group has a security group as its source (the proxy, "
            "the rotation function, the named clients), never a CIDR; the rule cannot read the "
            "port, which CDK takes from the database's endpoint (a token)."
        )
        for rule in ("EC2RestrictedCommonPorts", "EC2RestrictedSSH"):
            acknowledge(self.security_group, f"{NIST}{rule}", no_cidr)
        return identifier

    def _parameter_group(self, id_: str, identifier: str, engine: Any) -> rds.ParameterGroup:
        return rds.ParameterGroup(
            self,
            id_,
            engine=engine,
            description=f"{identifier}: {self.settings.description}",
            parameters=dict(self.settings.parameters),
        )

    def _finish(
        self, database: Database, *, kind: ProtectedKind, arn: str, identifier: str
    ) -> None:
        """After the database: its secret kept as long as it, rotation, the proxy, endpoints
        and what identifies it."""
        props = self._props
        self.database = database
        # RDS would create an export's log group itself, without retention or encryption.
        cast(CfnElement, database.node.default_child).node.add_dependency(*self.log_groups)
        # The password lives only here: keep it as long as the database and its snapshots.
        master = database.node.find_child("Secret")
        cast(secretsmanager.Secret, master).apply_removal_policy(props.removal_policy)
        secret = database.secret
        if secret is None:  # always set with generated credentials; narrows the type
            raise AssertionError("the database has no master secret")
        self.secret: secretsmanager.ISecret = secret
        self.rotation = self._rotation() if self.retained else None
        if self.rotation is None:
            acknowledge(
                master,
                "AwsSolutions-SMG4",
                "Rotation runs where data is retained (production); this environment is "
                "disposable and its master secret is only read by the migration function.",
            )
        self.admin_endpoint: str = (
            database.cluster_endpoint.hostname
            if isinstance(database, rds.DatabaseCluster)
            else database.instance_endpoint.hostname
        )
        """Where the master user logs in: the writer or the instance, never the proxy."""
        self.proxy = self._proxy() if props.proxy else None
        self.endpoint: str = self.proxy.endpoint if self.proxy else self.admin_endpoint
        """Where clients connect: the proxy when there is one, else the database."""
        self.ssl_mode = SslMode.VERIFY_FULL if self.proxy else SslMode.REQUIRE
        """The strictest TLS check a Lambda client can make against ``endpoint``."""
        self.identity = DatabaseIdentity(
            resource=cast(CfnResource, database.node.default_child),
            kind=kind,
            identifier=identifier,
            arn=arn,
            proxy_name=self.proxy.db_proxy_name if self.proxy else None,
            backup_resource_type=self.backup_resource_type,
            restore_overrides=self._restore_overrides(),
        )

    backup_resource_type = "RDS"
    """AWS Backup's type of the database."""

    def _restore_overrides(self) -> dict[str, str] | None:
        """Restore testing's metadata overrides; None: no restore test for this engine."""
        return None

    def _acknowledge_database(self, database: Construct) -> None:
        acknowledge(
            database,
            "AwsSolutions-RDS11",
            f"The standard {self.family.label} port is kept: only the proxy and named client "
            "security groups can reach it, so a non-standard port would add no protection.",
        )
        if not self._props.deletion_protection:
            acknowledge(
                database,
                "AwsSolutions-RDS10",
                "Deletion protection is on where data is retained (production); this "
                "environment's data is disposable and must be destroyable with its stack.",
            )

    def _monitoring_role(self, identifier: str) -> iam.Role | None:
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
            description=f"{identifier}: Enhanced Monitoring writes OS metrics to RDS* logs",
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
        rotation = self.database.add_rotation_single_user(
            automatically_after=MASTER_ROTATION, vpc_subnets=self._props.rotation_subnets
        )
        # The rotation function (from the Serverless Application Repository) logs to
        # /aws/lambda/<its name>: named after the database, not after this construct (CDK's
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
        """RDS Proxy in front of the database: clients log in as their own database user with
        an IAM token, end to end (the proxy holds no password for them)."""
        prefix = self._props.name_prefix
        proxy_security_group = self.proxy_security_group = closed_security_group(
            self,
            "ProxySecurityGroup",
            vpc=self._props.vpc,
            description=f"{prefix}-proxy: admits {self.port} from clients",
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
        target = (
            rds.ProxyTarget.from_cluster(self.database)
            if isinstance(self.database, rds.DatabaseCluster)
            else rds.ProxyTarget.from_instance(self.database)
        )
        proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            role=proxy_role,
            db_proxy_name=proxy_name,
            proxy_target=target,
            vpc=self._props.vpc,
            vpc_subnets=self._props.subnets,
            security_groups=[proxy_security_group],
            default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
            # The master secret stays registered, but nothing logs in with it here: the
            # migrations reach the database directly (allow_admin_client).
            secrets=[self.secret],
            iam_auth=False,
            require_tls=True,
            debug_logging=False,
        )
        # ProxyTarget.from_cluster/from_instance already admits the proxy on the port.
        proxy.node.add_dependency(log_group)
        return proxy

    def _log_group(self, id_: str, name: str) -> logs.LogGroup:
        return retained_log_group(self, id_, settings=self._props, log_group_name=name)

    def allow_client(self, client: ec2.IConnectable, *, description: str) -> None:
        """Admit ``client`` on the port of the endpoint (proxy or database)."""
        front: ec2.IConnectable = self.proxy if self.proxy else self.database
        # Written from the client's side: when the client lives in another stack, both rules
        # go to the client's stack, so that stack depends on this one and not the other way.
        client.connections.allow_to(front, ec2.Port.tcp(self.port), description)

    def allow_admin_client(self, client: ec2.IConnectable, *, description: str) -> list[IConstruct]:
        """Admit ``client`` on the port of the database directly, never the proxy.

        For the master user's password login (schema migrations): the proxy authenticates its
        clients with IAM (``DefaultAuthScheme`` IAM_AUTH), and whether it also passes a password
        login through is not documented, so the admin path does not depend on it. Returns the
        security group rules this call added, for a caller that must not log in before they exist.
        """
        groups = [*self.database.connections.security_groups, *client.connections.security_groups]
        existing = {child.node.path for group in groups for child in group.node.children}
        client.connections.allow_to(self.database, ec2.Port.tcp(self.port), description)
        return [
            child
            for group in groups
            for child in group.node.children
            if child.node.path not in existing
        ]

    def order_admin_run(self, run: Construct) -> None:
        """``run`` waits for the database and its instances and nothing else of it: in
        particular not for the master secret's rotation schedule, whose creation starts a
        rotation at once (RotateImmediatelyOnUpdate defaults to true).

        And the other way round: the first rotation waits for the first run, so a first deploy
        never logs in during the rotation's window (later scheduled rotations can still overlap
        a run; the runner then reads the secret again and logs in once more).
        """
        instances = [
            child
            for child in self.database.node.find_all()
            if isinstance(child, rds.CfnDBInstance) and child is not self.identity.resource
        ]
        run.node.add_dependency(self.identity.resource, *instances)
        for schedule in self.node.find_all():
            if isinstance(schedule, secretsmanager.CfnRotationSchedule):
                schedule.node.add_dependency(run)

    def _database_resource_id(self) -> str:
        """The ``rds-db:connect`` resource id of the database itself (``cluster-…``/``db-…``)."""
        if isinstance(self.database, rds.DatabaseCluster):
            return self.database.cluster_resource_identifier
        resource_id = self.database.instance_resource_id
        if resource_id is None:  # set on every instance this construct creates
            raise AssertionError("the DB instance has no resource id")
        return resource_id

    def connect_resource_arn(self, db_user: str, *, consumer: IConstruct | None = None) -> str:
        """The ``rds-db:connect`` resource for ``db_user`` at ``endpoint`` (proxy or database),
        for a policy that is no principal's own (a managed policy); ``grant_connect`` uses it.
        From then on the proxy, where there is one, may log in as ``db_user`` itself.

        ``consumer`` is where the ARN is used; from another stack, the proxy's id is read from
        this stack's outputs whole, because CloudFormation cannot split a value read from
        another stack's outputs.
        """
        if self.proxy_role is not None and db_user not in self._proxy_logins:
            # End-to-end IAM: the proxy logs in to the database as the same user with its role
            # (aws-cdk-lib's DatabaseProxy does not grant this itself).
            self._proxy_logins.add(db_user)
            self.database.grant_connect(self.proxy_role, db_user)
        if self.proxy:
            # arn:aws:rds:<region>:<account>:db-proxy:<prx-id>; IAM names the proxy by its id.
            resource_id = Fn.select(6, Fn.split(":", self.proxy.db_proxy_arn))
            if consumer is not None and Stack.of(consumer) is not Stack.of(self):
                resource_id = self._exported_proxy_id(resource_id)
                Stack.of(consumer).add_stack_dependency(Stack.of(self), "reads the proxy's id")
        else:
            resource_id = self._database_resource_id()
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

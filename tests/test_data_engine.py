"""The data engine seam: the factory, the interface every engine implements, and the consumers
(data and API tiers) that see nothing else of the engine."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import CfnWaitConditionHandle, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from constructs import Construct, IConstruct

from cdk_constructs.data_engine import factory
from cdk_constructs.data_engine.aurora import AuroraServerless
from cdk_constructs.data_engine.choices import (
    DatabaseEngine,
    EngineFamily,
    SslMode,
    engine_spec,
)
from cdk_constructs.data_engine.interface import (
    DatabaseIdentity,
    DataEngine,
    DataEngineProps,
    ServerlessCapacity,
)
from cdk_constructs.data_engine.rds_instance import RdsInstance
from cdk_constructs.network import Network
from cdk_constructs.options import ProtectedKind
from cdk_constructs.schema_migrations import RUNNER_DEFAULT_FAMILY, migrations_dir
from db_migrate import dialects
from stacks.config import APP_CONFIG
from stacks.data_stack import API_DB_USER, MIGRATIONS_PACKAGE
from tests.api_function import api_function, function_egress, function_statements
from tests.network_cases import vpc_network
from tests.synth import SynthesizedEnv, Tier, scratch_app, synth_variant_tiers
from tests.template_queries import get_att, imported, only, policy_statements_of_role, resources
from tests.test_data_helpers import MIGRATION_HANDLER
from tests.test_data_helpers import data_env as data_env

POSTGRES_PORT = EngineFamily.POSTGRESQL.port

# --- the construct's API for the API tier --------------------------------------------------


def engine_props(network: Network, *, proxy: bool) -> DataEngineProps:
    return DataEngineProps(
        vpc=network.vpc,
        subnets=network.db_subnets,
        availability_zones=("us-east-1a", "us-east-1b"),
        name_prefix="test",
        engine=DatabaseEngine.AURORA_POSTGRESQL,
        engine_version="16.13",
        size=ServerlessCapacity(min_capacity=0.5, max_capacity=2, auto_pause=None, readers=0),
        proxy=proxy,
        backup_retention=Duration.days(1),
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=RemovalPolicy.DESTROY,
        deletion_protection=False,
        rotation_subnets=network.app_subnets,
    )


@pytest.fixture(scope="module", params=[True, False], ids=["proxy", "direct"])
def granted(request: pytest.FixtureRequest) -> tuple[AuroraServerless, dict[str, Any]]:
    """A database (with or without proxy) whose ``grant_connect`` was given to a role, built by
    the factory from the default engine."""
    stack = Stack(scratch_app(), "Grant")
    network = vpc_network(stack)
    database = factory.create_data_engine(
        stack,
        "Database",
        props=engine_props(network, proxy=request.param),
    )
    assert isinstance(database, AuroraServerless)
    role = iam.Role(stack, "ApiRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    database.grant_connect(role, db_user="app_api")
    return database, dict(Template.from_stack(stack).to_json())


def test_grant_connect_allows_only_rds_db_connect_for_the_named_user(
    granted: tuple[AuroraServerless, dict[str, Any]],
) -> None:
    database, template = granted
    (role_id,) = [
        logical_id
        for logical_id in resources(template, "AWS::IAM::Role")
        if logical_id.startswith("ApiRole")
    ]
    (statement,) = policy_statements_of_role(template, role_id)
    assert statement["Action"] == "rds-db:connect"
    assert statement["Effect"] == "Allow"
    rendered = str(statement["Resource"])
    assert ":rds-db:" in rendered
    assert ":dbuser:" in rendered
    assert rendered.count("/app_api") == 1
    if database.proxy is not None:
        (proxy_id,) = resources(template, "AWS::RDS::DBProxy")
        assert str(get_att(proxy_id, "DBProxyArn")) in rendered
        assert database.ssl_mode is SslMode.VERIFY_FULL
    else:
        cluster_id, _ = only(template, "AWS::RDS::DBCluster")
        assert str(get_att(cluster_id, "DBClusterResourceId")) in rendered
        assert database.ssl_mode is SslMode.REQUIRE
    assert database.port == POSTGRES_PORT
    assert database.database_name == "app"


# --- the factory and the interface ---------------------------------------------------------


REGISTRY: dict[DatabaseEngine, type[Construct]] = {
    DatabaseEngine.AURORA_POSTGRESQL: AuroraServerless,
    DatabaseEngine.AURORA_MYSQL: AuroraServerless,
    DatabaseEngine.POSTGRES: RdsInstance,
    DatabaseEngine.MYSQL: RdsInstance,
}
"""The construct each engine is built by: Serverless v2 clusters, or one DB instance."""


def test_every_engine_has_a_registry_row_and_each_shipped_one_builds_its_engine(
    data_env: SynthesizedEnv,
) -> None:
    """Each shipped environment's database is its configured engine's construct, with that
    engine's family, port, guard kind and AWS Backup type (Aurora PostgreSQL for dev, staging and
    prod; RDS for PostgreSQL for spa and ec2; RDS for MySQL for classic)."""
    registered: Mapping[DatabaseEngine, object] = factory.ENGINES
    assert registered == REGISTRY
    config = data_env.config.database
    database = data_env.stage.data.database
    assert isinstance(database, REGISTRY[config.engine])
    assert database.spec is engine_spec(config.engine)
    assert database.family is config.spec.family
    assert database.port == config.spec.family.port
    assert database.admin_ssl_mode is SslMode.REQUIRE
    assert database.ssl_mode is (SslMode.VERIFY_FULL if config.proxy else SslMode.REQUIRE)
    identity = database.identity
    if config.spec.serverless:
        assert identity.kind is ProtectedKind.RDS_CLUSTER
        assert identity.backup_resource_type == "Aurora"
        assert identity.restore_overrides is not None  # Aurora has a restore test
    else:
        assert identity.kind is ProtectedKind.RDS_INSTANCE
        assert identity.backup_resource_type == "RDS"
        assert identity.restore_overrides is None  # no restore test for a DB instance
    assert (identity.proxy_name is not None) is config.proxy


def test_the_shipped_environments_run_each_kind_and_family() -> None:
    """The premise of the parametrized tests: the shipped environments cover an Aurora cluster
    and a DB instance, PostgreSQL and MySQL (spa and ec2: RDS for PostgreSQL, classic: RDS for
    MySQL)."""
    engines = {env.name: env.database.engine for env in APP_CONFIG.environments}
    assert engines == {
        "dev": DatabaseEngine.AURORA_POSTGRESQL,
        "staging": DatabaseEngine.AURORA_POSTGRESQL,
        "prod": DatabaseEngine.AURORA_POSTGRESQL,
        "spa": DatabaseEngine.POSTGRES,
        "classic": DatabaseEngine.MYSQL,
        "ec2": DatabaseEngine.POSTGRES,
        "express": DatabaseEngine.AURORA_POSTGRESQL,
    }


def interface_members() -> set[str]:
    """The attributes and methods ``DataEngine`` declares."""
    methods = {name for name, value in vars(DataEngine).items() if callable(value)}
    return {*DataEngine.__annotations__, *methods} - {name for name in methods if name[0] == "_"}


def test_the_engine_implements_every_member_of_the_interface(
    granted: tuple[AuroraServerless, dict[str, Any]],
) -> None:
    database, _ = granted
    members = interface_members()
    assert {"endpoint", "port", "ssl_mode", "grant_connect", "allow_client", "identity"} <= members
    assert all(hasattr(database, member) for member in members)
    conforming: DataEngine = database  # and mypy checks the types
    cluster = database.cluster.node.default_child
    assert cluster is not None
    assert conforming.identity.resource.node.path == cluster.node.path


# --- a second engine, registered without touching its consumers ------------------------------


class FakeEngine(Construct):
    """Any engine at all: a security group, a secret, a stand-in resource, odd port and host."""

    spec = engine_spec(DatabaseEngine.AURORA_POSTGRESQL)
    family = EngineFamily.POSTGRESQL
    port = 6543
    ssl_mode = SslMode.VERIFY_FULL
    admin_ssl_mode = SslMode.REQUIRE
    endpoint = "clients.fake.invalid"
    admin_endpoint = "admin.fake.invalid"
    arn = "arn:aws:rds-db:us-east-1:111111111111:dbuser:fake-db"

    def __init__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> None:
        super().__init__(scope, id_)
        self.database_name = props.database_name
        self.security_group = ec2.SecurityGroup(
            self, "Group", vpc=props.vpc, allow_all_outbound=False
        )
        self.secret = secretsmanager.Secret(self, "Master")
        self.identity = DatabaseIdentity(
            resource=CfnWaitConditionHandle(self, "Database"),
            kind=ProtectedKind.RDS_CLUSTER,
            identifier="fake-db",
            arn="arn:aws:rds:us-east-1:111111111111:cluster:fake-db",
            proxy_name=None,
            backup_resource_type="Aurora",
        )

    def capacity_alarms(self) -> tuple[()]:
        return ()

    def allow_client(self, client: ec2.IConnectable, *, description: str) -> None:
        client.connections.allow_to(self.security_group, ec2.Port.tcp(self.port), description)

    def allow_admin_client(self, client: ec2.IConnectable, *, description: str) -> list[IConstruct]:
        self.allow_client(client, description=description)
        return []

    def grant_connect(self, grantee: iam.IGrantable, *, db_user: str) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["rds-db:connect"],
            resource_arns=[self.connect_resource_arn(db_user)],
        )

    def connect_resource_arn(self, db_user: str, *, consumer: IConstruct | None = None) -> str:
        return f"{self.arn}/{db_user}"

    def order_admin_run(self, run: Construct) -> None:
        run.node.add_dependency(self.identity.resource)

    def metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=metric_name,
            dimensions_map={"DBInstanceIdentifier": "fake-db"},
            statistic=statistic,
            period=period,
        )


@pytest.fixture(scope="module")
def fake_engine_templates() -> dict[Tier, dict[str, Any]]:
    """dev's data and API tiers with the default engine's registry row pointing at FakeEngine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(factory.ENGINES, DatabaseEngine.AURORA_POSTGRESQL, FakeEngine)
        return synth_variant_tiers(APP_CONFIG.environment("dev"), Tier.API)


def test_a_second_engine_needs_no_change_in_the_data_tier(
    fake_engine_templates: dict[Tier, dict[str, Any]],
) -> None:
    data = fake_engine_templates[Tier.DATA]
    assert resources(data, "AWS::RDS::DBCluster") == {}
    (handle_id,) = resources(data, "AWS::CloudFormation::WaitConditionHandle")
    (resource,) = resources(data, "Custom::SchemaMigrations").values()
    assert handle_id in resource["DependsOn"]
    assert resource["Properties"]["Endpoint"] == FakeEngine.admin_endpoint
    (function,) = [
        function
        for function in resources(data, "AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == MIGRATION_HANDLER
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert set(variables) == {"DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE"}
    assert variables["DB_HOST"] == FakeEngine.admin_endpoint
    assert variables["DB_PORT"] == str(FakeEngine.port)
    assert variables["DB_SSLMODE"] == SslMode.REQUIRE
    output = data["Outputs"]["DatabaseEndpoint"]
    assert output["Value"] == FakeEngine.endpoint
    assert output["Description"].startswith("PostgreSQL endpoint for clients")


def test_a_second_engine_needs_no_change_in_the_api_tier(
    fake_engine_templates: dict[Tier, dict[str, Any]],
) -> None:
    data, api = fake_engine_templates[Tier.DATA], fake_engine_templates[Tier.API]
    function_id, function = api_function(api)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["DB_HOST"] == FakeEngine.endpoint
    assert variables["DB_PORT"] == str(FakeEngine.port)
    assert variables["DB_SSLMODE"] == SslMode.VERIFY_FULL
    assert variables["DB_NAME"] == "app"
    (fake_group,) = [
        logical_id
        for logical_id in resources(data, "AWS::EC2::SecurityGroup")
        if logical_id.startswith("DatabaseGroup")
    ]
    to_database = [rule for rule in function_egress(api) if rule["FromPort"] == FakeEngine.port]
    assert [imported(rule["DestinationSecurityGroupId"], data) for rule in to_database] == [
        get_att(fake_group, "GroupId")
    ]
    connect = [
        statement["Resource"]
        for statement in function_statements(api)
        if statement["Action"] == "rds-db:connect"
    ]
    assert connect == [f"{FakeEngine.arn}/{API_DB_USER}"]
    assert function_id not in json.dumps(data)


# --- the migration set of each family --------------------------------------------------------


def test_each_family_has_its_migration_set_where_the_app_and_the_runner_look() -> None:
    """The app fingerprints ``migrations/<family>/`` and names the family in DB_ENGINE_FAMILY;
    the runner reads the same folder for the same value."""
    assert {family.value for family in EngineFamily} == {
        family.value for family in dialects.EngineFamily
    }
    assert RUNNER_DEFAULT_FAMILY.value == dialects.DEFAULT_FAMILY.value
    for family in EngineFamily:
        runner_dir = dialects.DIALECTS[dialects.EngineFamily(family.value)].migrations_dir
        assert migrations_dir(MIGRATIONS_PACKAGE, family) == runner_dir
        assert sorted(runner_dir.glob("*.sql"))

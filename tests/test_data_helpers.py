"""Queries over the data tier's templates, shared by the ``test_data*`` modules (no tests here).

The database is an Aurora cluster (``AWS::RDS::DBCluster``, its instances in it) or one RDS DB
instance (``AWS::RDS::DBInstance`` in no cluster), per ``database.engine``: ``database_of``
finds whichever the environment's engine builds, and refuses the other."""

from __future__ import annotations

from typing import Any

import pytest

from cdk_constructs.data_engine.choices import DatabaseEngine, EngineFamily
from stacks.config import APP_CONFIG, EnvironmentConfig
from tests.synth import Synthesized, SynthesizedEnv
from tests.template_queries import get_att, imported, only, resources, subnets_by_group

MIGRATION_HANDLER = "db_migrate.handler.on_event"
PROXIED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).database.proxy
]
RETAINED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).retain_data
]
AURORA_ENV_NAMES = [
    name
    for name in APP_CONFIG.environment_names
    if APP_CONFIG.environment(name).database.spec.serverless
]
"""The shipped environments whose database is an Aurora Serverless v2 cluster."""
INSTANCE_ENV_NAMES = [
    name
    for name in APP_CONFIG.environment_names
    if not APP_CONFIG.environment(name).database.spec.serverless
]
"""The shipped environments whose database is one RDS DB instance."""

# What each engine must be built with, written here rather than read from the constructs, so a
# change there shows up as a failing test.
ENGINE_EXPORTS: dict[DatabaseEngine, list[str]] = {
    DatabaseEngine.AURORA_POSTGRESQL: ["postgresql"],
    DatabaseEngine.AURORA_MYSQL: ["error"],
    DatabaseEngine.POSTGRES: ["postgresql"],
    DatabaseEngine.MYSQL: ["error", "slowquery"],
}
"""The logs each engine exports to CloudWatch Logs (``EnableCloudwatchLogsExports``)."""
TLS_ONLY: dict[DatabaseEngine, tuple[str, str]] = {
    DatabaseEngine.AURORA_POSTGRESQL: ("rds.force_ssl", "1"),
    # A cluster parameter of Aurora MySQL 3, which takes ON/OFF.
    DatabaseEngine.AURORA_MYSQL: ("require_secure_transport", "ON"),
    DatabaseEngine.POSTGRES: ("rds.force_ssl", "1"),
    # An instance parameter of RDS for MySQL, which takes 0/1 (0 by default on 8.4).
    DatabaseEngine.MYSQL: ("require_secure_transport", "1"),
}
"""The parameter (and value) that refuses every connection without TLS, per engine."""
PARAMETER_FAMILY_PREFIX: dict[DatabaseEngine, str] = {
    DatabaseEngine.AURORA_POSTGRESQL: "aurora-postgresql",
    DatabaseEngine.AURORA_MYSQL: "aurora-mysql",
    DatabaseEngine.POSTGRES: "postgres",
    DatabaseEngine.MYSQL: "mysql",
}
PROXY_ENGINE_FAMILY = {EngineFamily.POSTGRESQL: "POSTGRESQL", EngineFamily.MYSQL: "MYSQL"}


@pytest.fixture(params=APP_CONFIG.environment_names)
def data_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment (the data tier is the same whatever the API's shape)."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=AURORA_ENV_NAMES)
def aurora_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment with an Aurora Serverless v2 cluster."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=INSTANCE_ENV_NAMES)
def instance_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment with one RDS DB instance."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=PROXIED_ENV_NAMES)
def proxied_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment that has RDS Proxy."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=RETAINED_ENV_NAMES)
def rotated_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment whose master secret rotates (retain_data)."""
    name: str = request.param
    return synthesized.envs[name]


def is_aurora(env: SynthesizedEnv) -> bool:
    return env.config.database.spec.serverless


def engine_port(config: EnvironmentConfig) -> int:
    """The port the environment's engine listens on (its family's standard port)."""
    return config.database.spec.family.port


def cluster_of(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    """The Aurora cluster (fails for an instance engine)."""
    assert is_aurora(env), f"{env.config.name} has no Aurora cluster"
    return only(env.data_json, "AWS::RDS::DBCluster")


def instance_of(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    """The DB instance of an instance engine (fails for Aurora)."""
    assert not is_aurora(env), f"{env.config.name} has an Aurora cluster"
    return standalone_instance(env.data_json)


def standalone_instance(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one DB instance of a template that has no cluster."""
    assert resources(template, "AWS::RDS::DBCluster") == {}
    return only(template, "AWS::RDS::DBInstance")


def database_of(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    """The database whatever the engine: the cluster, or the DB instance."""
    return cluster_of(env) if is_aurora(env) else instance_of(env)


def database_in(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The database of a data stack template without its config: the cluster if there is one,
    else its single DB instance."""
    if resources(template, "AWS::RDS::DBCluster"):
        return only(template, "AWS::RDS::DBCluster")
    return standalone_instance(template)


def database_security_groups(database: dict[str, Any]) -> list[Any]:
    """A cluster's ``VpcSecurityGroupIds`` or an instance's ``VPCSecurityGroups``."""
    if database["Type"] == "AWS::RDS::DBCluster":
        groups: list[Any] = database["Properties"]["VpcSecurityGroupIds"]
    else:
        assert database["Type"] == "AWS::RDS::DBInstance"
        groups = database["Properties"]["VPCSecurityGroups"]
    return groups


def database_identifier(database: dict[str, Any]) -> str:
    """The database's name: ``DBClusterIdentifier`` or ``DBInstanceIdentifier``."""
    key = (
        "DBClusterIdentifier"
        if database["Type"] == "AWS::RDS::DBCluster"
        else "DBInstanceIdentifier"
    )
    identifier: str = database["Properties"][key]
    return identifier


def database_name(database: dict[str, Any]) -> str:
    """The database created in it: a cluster's ``DatabaseName``, an instance's ``DBName``."""
    key = "DatabaseName" if database["Type"] == "AWS::RDS::DBCluster" else "DBName"
    name: str = database["Properties"][key]
    return name


def resource_id_attribute(database: dict[str, Any]) -> str:
    """The attribute ``rds-db:connect`` names the database by (``cluster-…``/``db-…``)."""
    return "DBClusterResourceId" if database["Type"] == "AWS::RDS::DBCluster" else "DbiResourceId"


def exported_log_group_name(env: SynthesizedEnv, export: str) -> str:
    """Where RDS writes one of the database's log exports."""
    _, database = database_of(env)
    kind = "cluster" if is_aurora(env) else "instance"
    return f"/aws/rds/{kind}/{database_identifier(database)}/{export}"


def writer_ids(env: SynthesizedEnv) -> set[str]:
    """What the master user logs in to: the cluster and its writer, or the instance."""
    database_id, _ = database_of(env)
    if not is_aurora(env):
        return {database_id}
    (writer_id,) = [
        logical_id
        for logical_id, instance in resources(env.data_json, "AWS::RDS::DBInstance").items()
        if instance["Properties"].get("DBClusterIdentifier") == {"Ref": database_id}
        and instance["Properties"]["PromotionTier"] == 0
    ]
    return {database_id, writer_id}


def proxies_of(env: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    return resources(env.data_json, "AWS::RDS::DBProxy")


def migration_function(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    found = [
        (logical_id, function)
        for logical_id, function in resources(env.data_json, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == MIGRATION_HANDLER
    ]
    assert len(found) == 1
    return found[0]


def migrations_resource(env: SynthesizedEnv) -> str:
    ((logical_id, _),) = resources(env.data_json, "Custom::SchemaMigrations").items()
    return logical_id


def group_id(value: dict[str, Any]) -> str:
    """Logical id of a security group from ``{"Fn::GetAtt": [id, "GroupId"]}``."""
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "GroupId"
    return str(logical_id)


def database_group(env: SynthesizedEnv) -> str:
    (group,) = database_security_groups(database_of(env)[1])
    return group_id(group)


def proxy_group(env: SynthesizedEnv) -> str:
    (proxy,) = proxies_of(env).values()
    (group,) = proxy["Properties"]["VpcSecurityGroupIds"]
    return group_id(group)


def front_group_in(data: dict[str, Any]) -> Any:
    """``GetAtt GroupId`` of what clients reach in a data template: the proxy's security group
    when there is a proxy, else the database's."""
    proxies = resources(data, "AWS::RDS::DBProxy")
    if proxies:
        (proxy,) = proxies.values()
        (group,) = proxy["Properties"]["VpcSecurityGroupIds"]
    else:
        (group,) = database_security_groups(database_in(data)[1])
    return group


def migration_group(env: SynthesizedEnv) -> str:
    (group,) = migration_function(env)[1]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    return group_id(group)


def subnet_group_of(env: SynthesizedEnv, subnet_ids: list[Any]) -> set[str]:
    """Which subnet tiers (public/app/db) the referenced network subnets belong to."""
    tier_of = {
        subnet: tier
        for tier, by_zone in subnets_by_group(env.network_json).items()
        for subnet in by_zone.values()
    }
    tiers = {tier_of[imported(subnet, env.network_json)["Ref"]] for subnet in subnet_ids}
    assert len(subnet_ids) == len(env.config.availability_zones)
    return tiers


def key_id(env: SynthesizedEnv) -> str:
    """The database's key: the one its cluster's or instance's storage is encrypted with (the
    data stack may hold others, e.g. the backup vault's)."""
    _, database = database_of(env)
    logical_id: str = database["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    key = env.data_json["Resources"][logical_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    return logical_id


def port_of(rule: dict[str, Any], env: SynthesizedEnv) -> int:
    """A rule's port, whether literal or the database's ``Endpoint.Port`` (then the port the
    database is created with)."""
    assert rule["FromPort"] == rule["ToPort"]
    database_id, database = database_of(env)
    if rule["FromPort"] == get_att(database_id, "Endpoint.Port"):
        return int(database["Properties"]["Port"])
    return int(rule["FromPort"])

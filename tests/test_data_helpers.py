"""Queries over the data tier's templates, shared by the ``test_data*`` modules (no tests here)."""

from __future__ import annotations

from typing import Any

import pytest

from cdk_constructs.data_engine.aurora_postgres import POSTGRES_PORT
from stacks.config import APP_CONFIG
from tests.synth import Synthesized, SynthesizedEnv
from tests.template_queries import get_att, imported, only, resources, subnets_by_group

MIGRATION_HANDLER = "db_migrate.handler.on_event"
PROXIED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).database.proxy
]
RETAINED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).retain_data
]


@pytest.fixture(params=PROXIED_ENV_NAMES)
def proxied_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment that has RDS Proxy."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=RETAINED_ENV_NAMES)
def rotated_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment whose master secret rotates (prod)."""
    name: str = request.param
    return synthesized.envs[name]


def cluster_of(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    return only(env.data_json, "AWS::RDS::DBCluster")


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
    (group,) = cluster_of(env)[1]["Properties"]["VpcSecurityGroupIds"]
    return group_id(group)


def proxy_group(env: SynthesizedEnv) -> str:
    (proxy,) = proxies_of(env).values()
    (group,) = proxy["Properties"]["VpcSecurityGroupIds"]
    return group_id(group)


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
    """The database's key: the one its cluster's storage is encrypted with (the data stack may
    hold others, e.g. the backup vault's)."""
    _, cluster = cluster_of(env)
    logical_id: str = cluster["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    key = env.data_json["Resources"][logical_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    return logical_id


def port_of(rule: dict[str, Any], cluster_id: str) -> int:
    """A rule's port, whether literal or the cluster's ``Endpoint.Port``."""
    assert rule["FromPort"] == rule["ToPort"]
    if rule["FromPort"] == get_att(cluster_id, "Endpoint.Port"):
        return POSTGRES_PORT
    return int(rule["FromPort"])

"""The engines the shipped environments do not run, synthesized as dev's data tier: Aurora MySQL
Serverless v2 behind a proxy, and a retained RDS for PostgreSQL instance (rotation, deletion
protection, snapshot). The shipped instance examples (spa, classic) are checked in test_data."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.data_engine.choices import DatabaseEngine
from stacks.config import APP_CONFIG
from stacks.config.sections import DatabaseConfig
from stacks.data_stack import API_DB_USER, READONLY_DB_USER
from tests.synth import Tier, synth_variant, synth_variant_tiers
from tests.template_queries import get_att, only, resources
from tests.test_data_helpers import MIGRATION_HANDLER

DEV = APP_CONFIG.environment("dev")


@pytest.fixture(scope="module")
def aurora_mysql() -> dict[str, Any]:
    """With the API tier: its grant gives the proxy's role its login to the cluster."""
    database = DatabaseConfig(engine=DatabaseEngine.AURORA_MYSQL, min_capacity=0.5, proxy=True)
    return synth_variant_tiers(replace(DEV, database=database), Tier.API, nag=True)[Tier.DATA]


@pytest.fixture(scope="module")
def retained_postgres() -> dict[str, Any]:
    database = DatabaseConfig(engine=DatabaseEngine.POSTGRES, proxy=False)
    web = replace(DEV.web, allow_plain_http=True)
    env = replace(DEV, database=database, retain_data=True, web=web)
    return synth_variant(env, Tier.DATA, nag=True)


def test_aurora_mysql_is_a_serverless_v2_cluster_of_the_configured_version(
    aurora_mysql: dict[str, Any],
) -> None:
    _, cluster = only(aurora_mysql, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-mysql"
    assert props["EngineVersion"] == "8.0.mysql_aurora.3.10.4"
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0.5
    assert props["StorageEncrypted"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["EnableCloudwatchLogsExports"] == ["error"]
    assert props["Port"] == 3306
    (group,) = resources(aurora_mysql, "AWS::RDS::DBClusterParameterGroup").values()
    assert group["Properties"]["Parameters"] == {"require_secure_transport": "ON"}


def test_aurora_mysql_error_log_group_exists_first_with_retention(
    aurora_mysql: dict[str, Any],
) -> None:
    _, cluster = only(aurora_mysql, "AWS::RDS::DBCluster")
    groups = {
        logical_id: group["Properties"]
        for logical_id, group in resources(aurora_mysql, "AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName", "").endswith("/error")
    }
    ((group_id, group),) = groups.items()
    assert group["LogGroupName"] == "/aws/rds/cluster/three-tier-dev-db/error"
    assert group["RetentionInDays"] == DEV.log_retention_days
    assert group_id in cluster["DependsOn"]


def test_aurora_mysql_proxy_is_iam_end_to_end_with_tls(aurora_mysql: dict[str, Any]) -> None:
    _, proxy = only(aurora_mysql, "AWS::RDS::DBProxy")
    props = proxy["Properties"]
    assert props["EngineFamily"] == "MYSQL"
    assert props["DefaultAuthScheme"] == "IAM_AUTH"
    assert props["RequireTLS"] is True
    assert props["DebugLogging"] is False
    policies = resources(aurora_mysql, "AWS::IAM::Policy")
    connect = [
        statement
        for logical_id, policy in policies.items()
        if logical_id.startswith("DatabaseProxyRole")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "rds-db:connect"
    ]
    assert len(connect) == 1
    # The users clients log in as through it: the API's and the operators' read-only one.
    cluster_id, _ = only(aurora_mysql, "AWS::RDS::DBCluster")
    assert connect[0]["Resource"] == [
        {
            "Fn::Join": [
                "",
                [
                    f"arn:aws:rds-db:{DEV.region}:{DEV.account}:dbuser:",
                    get_att(cluster_id, "DBClusterResourceId"),
                    f"/{user}",
                ],
            ]
        }
        for user in (API_DB_USER, READONLY_DB_USER)
    ]


def test_aurora_mysql_migrations_speak_mysql_at_the_writer(aurora_mysql: dict[str, Any]) -> None:
    (function,) = [
        function
        for function in resources(aurora_mysql, "AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") == MIGRATION_HANDLER
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["DB_ENGINE_FAMILY"] == "mysql"
    assert variables["DB_PORT"] == "3306"
    assert variables["DB_SSLMODE"] == "require"
    assert "Endpoint.Address" in json.dumps(variables["DB_HOST"])
    ingress = [
        rule["Properties"]
        for rule in resources(aurora_mysql, "AWS::EC2::SecurityGroupIngress").values()
    ]
    literal_ports = {rule["FromPort"] for rule in ingress if isinstance(rule["FromPort"], int)}
    assert literal_ports == {3306}


def test_a_retained_instance_is_protected_rotated_and_snapshotted(
    retained_postgres: dict[str, Any],
) -> None:
    _, instance = only(retained_postgres, "AWS::RDS::DBInstance")
    props = instance["Properties"]
    assert instance["DeletionPolicy"] == "Snapshot"
    assert props["DeletionProtection"] is True
    assert props["DeleteAutomatedBackups"] is False
    assert props["Engine"] == "postgres"
    assert props["EngineVersion"] == "17.9"
    assert props["StorageType"] == "gp3"
    assert props["StorageEncrypted"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    (schedule,) = resources(retained_postgres, "AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert "RDSPostgreSQLRotationSingleUser" in json.dumps(retained_postgres["Mappings"])
    (group,) = resources(retained_postgres, "AWS::RDS::DBParameterGroup").values()
    assert group["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    guards = resources(retained_postgres, "Custom::CreateRollbackGuard")
    assert any(guard["Properties"].get("Kind") == "rds-instance" for guard in guards.values()), (
        guards
    )

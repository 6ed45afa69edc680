"""The data tier as synthesized for each environment: the database (an Aurora cluster or one
RDS DB instance), the proxy, the session table (relations and settings, not logical ids)."""

from __future__ import annotations

from cdk_constructs.data_engine.choices import DatabaseEngine
from tests.synth import SynthesizedEnv
from tests.template_queries import get_att, imported, only, ref, resources
from tests.test_data_helpers import (
    ENGINE_EXPORTS,
    PARAMETER_FAMILY_PREFIX,
    PROXY_ENGINE_FAMILY,
    TLS_ONLY,
    cluster_of,
    database_of,
    engine_port,
    exported_log_group_name,
    instance_of,
    is_aurora,
    key_id,
    proxies_of,
    subnet_group_of,
)
from tests.test_data_helpers import aurora_env as aurora_env
from tests.test_data_helpers import data_env as data_env
from tests.test_data_helpers import instance_env as instance_env
from tests.test_data_helpers import proxied_env as proxied_env

# --- the database (every engine) -------------------------------------------------------------


def test_database_encryption_iam_auth_and_tls(data_env: SynthesizedEnv) -> None:
    env = data_env
    engine = env.config.database.engine
    _, database = database_of(env)
    props = database["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == get_att(key_id(env), "Arn")
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert int(props["Port"]) == engine_port(env.config)
    # A cluster's own parameter group, or the instance's.
    parameters_key = "DBClusterParameterGroupName" if is_aurora(env) else "DBParameterGroupName"
    parameter_group = env.data_json["Resources"][props[parameters_key]["Ref"]]
    expected_type = (
        "AWS::RDS::DBClusterParameterGroup" if is_aurora(env) else "AWS::RDS::DBParameterGroup"
    )
    assert parameter_group["Type"] == expected_type
    parameters = parameter_group["Properties"]
    assert parameters["Family"].startswith(PARAMETER_FAMILY_PREFIX[engine])
    name, value = TLS_ONLY[engine]
    assert parameters["Parameters"][name] == value


def test_logs_exported_to_encrypted_groups_with_retention(data_env: SynthesizedEnv) -> None:
    env = data_env
    _, database = database_of(env)
    exports = ENGINE_EXPORTS[env.config.database.engine]
    assert database["Properties"]["EnableCloudwatchLogsExports"] == exports
    expected_names = [exported_log_group_name(env, export) for export in exports]
    (network_key_id, _) = only(env.network_json, "AWS::KMS::Key")
    for expected_name in expected_names:
        groups = {
            logical_id: group
            for logical_id, group in resources(env.data_json, "AWS::Logs::LogGroup").items()
            if group["Properties"].get("LogGroupName") == expected_name
        }
        assert len(groups) == 1, expected_name
        ((group_logical_id, group),) = groups.items()
        assert group["Properties"]["RetentionInDays"] == env.config.log_retention_days
        # The environment key; the database key still admits the group, for events it encrypted.
        assert imported(group["Properties"]["KmsKeyId"], env.network_json) == get_att(
            network_key_id, "Arn"
        )
        # Created before the database, so RDS never creates it without retention.
        assert group_logical_id in database["DependsOn"]
    database_key = env.data_json["Resources"][key_id(env)]["Properties"]["KeyPolicy"]
    admitted = [
        statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        for statement in database_key["Statement"]
        if "ArnLike" in statement.get("Condition", {})
    ]
    assert admitted == [
        [
            f"arn:aws:logs:{env.config.region}:{env.config.account}:log-group:{name}"
            for name in expected_names
        ]
    ]


def test_retention_and_deletion_follow_the_data_policy(data_env: SynthesizedEnv) -> None:
    env = data_env
    retained = env.config.retain_data
    _, database = database_of(env)
    assert database["Properties"].get("DeletionProtection", False) is retained
    assert database["DeletionPolicy"] == ("Snapshot" if retained else "Delete")
    assert database["UpdateReplacePolicy"] == ("Snapshot" if retained else "Delete")
    # Retained, except when the create that made them rolls back (test_first_deploy.py).
    kept = "RetainExceptOnCreate" if retained else "Delete"
    stateful = ("AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::DynamoDB::GlobalTable")
    for resource_type in stateful:
        for resource in resources(env.data_json, resource_type).values():
            assert resource["DeletionPolicy"] == kept, resource_type
    for group in resources(env.data_json, "AWS::Logs::LogGroup").values():
        assert group["DeletionPolicy"] == kept


def test_master_secret_encrypted_with_the_key_and_rotated_where_retained(
    data_env: SynthesizedEnv,
) -> None:
    env = data_env
    _, secret = only(env.data_json, "AWS::SecretsManager::Secret")
    assert secret["Properties"]["KmsKeyId"] == get_att(key_id(env), "Arn")
    assert "GenerateSecretString" in secret["Properties"]
    schedules = resources(env.data_json, "AWS::SecretsManager::RotationSchedule")
    if env.config.retain_data:
        ((_, schedule),) = schedules.items()
        assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    else:
        assert schedules == {}


# --- Aurora Serverless v2 --------------------------------------------------------------------


def test_cluster_engine_capacity_and_placement(aurora_env: SynthesizedEnv) -> None:
    env = aurora_env
    config = env.config.database
    _cluster_id, cluster = cluster_of(env)
    props = cluster["Properties"]
    assert props["Engine"] == config.engine.value
    assert props["EngineVersion"] == (
        f"8.0.mysql_aurora.{config.version}"
        if config.engine is DatabaseEngine.AURORA_MYSQL
        else config.version
    )
    scaling = props["ServerlessV2ScalingConfiguration"]
    assert scaling["MinCapacity"] == config.min_capacity
    assert scaling["MaxCapacity"] == config.max_capacity
    if config.min_capacity == 0:
        assert scaling["SecondsUntilAutoPause"] == config.auto_pause_minutes * 60
    else:
        assert "SecondsUntilAutoPause" not in scaling
    _, subnet_group = only(env.data_json, "AWS::RDS::DBSubnetGroup")
    assert props["DBSubnetGroupName"] == ref(only(env.data_json, "AWS::RDS::DBSubnetGroup")[0])
    assert subnet_group_of(env, subnet_group["Properties"]["SubnetIds"]) == {"db"}
    assert props["BackupRetentionPeriod"] == config.backup_retention_days
    assert props["DatabaseName"] == "app"


def test_writer_and_reader_instances(aurora_env: SynthesizedEnv) -> None:
    env = aurora_env
    config = env.config.database
    cluster_id, cluster = cluster_of(env)
    key_arn = get_att(key_id(env), "Arn")
    assert cluster["Properties"]["PerformanceInsightsEnabled"] is True
    assert cluster["Properties"]["PerformanceInsightsKmsKeyId"] == key_arn
    all_instances = resources(env.data_json, "AWS::RDS::DBInstance").values()
    instances = [
        instance["Properties"]
        for instance in all_instances
        if instance["Properties"].get("DBClusterIdentifier") == ref(cluster_id)
    ]
    assert len(instances) == len(all_instances) == 1 + config.readers
    writer_zone, reader_zone = env.config.availability_zones
    by_tier = {instance["PromotionTier"]: instance for instance in instances}
    assert by_tier[0]["AvailabilityZone"] == writer_zone
    if config.readers:
        # Tier 1 scales with the writer, so the failover target is already at the writer's size.
        assert by_tier[1]["AvailabilityZone"] == reader_zone
    for instance in instances:
        assert instance["DBInstanceClass"] == "db.serverless"
        assert instance["PubliclyAccessible"] is False
        assert instance["EnablePerformanceInsights"] is True
        assert instance["PerformanceInsightsKMSKeyId"] == key_arn


# --- one RDS DB instance ---------------------------------------------------------------------


def test_instance_engine_class_storage_and_placement(instance_env: SynthesizedEnv) -> None:
    env = instance_env
    config = env.config.database
    assert resources(env.data_json, "AWS::RDS::DBCluster") == {}
    _, instance = instance_of(env)
    props = instance["Properties"]
    assert "DBClusterIdentifier" not in props
    assert props["Engine"] == config.engine.value
    assert props["EngineVersion"] == config.version
    assert props["DBInstanceClass"] == f"db.{config.instance_class}"
    assert props["DBName"] == "app"
    assert props["PubliclyAccessible"] is False
    # gp3 with storage autoscaling up to the configured ceiling (CDK's default is gp2).
    assert props["StorageType"] == "gp3"
    assert int(props["AllocatedStorage"]) == config.allocated_storage_gib
    assert props["MaxAllocatedStorage"] == config.max_allocated_storage_gib
    assert props["MultiAZ"] is config.multi_az
    # A Multi-AZ instance cannot name its AZ; a single-AZ one sits in the first configured AZ.
    if config.multi_az:
        assert "AvailabilityZone" not in props
    else:
        assert props["AvailabilityZone"] == env.config.availability_zones[0]
    _, subnet_group = only(env.data_json, "AWS::RDS::DBSubnetGroup")
    assert props["DBSubnetGroupName"] == ref(only(env.data_json, "AWS::RDS::DBSubnetGroup")[0])
    assert subnet_group_of(env, subnet_group["Properties"]["SubnetIds"]) == {"db"}
    assert props["BackupRetentionPeriod"] == config.backup_retention_days
    assert props["CopyTagsToSnapshot"] is True
    # A retained database keeps its automated backups (point-in-time restore) after a deletion.
    assert props["DeleteAutomatedBackups"] is (not env.config.retain_data)


def test_instance_insights_only_where_the_class_supports_them(
    instance_env: SynthesizedEnv,
) -> None:
    """Database Insights (Performance Insights) does not run on the burstable micro and small
    classes of MySQL; the instance engines keep it off there on both families."""
    env = instance_env
    _, instance = instance_of(env)
    props = instance["Properties"]
    size = env.config.database.instance_class.rsplit(".", 1)[-1]
    if size in ("micro", "small"):
        assert props["EnablePerformanceInsights"] is False
        assert "PerformanceInsightsKMSKeyId" not in props
    else:
        assert props["EnablePerformanceInsights"] is True
        assert props["PerformanceInsightsKMSKeyId"] == get_att(key_id(env), "Arn")


# --- proxy ---------------------------------------------------------------------------------


def test_proxy_only_where_configured(data_env: SynthesizedEnv) -> None:
    env = data_env
    assert len(proxies_of(env)) == (1 if env.config.database.proxy else 0)


def test_proxy_uses_end_to_end_iam_auth_tls_and_no_debug_logging(
    proxied_env: SynthesizedEnv,
) -> None:
    env = proxied_env
    ((_, proxy),) = proxies_of(env).items()
    props = proxy["Properties"]
    assert props["DefaultAuthScheme"] == "IAM_AUTH"
    assert props["RequireTLS"] is True
    assert props["DebugLogging"] is False
    assert props["EngineFamily"] == PROXY_ENGINE_FAMILY[env.config.database.spec.family]
    assert subnet_group_of(env, props["VpcSubnetIds"]) == {"db"}
    database_id, _ = database_of(env)
    (target_group,) = resources(env.data_json, "AWS::RDS::DBProxyTargetGroup").values()
    # The cluster, or the instance: never both.
    targets = {
        key: target_group["Properties"].get(key)
        for key in ("DBClusterIdentifiers", "DBInstanceIdentifiers")
    }
    if is_aurora(env):
        assert targets == {
            "DBClusterIdentifiers": [ref(database_id)],
            "DBInstanceIdentifiers": None,
        }
    else:
        assert targets == {
            "DBClusterIdentifiers": None,
            "DBInstanceIdentifiers": [ref(database_id)],
        }
    assert "Tags" not in target_group["Properties"]  # CloudFormation rejects them


# --- session table -------------------------------------------------------------------------


def test_session_table(data_env: SynthesizedEnv) -> None:
    env = data_env
    (table,) = resources(env.data_json, "AWS::DynamoDB::GlobalTable").values()
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "session_id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    (replica,) = props["Replicas"]
    assert replica["Region"] == env.config.region
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert replica["TableClass"] == "STANDARD"
    assert replica.get("DeletionProtectionEnabled", False) is env.config.retain_data

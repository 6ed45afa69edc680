"""The data tier as synthesized for each environment: the cluster, the proxy, the session table
(relations and settings, not logical ids)."""

from __future__ import annotations

from tests.synth import SynthesizedEnv
from tests.template_queries import get_att, imported, only, ref, resources
from tests.test_data_helpers import cluster_of, key_id, proxies_of, subnet_group_of
from tests.test_data_helpers import proxied_env as proxied_env

# --- cluster -------------------------------------------------------------------------------


def test_cluster_engine_capacity_and_placement(env: SynthesizedEnv) -> None:
    config = env.config.database
    _cluster_id, cluster = cluster_of(env)
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["EngineVersion"] == config.engine_version
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


def test_writer_and_reader_instances(env: SynthesizedEnv) -> None:
    config = env.config.database
    cluster_id, _ = cluster_of(env)
    instances = [
        instance["Properties"]
        for instance in resources(env.data_json, "AWS::RDS::DBInstance").values()
        if instance["Properties"]["DBClusterIdentifier"] == ref(cluster_id)
    ]
    assert len(instances) == 1 + config.readers
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
        assert instance["PerformanceInsightsKMSKeyId"] == get_att(key_id(env), "Arn")


def test_cluster_encryption_iam_auth_tls_and_insights(env: SynthesizedEnv) -> None:
    _cluster_id, cluster = cluster_of(env)
    props = cluster["Properties"]
    key_arn = get_att(key_id(env), "Arn")
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == key_arn
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["PerformanceInsightsEnabled"] is True
    assert props["PerformanceInsightsKmsKeyId"] == key_arn
    parameter_group_id = props["DBClusterParameterGroupName"]["Ref"]
    parameters = env.data_json["Resources"][parameter_group_id]["Properties"]
    assert parameters["Family"].startswith("aurora-postgresql")
    assert parameters["Parameters"]["rds.force_ssl"] == "1"


def test_postgres_logs_exported_to_an_encrypted_group_with_retention(env: SynthesizedEnv) -> None:
    _cluster_id, cluster = cluster_of(env)
    assert cluster["Properties"]["EnableCloudwatchLogsExports"] == ["postgresql"]
    expected_name = f"/aws/rds/cluster/{cluster['Properties']['DBClusterIdentifier']}/postgresql"
    groups = {
        logical_id: group
        for logical_id, group in resources(env.data_json, "AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName") == expected_name
    }
    assert len(groups) == 1
    ((group_logical_id, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == env.config.log_retention_days
    # The environment key; the database key still admits the group, for events it encrypted.
    (network_key_id, _) = only(env.network_json, "AWS::KMS::Key")
    assert imported(group["Properties"]["KmsKeyId"], env.network_json) == get_att(
        network_key_id, "Arn"
    )
    database_key = env.data_json["Resources"][key_id(env)]["Properties"]["KeyPolicy"]
    admitted = [
        statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        for statement in database_key["Statement"]
        if "ArnLike" in statement.get("Condition", {})
    ]
    assert admitted == [
        [f"arn:aws:logs:{env.config.region}:{env.config.account}:log-group:{expected_name}"]
    ]
    # Created before the cluster, so RDS never creates it without retention.
    assert group_logical_id in cluster["DependsOn"]


def test_retention_and_deletion_follow_the_data_policy(env: SynthesizedEnv) -> None:
    retained = env.config.retain_data
    _, cluster = cluster_of(env)
    assert cluster["Properties"].get("DeletionProtection", False) is retained
    assert cluster["DeletionPolicy"] == ("Snapshot" if retained else "Delete")
    assert cluster["UpdateReplacePolicy"] == ("Snapshot" if retained else "Delete")
    # Retained, except when the create that made them rolls back (test_first_deploy.py).
    kept = "RetainExceptOnCreate" if retained else "Delete"
    stateful = ("AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::DynamoDB::GlobalTable")
    for resource_type in stateful:
        for resource in resources(env.data_json, resource_type).values():
            assert resource["DeletionPolicy"] == kept, resource_type
    for group in resources(env.data_json, "AWS::Logs::LogGroup").values():
        assert group["DeletionPolicy"] == kept


def test_master_secret_encrypted_with_the_key_and_rotated_where_retained(
    env: SynthesizedEnv,
) -> None:
    _, secret = only(env.data_json, "AWS::SecretsManager::Secret")
    assert secret["Properties"]["KmsKeyId"] == get_att(key_id(env), "Arn")
    assert "GenerateSecretString" in secret["Properties"]
    schedules = resources(env.data_json, "AWS::SecretsManager::RotationSchedule")
    if env.config.retain_data:
        ((_, schedule),) = schedules.items()
        assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    else:
        assert schedules == {}


# --- proxy ---------------------------------------------------------------------------------


def test_proxy_only_where_configured(env: SynthesizedEnv) -> None:
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
    assert props["EngineFamily"] == "POSTGRESQL"
    assert subnet_group_of(env, props["VpcSubnetIds"]) == {"db"}
    cluster_id, _ = cluster_of(env)
    (target_group,) = resources(env.data_json, "AWS::RDS::DBProxyTargetGroup").values()
    assert target_group["Properties"]["DBClusterIdentifiers"] == [ref(cluster_id)]
    assert "Tags" not in target_group["Properties"]  # CloudFormation rejects them


# --- session table -------------------------------------------------------------------------


def test_session_table(env: SynthesizedEnv) -> None:
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

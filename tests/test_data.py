"""The data tier as synthesized for each environment: relations and settings, not logical ids."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, FileSystem, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.database import POSTGRES_PORT, AuroraDatabase, DatabaseProps
from cdk_constructs.network import Network
from cdk_constructs.options import NatMode, SslMode
from stacks.config import APP_CONFIG
from stacks.data_stack import MIGRATIONS_PACKAGE
from tests.conftest import Synthesized, SynthesizedEnv, cdk_json_context
from tests.template_queries import (
    all_dependencies,
    get_att,
    imported,
    only,
    policy_statements_of_role,
    ref,
    references,
    resources,
    security_group_rules,
    subnets_by_group,
)

MIGRATION_HANDLER = "db_migrate.handler.on_event"
PROXIED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).database.proxy
]


@pytest.fixture(params=PROXIED_ENV_NAMES)
def proxied_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment that has RDS Proxy."""
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
    logical_id, key = only(env.data_json, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    return logical_id


def port_of(rule: dict[str, Any], cluster_id: str) -> int:
    """A rule's port, whether literal or the cluster's ``Endpoint.Port``."""
    assert rule["FromPort"] == rule["ToPort"]
    if rule["FromPort"] == get_att(cluster_id, "Endpoint.Port"):
        return POSTGRES_PORT
    return int(rule["FromPort"])


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
    assert group["Properties"]["KmsKeyId"] == get_att(key_id(env), "Arn")
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


# --- security groups -----------------------------------------------------------------------


def test_database_admits_postgres_only_from_its_front(env: SynthesizedEnv) -> None:
    cluster_id, _ = cluster_of(env)
    rules = security_group_rules(env.data_json, database_group(env), "ingress")
    assert rules
    assert all("CidrIp" not in rule and "CidrIpv6" not in rule for rule in rules)
    assert {port_of(rule, cluster_id) for rule in rules} == {POSTGRES_PORT}
    sources = {group_id(rule["SourceSecurityGroupId"]) for rule in rules}
    rotation_groups = {
        logical_id
        for logical_id in resources(env.data_json, "AWS::EC2::SecurityGroup")
        if "Rotation" in logical_id
    }
    assert len(rotation_groups) == (1 if env.config.retain_data else 0)
    # Changed: with a proxy the cluster also admits the migration function, which logs in at
    # the writer directly (see test_migrations_log_in_at_the_writer_never_through_the_proxy).
    if env.config.database.proxy:
        assert sources == {proxy_group(env), migration_group(env)} | rotation_groups
    else:
        assert sources == {migration_group(env)} | rotation_groups
    assert all(
        rule.get("CidrIp") == "255.255.255.255/32"  # CDK's "no egress" placeholder
        for rule in security_group_rules(env.data_json, database_group(env), "egress")
    )


def test_proxy_admits_no_one_of_the_data_stack_and_reaches_only_the_cluster(
    proxied_env: SynthesizedEnv,
) -> None:
    # Changed: the proxy used to admit the migration function, which now goes to the writer.
    # Its clients (the API function) are admitted by rules written in their own stack.
    env = proxied_env
    cluster_id, _ = cluster_of(env)
    assert security_group_rules(env.data_json, proxy_group(env), "ingress") == []
    egress = security_group_rules(env.data_json, proxy_group(env), "egress")
    assert {group_id(rule["DestinationSecurityGroupId"]) for rule in egress} == {
        database_group(env)
    }
    assert {port_of(rule, cluster_id) for rule in egress} == {POSTGRES_PORT}


def test_clients_still_connect_through_the_proxy(proxied_env: SynthesizedEnv) -> None:
    """The API's path is unchanged: the endpoint the data tier gives clients is the proxy."""
    env = proxied_env
    (proxy_id,) = proxies_of(env)
    outputs = env.data_json["Outputs"]
    assert outputs["DatabaseEndpoint"]["Value"] == get_att(proxy_id, "Endpoint")
    stage_database = env.stage.data.database
    assert stage_database.ssl_mode is SslMode.VERIFY_FULL


def test_migration_function_egress_is_postgres_to_the_writer_and_https_for_secrets(
    env: SynthesizedEnv,
) -> None:
    # Changed: postgres goes to the cluster in every environment, no longer to the proxy.
    egress = security_group_rules(env.data_json, migration_group(env), "egress")
    front = database_group(env)
    postgres = [rule for rule in egress if rule["FromPort"] == POSTGRES_PORT]
    https = [rule for rule in egress if rule["FromPort"] == 443]
    assert len(postgres) + len(https) == len(egress)
    assert [group_id(rule["DestinationSecurityGroupId"]) for rule in postgres] == [front]
    (https_rule,) = https
    if "secretsmanager" in env.config.network.interface_endpoints:
        endpoint_group = imported(https_rule["DestinationSecurityGroupId"], env.network_json)
        group_id(endpoint_group)  # a security group of the network stack
        endpoints = resources(env.network_json, "AWS::EC2::VPCEndpoint").values()
        assert any(
            endpoint_group in endpoint["Properties"].get("SecurityGroupIds", [])
            and str(endpoint["Properties"]["ServiceName"]).endswith(".secretsmanager")
            for endpoint in endpoints
        )
    else:
        assert https_rule["CidrIp"] == "0.0.0.0/0"  # through the NAT


# --- migrations ----------------------------------------------------------------------------


def test_migration_function_runs_in_the_app_subnets_with_no_secret_in_its_environment(
    env: SynthesizedEnv,
) -> None:
    _, function = migration_function(env)
    props = function["Properties"]
    assert props["Runtime"].startswith("python3.")
    assert props["Architectures"] == ["arm64"]
    assert subnet_group_of(env, props["VpcConfig"]["SubnetIds"]) == {"app"}
    variables = props["Environment"]["Variables"]
    assert set(variables) == {"DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE"}
    assert "resolve:secretsmanager" not in str(variables)
    assert variables["DB_PORT"] == str(POSTGRES_PORT)
    assert variables["DB_NAME"] == cluster_of(env)[1]["Properties"]["DatabaseName"]
    cluster_id, _ = cluster_of(env)
    # Changed: the writer in every environment (it was the proxy, with verify-full, where one is).
    assert variables["DB_HOST"] == get_att(cluster_id, "Endpoint.Address")
    assert variables["DB_SSLMODE"] == SslMode.REQUIRE
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = env.data_json["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == env.config.log_retention_days
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_migration_function_may_read_only_the_master_secret(env: SynthesizedEnv) -> None:
    _, function = migration_function(env)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = env.data_json["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    secret_ref = function["Properties"]["Environment"]["Variables"]["DB_SECRET_ARN"]
    for statement in policy_statements_of_role(env.data_json, role_id):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert "*" not in actions
        if any(action.startswith("secretsmanager:") for action in actions):
            assert statement["Resource"] == secret_ref
        if any(action.startswith("kms:") for action in actions):
            assert actions == ["kms:Decrypt"]
            assert statement["Resource"] == get_att(key_id(env), "Arn")
        if any(action.startswith("logs:") for action in actions):
            assert statement["Resource"] == get_att(
                function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"], "Arn"
            )


def test_migrations_resource_reruns_only_on_a_new_migration_set(env: SynthesizedEnv) -> None:
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    props = resource["Properties"]
    # Only stable inputs: CloudFormation calls the function again only when one of them changes.
    assert set(props) == {"ServiceToken", "MigrationsFingerprint", "Endpoint", "Database"}
    assert len(props["MigrationsFingerprint"]) == 64
    cluster_id, _ = cluster_of(env)
    writer_ids = [
        logical_id
        for logical_id, instance in resources(env.data_json, "AWS::RDS::DBInstance").items()
        if instance["Properties"]["PromotionTier"] == 0
    ]
    assert cluster_id in resource["DependsOn"]
    assert writer_ids[0] in resource["DependsOn"]
    # Changed: no longer the proxy's target group; the migrations do not use the proxy.


def test_migrations_fingerprint_is_of_the_shipped_migration_files(env: SynthesizedEnv) -> None:
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    fingerprint = resource["Properties"]["MigrationsFingerprint"]
    assert fingerprint == FileSystem.fingerprint(str(MIGRATIONS_PACKAGE / "migrations"))
    # A change to the runner's code alone does not re-run the migrations.
    assert fingerprint != FileSystem.fingerprint(str(MIGRATIONS_PACKAGE))


# --- migrations vs. the master secret's rotation (retained environments) ----------------------
#
# Creating the rotation schedule rotates the secret at once. AWS::SecretsManager::RotationSchedule,
# property RotateImmediatelyOnUpdate
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-rotationschedule.html#cfn-secretsmanager-rotationschedule-rotateimmediatelyonupdate):
#   "The default for RotateImmediatelyOnUpdate is true. If you don't specify this value, Secrets
#   Manager rotates the secret immediately."
# A migration run that waited for the schedule would log in while the rotation runs, when the
# database and AWSCURRENT can hold different passwords. It waits for what it needs instead.

RETAINED_ENV_NAMES = [
    name for name in APP_CONFIG.environment_names if APP_CONFIG.environment(name).retain_data
]


@pytest.fixture(params=RETAINED_ENV_NAMES)
def rotated_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment whose master secret rotates (prod)."""
    name: str = request.param
    return synthesized.envs[name]


def migrations_resource(env: SynthesizedEnv) -> str:
    ((logical_id, _),) = resources(env.data_json, "Custom::SchemaMigrations").items()
    return logical_id


def test_rotation_schedule_rotates_at_once_when_created(rotated_env: SynthesizedEnv) -> None:
    """The premise of the tests below: the default (rotate immediately) applies."""
    (schedule,) = resources(rotated_env.data_json, "AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"].get("RotateImmediatelyOnUpdate", True) is True


def test_migrations_never_wait_for_the_master_secret_rotation(rotated_env: SynthesizedEnv) -> None:
    env = rotated_env
    template = env.data_json
    before = all_dependencies(template, migrations_resource(env))
    (schedule_id,) = resources(template, "AWS::SecretsManager::RotationSchedule")
    ((application_id, application),) = resources(template, "AWS::Serverless::Application").items()
    rotation_function = application["Properties"]["Parameters"]["functionName"]
    rotation_log_groups = {
        logical_id
        for logical_id, group in resources(template, "AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName") == f"/aws/lambda/{rotation_function}"
    }
    assert len(rotation_log_groups) == 1
    assert schedule_id not in before
    assert application_id not in before
    assert not rotation_log_groups & before
    # ... but for everything it needs: the cluster, its writer, the way in.
    cluster_id, _ = cluster_of(env)
    (writer_id,) = [
        logical_id
        for logical_id, instance in resources(template, "AWS::RDS::DBInstance").items()
        if instance["Properties"]["DBClusterIdentifier"] == ref(cluster_id)
        and instance["Properties"]["PromotionTier"] == 0
    ]
    assert {cluster_id, writer_id} <= before
    admission = {
        logical_id
        for logical_id, rule in resources(template, "AWS::EC2::SecurityGroupIngress").items()
        if rule["Properties"]["GroupId"] == get_att(database_group(env), "GroupId")
        and rule["Properties"]["SourceSecurityGroupId"] == get_att(migration_group(env), "GroupId")
    }
    way_out = {
        logical_id
        for logical_id, rule in resources(template, "AWS::EC2::SecurityGroupEgress").items()
        if rule["Properties"]["GroupId"] == get_att(migration_group(env), "GroupId")
    }
    assert len(admission) == 1
    assert way_out
    assert admission | way_out <= before


def test_first_rotation_waits_for_the_first_migration_run(rotated_env: SynthesizedEnv) -> None:
    """The other way round, on a first deploy: no rotation window while the migrations log in."""
    template = rotated_env.data_json
    (schedule_id,) = resources(template, "AWS::SecretsManager::RotationSchedule")
    assert migrations_resource(rotated_env) in all_dependencies(template, schedule_id)


# --- migrations log in at the writer, never through RDS Proxy -----------------------------------
#
# The proxy's DefaultAuthScheme is IAM_AUTH: "When set to IAM_AUTH, the proxy uses end-to-end IAM
# authentication to connect to the database." (RDS API, DBProxy DefaultAuthScheme,
# https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/rds/aws.sdk.kotlin.services.rds.model/-db-proxy/default-auth-scheme.html;
# CDK: https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_rds.DefaultAuthScheme.html
# "The default authentication scheme that the proxy uses for client connections to the proxy and
# connections from the proxy to the underlying database."). Whether a password login (the
# master user's, from its secret) still passes through such a proxy is not documented, so the
# admin path does not depend on it: the migration function connects to the writer directly.


def test_migrations_log_in_at_the_writer_never_through_the_proxy(env: SynthesizedEnv) -> None:
    cluster_id, _ = cluster_of(env)
    writer_endpoint = get_att(cluster_id, "Endpoint.Address")
    _, function = migration_function(env)
    variables = function["Properties"]["Environment"]["Variables"]
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    assert variables["DB_HOST"] == writer_endpoint
    assert resource["Properties"]["Endpoint"] == writer_endpoint
    # TLS without chain checks: the Aurora CA bundle is not in the Lambda trust store.
    assert variables["DB_SSLMODE"] == SslMode.REQUIRE
    for proxy_id in proxies_of(env):
        assert proxy_id not in references(variables)
        assert proxy_id not in references(resource["Properties"])


def test_cluster_admits_the_migration_function_directly(env: SynthesizedEnv) -> None:
    """With and without a proxy: cluster ingress and runner egress on 5432, between the two."""
    cluster_id, _ = cluster_of(env)
    ingress = [
        rule
        for rule in security_group_rules(env.data_json, database_group(env), "ingress")
        if rule.get("SourceSecurityGroupId") == get_att(migration_group(env), "GroupId")
    ]
    assert [(port_of(rule, cluster_id), rule["IpProtocol"]) for rule in ingress] == [
        (POSTGRES_PORT, "tcp")
    ]
    egress = [
        rule
        for rule in security_group_rules(env.data_json, migration_group(env), "egress")
        if rule.get("DestinationSecurityGroupId") == get_att(database_group(env), "GroupId")
    ]
    assert [(port_of(rule, cluster_id), rule["IpProtocol"]) for rule in egress] == [
        (POSTGRES_PORT, "tcp")
    ]
    for group in [proxy_group(env)] if env.config.database.proxy else []:
        sources = security_group_rules(env.data_json, group, "ingress")
        assert all(
            rule.get("SourceSecurityGroupId") != get_att(migration_group(env), "GroupId")
            for rule in sources
        )


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


# --- the construct's API for the API tier --------------------------------------------------


@pytest.fixture(scope="module", params=[True, False], ids=["proxy", "direct"])
def granted(request: pytest.FixtureRequest) -> tuple[AuroraDatabase, dict[str, Any]]:
    """A database (with or without proxy) whose ``grant_connect`` was given to a role."""
    app = App(context=cdk_json_context())
    stack = Stack(app, "Grant")
    network = Network(
        stack,
        "Network",
        cidr="10.0.0.0/16",
        availability_zones=("us-east-1a", "us-east-1b"),
        nat_mode=NatMode.SINGLE_GATEWAY,
        flow_log_retention=logs.RetentionDays.ONE_WEEK,
        flow_log_group_name="/test/flow-logs",
        removal_policy=RemovalPolicy.DESTROY,
    )
    database = AuroraDatabase(
        stack,
        "Database",
        props=DatabaseProps(
            vpc=network.vpc,
            subnets=network.db_subnets,
            availability_zones=("us-east-1a", "us-east-1b"),
            name_prefix="test",
            engine_version="16.13",
            min_capacity=0.5,
            max_capacity=2,
            auto_pause=None,
            readers=0,
            proxy=request.param,
            backup_retention=Duration.days(1),
            log_retention=logs.RetentionDays.ONE_WEEK,
            retain=False,
            rotation_subnets=network.app_subnets,
        ),
    )
    role = iam.Role(stack, "ApiRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    database.grant_connect(role, "app_api")
    return database, dict(Template.from_stack(stack).to_json())


def test_grant_connect_allows_only_rds_db_connect_for_the_named_user(
    granted: tuple[AuroraDatabase, dict[str, Any]],
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

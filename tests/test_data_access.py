"""The data tier's paths in: who reaches the database (an Aurora cluster or one RDS DB instance)
and the proxy, and the schema migrations' function, resource and ordering (relations and
settings, not logical ids)."""

from __future__ import annotations

from aws_cdk import FileSystem

from cdk_constructs.data_engine.choices import EngineFamily, SslMode
from cdk_constructs.options import OPERATOR_ACCESS_TAG
from cdk_constructs.schema_migrations import migrations_dir
from stacks.config import APP_CONFIG
from stacks.data_stack import MIGRATIONS_PACKAGE
from tests.synth import SynthesizedEnv
from tests.template_queries import (
    all_dependencies,
    get_att,
    imported,
    policy_statements_of_role,
    references,
    resources,
    security_group_rules,
)
from tests.test_data_helpers import data_env as data_env
from tests.test_data_helpers import (
    database_group,
    database_name,
    database_of,
    engine_port,
    group_id,
    key_id,
    migration_function,
    migration_group,
    migrations_resource,
    port_of,
    proxies_of,
    proxy_group,
    subnet_group_of,
    writer_ids,
)
from tests.test_data_helpers import proxied_env as proxied_env
from tests.test_data_helpers import rotated_env as rotated_env

# --- security groups -----------------------------------------------------------------------


def access_groups(env: SynthesizedEnv) -> set[str]:
    """The security group of the operators' access instance (``cdk_constructs/operator_access.py``),
    found by the instance's tag ``operator-access`` = ``<app>-<env>``; none where
    ``operator_access.enabled`` is off."""
    name = f"{APP_CONFIG.app_name}-{env.config.name}"
    instances = [
        instance
        for instance in resources(env.data_json, "AWS::EC2::Instance").values()
        if {"Key": OPERATOR_ACCESS_TAG, "Value": name} in instance["Properties"].get("Tags", [])
    ]
    assert len(instances) == (1 if env.config.operator_access.enabled else 0)
    return {
        group_id(group)
        for instance in instances
        for group in instance["Properties"]["SecurityGroupIds"]
    }


def test_database_admits_its_port_only_from_its_front(data_env: SynthesizedEnv) -> None:
    env = data_env
    rules = security_group_rules(env.data_json, database_group(env), "ingress")
    assert rules
    assert all("CidrIp" not in rule and "CidrIpv6" not in rule for rule in rules)
    assert {port_of(rule, env) for rule in rules} == {engine_port(env.config)}
    sources = [group_id(rule["SourceSecurityGroupId"]) for rule in rules]
    assert len(sources) == len(set(sources))  # one rule per source
    rotation_groups = {
        logical_id
        for logical_id in resources(env.data_json, "AWS::EC2::SecurityGroup")
        if "Rotation" in logical_id
    }
    assert len(rotation_groups) == (1 if env.config.retain_data else 0)
    # Changed: with a proxy the database also admits the migration function, which logs in at
    # the writer directly (see test_migrations_log_in_at_the_writer_never_through_the_proxy).
    # Changed (operator access): the access instance, at the writer for the master user's login
    # (its admin path) and, without a proxy, for its client path too (one rule for both).
    admitted = {migration_group(env)} | rotation_groups | access_groups(env)
    if env.config.database.proxy:
        assert set(sources) == {proxy_group(env)} | admitted
    else:
        assert set(sources) == admitted
    assert all(
        rule.get("CidrIp") == "255.255.255.255/32"  # CDK's "no egress" placeholder
        for rule in security_group_rules(env.data_json, database_group(env), "egress")
    )


def test_proxy_admits_only_the_access_instance_of_the_data_stack_and_reaches_only_the_database(
    proxied_env: SynthesizedEnv,
) -> None:
    # Changed: the proxy used to admit the migration function, which now goes to the writer.
    # Its clients (the API function) are admitted by rules written in their own stack; of the
    # data stack, the operators' access instance is its one client (the read-only IAM login).
    env = proxied_env
    ingress = security_group_rules(env.data_json, proxy_group(env), "ingress")
    assert all("CidrIp" not in rule and "CidrIpv6" not in rule for rule in ingress)
    assert [group_id(rule["SourceSecurityGroupId"]) for rule in ingress] == sorted(
        access_groups(env)
    )
    assert [port_of(rule, env) for rule in ingress] == [engine_port(env.config)] * len(ingress)
    egress = security_group_rules(env.data_json, proxy_group(env), "egress")
    assert {group_id(rule["DestinationSecurityGroupId"]) for rule in egress} == {
        database_group(env)
    }
    assert {port_of(rule, env) for rule in egress} == {engine_port(env.config)}


def test_the_access_instance_reaches_the_front_and_the_writer_only_and_admits_no_one(
    data_env: SynthesizedEnv,
) -> None:
    """Its client path (the read-only IAM login) goes to the front, the proxy where there is
    one; its admin path (the master user's password login) to the database directly, never the
    proxy. Both on the engine's port, written on both sides; besides, only HTTPS out (Systems
    Manager)."""
    env = data_env
    if not env.config.operator_access.enabled:
        assert access_groups(env) == set()
        return
    (access,) = access_groups(env)
    port = engine_port(env.config)
    assert security_group_rules(env.data_json, access, "ingress") == []
    targets = {database_group(env)}
    if env.config.database.proxy:
        targets.add(proxy_group(env))
    egress = security_group_rules(env.data_json, access, "egress")
    to_groups = [rule for rule in egress if "DestinationSecurityGroupId" in rule]
    assert sorted(
        (group_id(rule["DestinationSecurityGroupId"]), port_of(rule, env)) for rule in to_groups
    ) == sorted((target, port) for target in targets)
    (https,) = [rule for rule in egress if "DestinationSecurityGroupId" not in rule]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("tcp", 443, 443)
    for target in targets:
        admitted = [
            port_of(rule, env)
            for rule in security_group_rules(env.data_json, target, "ingress")
            if rule.get("SourceSecurityGroupId") == get_att(access, "GroupId")
        ]
        assert admitted == [port]


def test_clients_still_connect_through_the_proxy(proxied_env: SynthesizedEnv) -> None:
    """The API's path is unchanged: the endpoint the data tier gives clients is the proxy."""
    env = proxied_env
    (proxy_id,) = proxies_of(env)
    outputs = env.data_json["Outputs"]
    assert outputs["DatabaseEndpoint"]["Value"] == get_att(proxy_id, "Endpoint")
    stage_database = env.stage.data.database
    assert stage_database.ssl_mode is SslMode.VERIFY_FULL


def test_migration_function_egress_is_the_engine_port_to_the_writer_and_https_for_secrets(
    data_env: SynthesizedEnv,
) -> None:
    # Changed: the database port goes to the writer in every environment, no longer the proxy.
    env = data_env
    egress = security_group_rules(env.data_json, migration_group(env), "egress")
    front = database_group(env)
    database = [rule for rule in egress if port_of(rule, env) == engine_port(env.config)]
    https = [rule for rule in egress if rule["FromPort"] == 443]
    assert len(database) + len(https) == len(egress)
    assert [group_id(rule["DestinationSecurityGroupId"]) for rule in database] == [front]
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
    data_env: SynthesizedEnv,
) -> None:
    env = data_env
    _, function = migration_function(env)
    props = function["Properties"]
    assert props["Runtime"].startswith("python3.")
    assert props["Architectures"] == ["arm64"]
    assert subnet_group_of(env, props["VpcConfig"]["SubnetIds"]) == {"app"}
    variables = props["Environment"]["Variables"]
    # The runner assumes PostgreSQL without DB_ENGINE_FAMILY: it is set for the other families.
    family = env.config.database.spec.family
    named_family = {} if family is EngineFamily.POSTGRESQL else {"DB_ENGINE_FAMILY": family.value}
    assert set(variables) == {
        "DB_SECRET_ARN",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_SSLMODE",
        *named_family,
    }
    assert {name: variables[name] for name in named_family} == named_family
    assert "resolve:secretsmanager" not in str(variables)
    assert variables["DB_PORT"] == str(engine_port(env.config))
    database_id, database = database_of(env)
    assert variables["DB_NAME"] == database_name(database)
    # Changed: the writer in every environment (it was the proxy, with verify-full, where one is).
    assert variables["DB_HOST"] == get_att(database_id, "Endpoint.Address")
    assert variables["DB_SSLMODE"] == SslMode.REQUIRE
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = env.data_json["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == env.config.log_retention_days
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_migration_function_may_read_only_the_master_secret(data_env: SynthesizedEnv) -> None:
    env = data_env
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


def test_migrations_resource_reruns_only_on_a_new_migration_set(
    data_env: SynthesizedEnv,
) -> None:
    env = data_env
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    props = resource["Properties"]
    # Only stable inputs: CloudFormation calls the function again only when one of them changes.
    assert set(props) == {"ServiceToken", "MigrationsFingerprint", "Endpoint", "Database"}
    assert len(props["MigrationsFingerprint"]) == 64
    # The cluster and its writer, or the instance.
    assert writer_ids(env) <= set(resource["DependsOn"])
    # Changed: no longer the proxy's target group; the migrations do not use the proxy.


def test_migrations_fingerprint_is_of_the_shipped_migration_files(
    data_env: SynthesizedEnv,
) -> None:
    env = data_env
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    fingerprint = resource["Properties"]["MigrationsFingerprint"]
    # The engine family's set, migrations/<family>/ (PostgreSQL's fingerprint is the one the
    # flat migrations/ folder had, so moving the files there re-ran nothing).
    family = env.config.database.spec.family
    shipped = migrations_dir(MIGRATIONS_PACKAGE, family)
    assert fingerprint == FileSystem.fingerprint(str(shipped))
    # Never another family's set.
    for other in set(EngineFamily) - {family}:
        assert fingerprint != FileSystem.fingerprint(str(migrations_dir(MIGRATIONS_PACKAGE, other)))
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
    # ... but for everything it needs: the cluster and its writer (or the instance), the way in.
    assert writer_ids(env) <= before
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


def test_migrations_log_in_at_the_writer_never_through_the_proxy(
    data_env: SynthesizedEnv,
) -> None:
    env = data_env
    database_id, _ = database_of(env)
    writer_endpoint = get_att(database_id, "Endpoint.Address")
    _, function = migration_function(env)
    variables = function["Properties"]["Environment"]["Variables"]
    (resource,) = resources(env.data_json, "Custom::SchemaMigrations").values()
    assert variables["DB_HOST"] == writer_endpoint
    assert resource["Properties"]["Endpoint"] == writer_endpoint
    # TLS without chain checks: the RDS CA bundle is not in the Lambda trust store.
    assert variables["DB_SSLMODE"] == SslMode.REQUIRE
    for proxy_id in proxies_of(env):
        assert proxy_id not in references(variables)
        assert proxy_id not in references(resource["Properties"])


def test_database_admits_the_migration_function_directly(data_env: SynthesizedEnv) -> None:
    """With and without a proxy: database ingress and runner egress on the engine's port (5432,
    3306), between the two."""
    env = data_env

    def ports(group: str, direction: str, peer_key: str, peer: str) -> list[tuple[int, str]]:
        """(port, protocol) of ``group``'s rules in ``direction`` whose ``peer_key`` is ``peer``."""
        return [
            (port_of(rule, env), rule["IpProtocol"])
            for rule in security_group_rules(env.data_json, group, direction)
            if rule.get(peer_key) == get_att(peer, "GroupId")
        ]

    database, runner = database_group(env), migration_group(env)
    port = engine_port(env.config)
    assert ports(database, "ingress", "SourceSecurityGroupId", runner) == [(port, "tcp")]
    assert ports(runner, "egress", "DestinationSecurityGroupId", database) == [(port, "tcp")]
    for group in [proxy_group(env)] if env.config.database.proxy else []:
        sources = security_group_rules(env.data_json, group, "ingress")
        assert all(
            rule.get("SourceSecurityGroupId") != get_att(migration_group(env), "GroupId")
            for rule in sources
        )

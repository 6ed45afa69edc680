"""A first deploy succeeds on the first try, and a failed one can be retried.

Each test pins one CloudFormation or service rule, cited beside it, on every synthesized
template of every environment (and the GitHub OIDC stacks).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.synth import TIERS, Synthesized, SynthesizedEnv
from tests.template_queries import all_dependencies, ref, resources

CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)


def all_templates(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Template file name -> template, for every stack of the assembly."""
    return {path.name: json.loads(path.read_text()) for path in synthesized.template_files()}


def is_custom_resource(resource: dict[str, Any]) -> bool:
    kind: str = resource["Type"]
    return kind.startswith("Custom::") or kind in CUSTOM_RESOURCE_TYPES


def invoked_function(resource: dict[str, Any]) -> str | None:
    """The logical id of the function a custom resource invokes, if it is in the template."""
    token = resource["Properties"].get("ServiceToken")
    if isinstance(token, dict) and "Fn::GetAtt" in token:
        target: str = token["Fn::GetAtt"][0]
        return target
    return None


def log_groups_of_function(template: dict[str, Any], function_id: str) -> set[str]:
    """The log groups a function writes to: its LoggingConfig group, else /aws/lambda/<it>."""
    function = template["Resources"][function_id]
    config = function["Properties"].get("LoggingConfig", {})
    if "LogGroup" in config:
        return {config["LogGroup"]["Ref"]}
    default_name = {"Fn::Join": ["", ["/aws/lambda/", ref(function_id)]]}
    return {
        logical_id
        for logical_id, group in resources(template, "AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName") == default_name
    }


# Lambda creates /aws/lambda/<function> on the function's first run if it does not exist; a
# log group resource of that name created afterwards fails with "already exists"
# (https://github.com/aws/aws-cdk/issues/667). CloudFormation creates a resource only after
# what it depends on: "With the DependsOn attribute you can specify that the creation of a
# specific resource follows another."
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-dependson.html)
def test_no_custom_resource_invokes_a_function_before_its_log_group_exists(
    synthesized: Synthesized,
) -> None:
    checked = 0
    problems: list[str] = []
    for name, template in all_templates(synthesized).items():
        for logical_id, resource in template["Resources"].items():
            if not is_custom_resource(resource):
                continue
            function = invoked_function(resource)
            if function is None or function not in template["Resources"]:
                continue
            checked += 1
            groups = log_groups_of_function(template, function)
            before = all_dependencies(template, logical_id)
            if not groups:
                problems.append(f"{name}: {function} (invoked by {logical_id}) has no log group")
            elif not groups <= before:
                problems.append(f"{name}: {logical_id} may run before {sorted(groups - before)}")
    assert checked >= 9, "expected the migrations, Cognito and log-retention custom resources"
    assert problems == []


@pytest.mark.parametrize("env_name", ["prod"])
def test_the_cognito_client_secret_reader_waits_for_its_function_log_group(
    synthesized: Synthesized, env_name: str
) -> None:
    """The case that failed before: CDK's AwsCustomResource function logs to the group CDK names
    after it, which refers to the function and so was created in parallel with the call."""
    template = synthesized.envs[env_name].api_json
    readers = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "Custom::DescribeCognitoUserPoolClient"
    }
    assert len(readers) == 1
    ((reader_id, reader),) = readers.items()
    function = invoked_function(reader)
    assert function is not None
    (group,) = log_groups_of_function(template, function)
    assert group in all_dependencies(template, reader_id)


FIXED_NAME_PROPERTIES = {
    "AWS::SecretsManager::Secret": "Name",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBProxy": "DBProxyName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Synthetics::Canary": "Name",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::IAM::OIDCProvider": "Url",
    "AWS::KMS::Alias": "AliasName",
}
"""Stateful (or name-reserving) types and the property that fixes their physical name."""
DELETED_ON_CREATE_ROLLBACK = {"RetainExceptOnCreate", "Delete", "Snapshot"}


def retained_templates(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """The templates of every retained environment, and the GitHub OIDC stacks."""
    templates = {
        f"{name}/{tier}": env.template(tier)
        for name, env in synthesized.envs.items()
        if env.config.retain_data
        for tier in TIERS
    }
    templates.update({f"oidc/{account}": t for account, t in synthesized.oidc.items()})
    return templates


# "RetainExceptOnCreate behaves like Retain for stack operations, except for the stack operation
# that initially created the resource. If the stack operation that created the resource is rolled
# back, CloudFormation deletes the resource." With plain Retain, a rolled-back first create keeps
# the resource, and the retry fails on its fixed name with AlreadyExists.
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html)
def test_no_resource_survives_the_rollback_of_its_own_create(synthesized: Synthesized) -> None:
    plain_retain = [
        f"{name}: {logical_id}"
        for name, template in all_templates(synthesized).items()
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    ]
    assert plain_retain == []


def test_fixed_name_stateful_resources_of_retained_envs_can_be_created_again(
    synthesized: Synthesized,
) -> None:
    fixed = 0
    for name, template in retained_templates(synthesized).items():
        for logical_id, resource in template["Resources"].items():
            name_property = FIXED_NAME_PROPERTIES.get(resource["Type"])
            if name_property is None or name_property not in resource.get("Properties", {}):
                continue
            fixed += 1
            policy = resource.get("DeletionPolicy", "Delete")
            assert policy in DELETED_ON_CREATE_ROLLBACK, f"{name}: {logical_id} is {policy}"
            if policy == "RetainExceptOnCreate":
                # Kept on update and delete: production data survives everything but its own
                # failed create.
                assert resource.get("UpdateReplacePolicy") in ("Retain", "Snapshot"), logical_id
    assert fixed >= 15, "expected prod's secrets, table, repositories, logs, cluster, topic ..."


def deletion_protected(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> guard kind, for every resource whose deletion protection is on."""
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::RDS::DBCluster" and properties.get("DeletionProtection") is True:
            found[logical_id] = "rds-cluster"
        elif kind == "AWS::RDS::DBInstance" and properties.get("DeletionProtection") is True:
            # A DB instance of its own (an Aurora cluster's instances have no such property).
            found[logical_id] = "rds-instance"
        elif kind == "AWS::DynamoDB::GlobalTable" and any(
            replica.get("DeletionProtectionEnabled") for replica in properties.get("Replicas", [])
        ):
            found[logical_id] = "dynamodb-table"
        elif kind == "AWS::Cognito::UserPool" and properties.get("DeletionProtection") == "ACTIVE":
            found[logical_id] = "user-pool"
        elif kind == "AWS::ElasticLoadBalancingV2::LoadBalancer" and {
            "Key": "deletion_protection.enabled",
            "Value": "true",
        } in properties.get("LoadBalancerAttributes", []):
            found[logical_id] = "load-balancer"
    return found


# CloudFormation cannot delete a resource whose deletion protection is on: a first create that
# fails after one exists ends in ROLLBACK_FAILED, and the stack can then only be deleted by hand
# ("Cannot delete protected Cluster, please disable deletion protection and try again"). While a
# failed creation is undone the stack's status is ROLLBACK_IN_PROGRESS, and a rollback deletes
# resources in the reverse order of their creation.
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html)
def test_every_deletion_protected_resource_has_a_guard_that_everything_after_it_waits_for(
    synthesized: Synthesized,
) -> None:
    protected_kinds: dict[str, list[str]] = {}
    for name, template in retained_templates(synthesized).items():
        guards = {
            logical_id: resource
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "Custom::CreateRollbackGuard"
        }
        for protected, kind in deletion_protected(template).items():
            protected_kinds.setdefault(name.split("/")[0], []).append(kind)
            mine = [
                guard_id
                for guard_id, guard in guards.items()
                if guard["Properties"]["Kind"] == kind
                and protected in all_dependencies(template, guard_id)
            ]
            assert len(mine) == 1, f"{name}: {protected} ({kind}) has guards {mine}"
            guard_id = mine[0]
            guard_own = all_dependencies(template, guard_id) | {guard_id}
            late = [
                logical_id
                for logical_id in template["Resources"]
                if logical_id not in guard_own
                and protected in all_dependencies(template, logical_id)
                and guard_id not in all_dependencies(template, logical_id)
            ]
            assert late == [], f"{name}: created after {protected} but before its guard: {late}"
    # Each retained environment: its database (prod's Aurora cluster, classic's and ec2's DB
    # instances), the session table, the user pool, the load balancer.
    retained = [env for env in synthesized.envs.values() if env.config.retain_data]
    assert {name: sorted(kinds) for name, kinds in protected_kinds.items()} == {
        env.config.name: sorted(
            [database_guard_kind(env), "dynamodb-table", "user-pool", "load-balancer"]
        )
        for env in retained
    }
    assert sorted(protected_kinds) == ["classic", "ec2", "prod"]


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def database_guard_kind(env: SynthesizedEnv) -> str:
    return "rds-cluster" if env.config.database.spec.serverless else "rds-instance"


GUARD_PERMISSIONS = {
    "rds-cluster": ("rds:ModifyDBCluster", ":cluster:"),
    "rds-instance": ("rds:ModifyDBInstance", ":db:"),
}
"""The guard's one action on a database, and the ARN prefix of its one resource."""


@pytest.mark.parametrize("env_name", ["prod", "classic", "ec2"])
def test_the_guard_may_lift_the_protection_of_its_resource_only(
    synthesized: Synthesized, env_name: str
) -> None:
    env = synthesized.envs[env_name]
    assert env.config.retain_data
    template = env.data_json
    kind = database_guard_kind(env)
    (database_id,) = (k for k, v in deletion_protected(template).items() if v == kind)
    modify_actions = {action for action, _ in GUARD_PERMISSIONS.values()}
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if modify_actions & set(as_list(statement["Action"]))
    ]
    action, arn_prefix = GUARD_PERMISSIONS[kind]
    assert len(statements) == 1
    assert statements[0]["Action"] == action
    resource = statements[0]["Resource"]
    assert isinstance(resource, dict), "one database, never a wildcard"
    assert resource["Fn::Join"][1][1:] == [ref(database_id)]
    assert resource["Fn::Join"][1][0].endswith(arn_prefix)

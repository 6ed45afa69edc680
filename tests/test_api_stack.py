"""The API tier as synthesized for each environment: the function, its database access and
its image mode (the private API and Cognito: test_api_stack_gateway.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.network import HTTPS_PORT
from cdk_constructs.vpc_function import ENI_ACTIONS
from stacks.api_stack import API_HANDLER
from stacks.data_stack import API_DB_USER, READONLY_DB_USER
from tests.api_function import (
    api_function,
    function_egress,
    function_group,
    function_role,
    function_statements,
)
from tests.synth import SynthesizedEnv, Tier
from tests.template_queries import (
    get_att,
    imported,
    policy_statements_of_role,
    resources,
    security_group_rules,
    subnets_by_group,
)
from tests.test_data_helpers import database_of, engine_port, front_group_in, resource_id_attribute
from tests.variant_sets import API_IMAGE_TAG, SynthesizedSet

ENI_AND_TRACING_ACTIONS = {*ENI_ACTIONS, "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def data_front_group(env: SynthesizedEnv) -> dict[str, Any]:
    """``GetAtt GroupId`` of the proxy's (or, without proxy, the database's) security group."""
    assert bool(resources(env.data_json, "AWS::RDS::DBProxy")) is env.config.database.proxy
    return dict(front_group_in(env.data_json))


# --- the function ----------------------------------------------------------------------------


def test_function_runs_the_zip_in_the_app_subnets_with_settings_from_config(
    env: SynthesizedEnv,
) -> None:
    _, function = api_function(env.api_json)
    props = function["Properties"]
    config = env.config.api
    assert props["Handler"] == API_HANDLER
    assert props["Runtime"].startswith("python3.")
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == config.memory_mb
    assert props["Timeout"] == config.timeout_seconds
    assert props.get("ReservedConcurrentExecutions") == config.reserved_concurrency
    assert props["TracingConfig"] == {"Mode": "Active"}
    tiers = {
        subnet: tier
        for tier, by_zone in subnets_by_group(env.network_json).items()
        for subnet in by_zone.values()
    }
    subnet_ids = props["VpcConfig"]["SubnetIds"]
    assert {tiers[imported(subnet, env.network_json)["Ref"]] for subnet in subnet_ids} == {"app"}
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = env.api_json["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == env.config.log_retention_days


def test_function_environment_names_the_database_and_holds_no_secret(env: SynthesizedEnv) -> None:
    variables = api_function(env.api_json)[1]["Properties"]["Environment"]["Variables"]
    assert variables["DB_USER"] == API_DB_USER
    assert variables["DB_PORT"] == str(engine_port(env.config))
    assert variables["DB_SSLMODE"] == ("verify-full" if env.config.database.proxy else "require")
    # The API's driver assumes PostgreSQL; another family is named (it picks the driver).
    family = env.config.database.spec.family
    assert variables.get("DB_ENGINE_FAMILY") == (
        None if family is EngineFamily.POSTGRESQL else family.value
    )
    host = imported(variables["DB_HOST"], env.data_json)
    if env.config.database.proxy:
        (proxy_id,) = resources(env.data_json, "AWS::RDS::DBProxy")
        assert host == get_att(proxy_id, "Endpoint")
    else:
        database_id, _ = database_of(env)
        assert host == get_att(database_id, "Endpoint.Address")
    # A paused cluster (~15 s to resume) can still answer within the function's timeout.
    assert 5 <= int(variables["DB_CONNECT_TIMEOUT_SECONDS"]) < env.config.api.timeout_seconds
    rendered = json.dumps(variables).lower()
    for secret_marker in ("resolve:secretsmanager", "password", "secret"):
        assert secret_marker not in rendered


def test_function_egress_is_the_database_port_to_the_front_and_https_to_the_endpoints(
    env: SynthesizedEnv,
) -> None:
    group = function_group(env.api_json)
    assert security_group_rules(env.api_json, group, "ingress") == []
    port = engine_port(env.config)
    egress = {
        (rule["FromPort"], json.dumps(imported(rule["DestinationSecurityGroupId"], producer)))
        for rule in function_egress(env.api_json)
        for producer in [env.data_json if rule["FromPort"] == port else env.network_json]
    }
    (execute_api,) = [
        endpoint["Properties"]
        for endpoint in resources(env.network_json, "AWS::EC2::VPCEndpoint").values()
        if str(endpoint["Properties"]["ServiceName"]).endswith(".execute-api")
    ]
    (endpoint_group,) = execute_api["SecurityGroupIds"]
    assert egress == {
        (port, json.dumps(data_front_group(env))),
        (HTTPS_PORT, json.dumps(endpoint_group)),
    }


def test_database_front_admits_the_function_on_the_database_port(env: SynthesizedEnv) -> None:
    """The ingress rule on the data stack's group is written in the API stack (no cycle)."""
    rules = [
        rule["Properties"]
        for rule in resources(env.api_json, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["SourceSecurityGroupId"]
        == get_att(function_group(env.api_json), "GroupId")
    ]
    assert [imported(rule["GroupId"], env.data_json) for rule in rules] == [data_front_group(env)]
    port = engine_port(env.config)
    assert [(rule["FromPort"], rule["ToPort"]) for rule in rules] == [(port, port)]


def test_function_may_connect_only_as_the_api_user_to_this_database(env: SynthesizedEnv) -> None:
    role_id = function_role(env.api_json)
    assert "ManagedPolicyArns" not in env.api_json["Resources"][role_id]["Properties"]
    statements = function_statements(env.api_json)
    connect = [s for s in statements if "rds-db:connect" in actions_of(s)]
    assert len(connect) == 1
    assert actions_of(connect[0]) == ["rds-db:connect"]
    parts = connect[0]["Resource"]["Fn::Join"][1]
    assert parts[0].endswith(":dbuser:")
    assert parts[-1] == f"/{API_DB_USER}"
    if env.config.database.proxy:
        stack_name = env.stage.data.stack_name
        # Read whole from the data stack's outputs, never imported (README: cross-stack).
        assert parts[1]["Fn::GetStackOutput"]["StackName"] == stack_name
        (proxy_id,) = resources(env.data_json, "AWS::RDS::DBProxy")
        assert imported(parts[1], env.data_json) == {
            "Fn::Select": [6, {"Fn::Split": [":", get_att(proxy_id, "DBProxyArn")]}]
        }
    else:
        # The cluster's ``cluster-…`` or the instance's ``db-…`` resource id.
        database_id, database = database_of(env)
        assert imported(parts[1], env.data_json) == get_att(
            database_id, resource_id_attribute(database)
        )
    for statement in statements:
        actions = set(actions_of(statement))
        assert "*" not in actions
        if statement["Resource"] == "*":
            assert actions <= ENI_AND_TRACING_ACTIONS


def test_proxy_may_log_in_to_the_database_as_the_api_user(env: SynthesizedEnv) -> None:
    """End-to-end IAM: the proxy signs its own login to the database as its clients' users: the
    API's, and the operators' read-only one where operator access is on; no other."""
    proxies = resources(env.data_json, "AWS::RDS::DBProxy")
    if not env.config.database.proxy:
        assert proxies == {}
        return
    ((_, proxy),) = proxies.items()
    role_id = proxy["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    database_id, database = database_of(env)
    connect = [
        statement["Resource"]
        for statement in policy_statements_of_role(env.data_json, role_id)
        if "rds-db:connect" in actions_of(statement)
    ]
    users = [API_DB_USER, *([READONLY_DB_USER] if env.config.operator_access.enabled else [])]
    logins = [
        {
            "Fn::Join": [
                "",
                [
                    f"arn:aws:rds-db:{env.config.region}:{env.config.account}:dbuser:",
                    get_att(database_id, resource_id_attribute(database)),
                    f"/{user}",
                ],
            ]
        }
        for user in users
    ]
    assert connect == [logins if len(logins) > 1 else logins[0]]


# --- image mode ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_mode_api(
    variant_sets: Callable[[str], SynthesizedSet],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev synthesized with ``api.image_tag`` set: the api template and the network template."""
    templates = variant_sets("api-image").templates["dev"]
    return templates[Tier.API], templates[Tier.NETWORK]


def test_image_tag_runs_that_image_from_the_api_repository(
    image_mode_api: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    api, network = image_mode_api
    _, function = api_function(api)
    props = function["Properties"]
    assert props["PackageType"] == "Image"
    assert "Handler" not in props
    assert "Runtime" not in props
    assert props["Architectures"] == ["arm64"]
    parts = props["Code"]["ImageUri"]["Fn::Join"][1]
    assert parts[0] == "111111111111.dkr.ecr.us-east-1."
    assert parts[-1] == f"/three-tier/dev/api:{API_IMAGE_TAG}"
    repositories = {
        repository["Properties"]["RepositoryName"]: repository["Properties"]
        for repository in resources(network, "AWS::ECR::Repository").values()
    }
    # Lambda pulls with its service principal, for this account's functions only.
    (statement,) = repositories["three-tier/dev/api"]["RepositoryPolicyText"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert set(statement["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    assert statement["Condition"] == {
        "StringLike": {"aws:sourceArn": "arn:aws:lambda:us-east-1:111111111111:function:*"}
    }
    assert "RepositoryPolicyText" not in repositories["three-tier/dev/web"]

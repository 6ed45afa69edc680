"""The API tier as synthesized for each environment: the function, the private API, Cognito."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.database import POSTGRES_PORT
from cdk_constructs.network import HTTPS_PORT
from cdk_constructs.private_api import HttpMethod, PrivateApiProps, PrivateRestApi
from cdk_constructs.vpc_function import ENI_ACTIONS
from stacks.api_stack import API_HANDLER
from stacks.config import APP_CONFIG
from stacks.data_stack import API_DB_USER
from stacks.platform_app import build_platform
from tests.conftest import SynthesizedEnv, cdk_json_context
from tests.template_queries import (
    get_att,
    imported,
    only,
    policy_statements_of_role,
    ref,
    resources,
    security_group_rules,
    subnets_by_group,
)

ROUTES = {
    ("GET", "/health"): "api/items.read",
    ("GET", "/items"): "api/items.read",
    ("POST", "/items"): "api/items.write",
    ("GET", "/items/{id}"): "api/items.read",
    ("PUT", "/items/{id}"): "api/items.write",
    ("DELETE", "/items/{id}"): "api/items.write",
}
ENI_AND_TRACING_ACTIONS = {*ENI_ACTIONS, "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def api_function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, function)
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if function["Properties"].get("Description") == "Items API"
    ]
    return found


def function_group(env: SynthesizedEnv) -> str:
    (group,) = api_function(env.api_json)[1]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    return str(group["Fn::GetAtt"][0])


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def data_front_group(env: SynthesizedEnv) -> dict[str, Any]:
    """``GetAtt GroupId`` of the proxy's (or, without proxy, the cluster's) security group."""
    if env.config.database.proxy:
        (proxy,) = resources(env.data_json, "AWS::RDS::DBProxy").values()
        (group,) = proxy["Properties"]["VpcSecurityGroupIds"]
    else:
        _, cluster = only(env.data_json, "AWS::RDS::DBCluster")
        (group,) = cluster["Properties"]["VpcSecurityGroupIds"]
    return dict(group)


def route_of(template: dict[str, Any], method: dict[str, Any]) -> tuple[str, str]:
    """(HTTP method, path) of an ``AWS::ApiGateway::Method``, from its resource chain."""
    parts: list[str] = []
    resource_ref = method["Properties"]["ResourceId"]
    while "Ref" in resource_ref:
        resource = template["Resources"][resource_ref["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        resource_ref = resource["ParentId"]
    return method["Properties"]["HttpMethod"], "/" + "/".join(parts)


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
    assert variables["DB_PORT"] == str(POSTGRES_PORT)
    assert variables["DB_SSLMODE"] == ("verify-full" if env.config.database.proxy else "require")
    host = imported(variables["DB_HOST"], env.data_json)
    if env.config.database.proxy:
        (proxy_id,) = resources(env.data_json, "AWS::RDS::DBProxy")
        assert host == get_att(proxy_id, "Endpoint")
    else:
        cluster_id, _ = only(env.data_json, "AWS::RDS::DBCluster")
        assert host == get_att(cluster_id, "Endpoint.Address")
    # A paused cluster (~15 s to resume) can still answer within the function's timeout.
    assert 5 <= int(variables["DB_CONNECT_TIMEOUT_SECONDS"]) < env.config.api.timeout_seconds
    rendered = json.dumps(variables).lower()
    for secret_marker in ("resolve:secretsmanager", "password", "secret"):
        assert secret_marker not in rendered


def test_function_egress_is_postgres_to_the_front_and_https_to_the_endpoints(
    env: SynthesizedEnv,
) -> None:
    group = function_group(env)
    assert security_group_rules(env.api_json, group, "ingress") == []
    egress = {
        (rule["FromPort"], json.dumps(imported(rule["DestinationSecurityGroupId"], producer)))
        for rule in security_group_rules(env.api_json, group, "egress")
        for producer in [env.data_json if rule["FromPort"] == POSTGRES_PORT else env.network_json]
    }
    (execute_api,) = [
        endpoint["Properties"]
        for endpoint in resources(env.network_json, "AWS::EC2::VPCEndpoint").values()
        if str(endpoint["Properties"]["ServiceName"]).endswith(".execute-api")
    ]
    (endpoint_group,) = execute_api["SecurityGroupIds"]
    assert egress == {
        (POSTGRES_PORT, json.dumps(data_front_group(env))),
        (HTTPS_PORT, json.dumps(endpoint_group)),
    }


def test_database_front_admits_the_function_on_postgres(env: SynthesizedEnv) -> None:
    """The ingress rule on the data stack's group is written in the API stack (no cycle)."""
    rules = [
        rule["Properties"]
        for rule in resources(env.api_json, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["SourceSecurityGroupId"] == get_att(function_group(env), "GroupId")
    ]
    assert [imported(rule["GroupId"], env.data_json) for rule in rules] == [data_front_group(env)]
    assert [(rule["FromPort"], rule["ToPort"]) for rule in rules] == [
        (POSTGRES_PORT, POSTGRES_PORT)
    ]


def test_function_may_connect_only_as_the_api_user_to_this_database(env: SynthesizedEnv) -> None:
    _, function = api_function(env.api_json)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in env.api_json["Resources"][role_id]["Properties"]
    statements = policy_statements_of_role(env.api_json, role_id)
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
        cluster_id, _ = only(env.data_json, "AWS::RDS::DBCluster")
        assert imported(parts[1], env.data_json) == get_att(cluster_id, "DBClusterResourceId")
    for statement in statements:
        actions = set(actions_of(statement))
        assert "*" not in actions
        if statement["Resource"] == "*":
            assert actions <= ENI_AND_TRACING_ACTIONS


def test_proxy_may_log_in_to_the_cluster_as_the_api_user(env: SynthesizedEnv) -> None:
    """End-to-end IAM: the proxy signs its own login to the cluster as the client's user."""
    proxies = resources(env.data_json, "AWS::RDS::DBProxy")
    if not env.config.database.proxy:
        assert proxies == {}
        return
    ((_, proxy),) = proxies.items()
    role_id = proxy["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    cluster_id, _ = only(env.data_json, "AWS::RDS::DBCluster")
    connect = [
        statement["Resource"]
        for statement in policy_statements_of_role(env.data_json, role_id)
        if "rds-db:connect" in actions_of(statement)
    ]
    assert connect == [
        {
            "Fn::Join": [
                "",
                [
                    f"arn:aws:rds-db:{env.config.region}:{env.config.account}:dbuser:",
                    get_att(cluster_id, "DBClusterResourceId"),
                    f"/{API_DB_USER}",
                ],
            ]
        }
    ]


# --- the private REST API --------------------------------------------------------------------


def test_api_is_private_and_invocable_only_through_the_execute_api_endpoint(
    env: SynthesizedEnv,
) -> None:
    _, api = only(env.api_json, "AWS::ApiGateway::RestApi")
    props = api["Properties"]
    assert props["EndpointConfiguration"]["Types"] == ["PRIVATE"]
    (endpoint_ref,) = props["EndpointConfiguration"]["VpcEndpointIds"]
    endpoint = imported(endpoint_ref, env.network_json)
    endpoint_resource = env.network_json["Resources"][endpoint["Ref"]]["Properties"]
    assert str(endpoint_resource["ServiceName"]).endswith(".execute-api")
    statements = {s["Effect"]: s for s in props["Policy"]["Statement"]}
    assert set(statements) == {"Allow", "Deny"}
    for effect, operator in (("Allow", "StringEquals"), ("Deny", "StringNotEquals")):
        statement = statements[effect]
        assert statement["Action"] == "execute-api:Invoke"
        assert statement["Resource"] == "execute-api:/*"
        (condition,) = statement["Condition"][operator].values()
        assert imported(condition, env.network_json) == endpoint


def test_stage_logs_json_access_and_errors_without_bodies_with_tracing_and_throttling(
    env: SynthesizedEnv,
) -> None:
    _, stage = only(env.api_json, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    access_log = props["AccessLogSetting"]
    assert set(json.loads(access_log["Format"])) >= {"requestId", "status", "httpMethod"}
    (log_group_ref,) = [
        part for part in access_log["DestinationArn"]["Fn::Join"][1] if isinstance(part, dict)
    ]
    log_group = env.api_json["Resources"][log_group_ref["Ref"]]["Properties"]
    assert log_group["RetentionInDays"] == env.config.log_retention_days
    (settings,) = props["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["MetricsEnabled"] is True
    assert settings["ThrottlingRateLimit"] == env.config.api.throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == env.config.api.throttle_burst_limit
    deployment_id, _ = only(env.api_json, "AWS::ApiGateway::Deployment")
    assert props["DeploymentId"] == ref(deployment_id)


def test_every_route_needs_a_cognito_token_with_its_scope_and_is_validated(
    env: SynthesizedEnv,
) -> None:
    template = env.api_json
    authorizer_id, authorizer = only(template, "AWS::ApiGateway::Authorizer")
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [get_att(pool_id, "Arn")]
    validator_id, validator = only(template, "AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    function_id, _ = api_function(template)
    methods = resources(template, "AWS::ApiGateway::Method").values()
    routes = {route_of(template, method): method["Properties"] for method in methods}
    assert set(routes) == set(ROUTES)
    for route, props in routes.items():
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert props["AuthorizerId"] == ref(authorizer_id)
        assert props["AuthorizationScopes"] == [ROUTES[route]], route
        assert props["RequestValidatorId"] == ref(validator_id)
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert get_att(function_id, "Arn") in props["Integration"]["Uri"]["Fn::Join"][1]


def test_write_bodies_have_strict_models(env: SynthesizedEnv) -> None:
    template = env.api_json
    methods = resources(template, "AWS::ApiGateway::Method").values()
    routes = {route_of(template, method): method["Properties"] for method in methods}
    for route, required in (
        (("POST", "/items"), ["name"]),
        (("PUT", "/items/{id}"), ["name", "description", "version"]),
    ):
        model_id = routes[route]["RequestModels"]["application/json"]["Ref"]
        schema = template["Resources"][model_id]["Properties"]["Schema"]
        assert schema["required"] == required
        assert schema["additionalProperties"] is False
        assert schema["properties"]["name"]["maxLength"] == 200
        assert schema["properties"]["description"]["maxLength"] == 2000


def test_gateway_errors_are_json_in_the_api_error_shape(env: SynthesizedEnv) -> None:
    responses = {
        response["Properties"]["ResponseType"]: response["Properties"]
        for response in resources(env.api_json, "AWS::ApiGateway::GatewayResponse").values()
    }
    # API Gateway's own answers match the function's: 422 for a bad body, 404 for no route.
    expected = {
        "DEFAULT_4XX": (None, "UNAUTHORIZED"),
        "DEFAULT_5XX": (None, "UNAUTHORIZED"),
        "BAD_REQUEST_BODY": ("422", "VALIDATION_ERROR"),
        "MISSING_AUTHENTICATION_TOKEN": ("404", "ROUTE_NOT_FOUND"),
    }
    assert set(responses) == set(expected)
    for response_type, (status, code) in expected.items():
        response = responses[response_type]
        assert response.get("StatusCode") == status
        template = response["ResponseTemplates"]["application/json"]
        sample = template.replace("$context.error.responseType", "UNAUTHORIZED").replace(
            "$context.error.messageString", '"Some message"'
        )
        assert json.loads(sample) == {"error": {"code": code, "message": "Some message"}}


def _deployment_id(paths: tuple[str, ...]) -> str:
    app = App(context=cdk_json_context())
    stack = Stack(app, "Api")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    api = PrivateRestApi(
        stack,
        "Api",
        props=PrivateApiProps(
            name="t",
            description="t",
            handler=function,
            vpc_endpoint=vpc.add_interface_endpoint(
                "ExecuteApi", service=ec2.InterfaceVpcEndpointAwsService.APIGATEWAY
            ),
            user_pool=cognito.UserPool(stack, "Pool"),
            stage_name="v1",
            throttle_rate_limit=1,
            throttle_burst_limit=1,
            log_retention=logs.RetentionDays.ONE_DAY,
            removal_policy=RemovalPolicy.DESTROY,
        ),
    )
    for path in paths:
        api.add_route(path, HttpMethod.GET, scope="api/items.read")
    (deployment_id,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::Deployment")
    return str(deployment_id)


def test_a_changed_api_gets_a_new_deployment_for_the_stage() -> None:
    """The seed's deployment never changed, so API changes never reached its stage."""
    before = _deployment_id(("/items",))
    assert _deployment_id(("/items",)) == before
    assert _deployment_id(("/items", "/health")) != before


# --- Cognito ---------------------------------------------------------------------------------


def test_user_pool_admits_no_self_sign_up_and_has_a_strict_password_policy(
    env: SynthesizedEnv,
) -> None:
    pool_id, pool = only(env.api_json, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    for rule in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"):
        assert policy[rule] is True
    assert props.get("DeletionProtection", "INACTIVE") == (
        "ACTIVE" if env.config.retain_data else "INACTIVE"
    )
    assert pool["DeletionPolicy"] == (
        "RetainExceptOnCreate" if env.config.retain_data else "Delete"
    )
    _, domain = only(env.api_json, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["UserPoolId"] == ref(pool_id)
    assert env.config.name in domain["Properties"]["Domain"]


def test_web_client_uses_client_credentials_with_a_secret_and_both_scopes(
    env: SynthesizedEnv,
) -> None:
    server_id, server = only(env.api_json, "AWS::Cognito::UserPoolResourceServer")
    assert server["Properties"]["Identifier"] == "api"
    assert {scope["ScopeName"] for scope in server["Properties"]["Scopes"]} == {
        "items.read",
        "items.write",
    }
    _, client = only(env.api_json, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["GenerateSecret"] is True
    assert props["AllowedOAuthFlows"] == ["client_credentials"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthScopes"] == [
        {"Fn::Join": ["", [ref(server_id), "/items.read"]]},
        {"Fn::Join": ["", [ref(server_id), "/items.write"]]},
    ]
    assert props.get("ExplicitAuthFlows", []) == []


# --- image mode ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_mode_api(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev synthesized with ``api.image_tag`` set: the api template and the network template."""
    dev = APP_CONFIG.environment("dev")
    dev = replace(dev, api=replace(dev.api, image_tag="3f2c1e0"))
    outdir = tmp_path_factory.mktemp("image-mode")
    app = App(outdir=str(outdir), context=cdk_json_context())
    stage = build_platform(app, replace(APP_CONFIG, environments=(dev,)), (dev,))["dev"]
    app.synth()
    api = json.loads((outdir / stage.artifact_id / stage.api.template_file).read_text())
    network = json.loads((outdir / stage.artifact_id / stage.network.template_file).read_text())
    return api, network


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
    assert parts[-1] == "/three-tier/dev/api:3f2c1e0"
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

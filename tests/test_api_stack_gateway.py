"""The API tier as synthesized for each environment: the private REST API and Cognito."""

from __future__ import annotations

import json
from http import HTTPMethod
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.private_api import PrivateApiProps, PrivateRestApi
from tests.api_function import api_alias
from tests.synth import SynthesizedEnv, scratch_app
from tests.template_queries import get_att, imported, only, ref, resources

ROUTES = {
    ("GET", "/health"): "api/items.read",
    ("GET", "/items"): "api/items.read",
    ("POST", "/items"): "api/items.write",
    ("GET", "/items/{id}"): "api/items.read",
    ("PUT", "/items/{id}"): "api/items.write",
    ("DELETE", "/items/{id}"): "api/items.write",
}


def route_of(template: dict[str, Any], method: dict[str, Any]) -> tuple[str, str]:
    """(HTTP method, path) of an ``AWS::ApiGateway::Method``, from its resource chain."""
    parts: list[str] = []
    resource_ref = method["Properties"]["ResourceId"]
    while "Ref" in resource_ref:
        resource = template["Resources"][resource_ref["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        resource_ref = resource["ParentId"]
    return method["Properties"]["HttpMethod"], "/" + "/".join(parts)


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
    # The function's live alias, never $LATEST (the function's own ARN): see test_api_release.
    alias_id, _ = api_alias(template)
    methods = resources(template, "AWS::ApiGateway::Method").values()
    routes = {route_of(template, method): method["Properties"] for method in methods}
    assert set(routes) == set(ROUTES)
    for route, props in routes.items():
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert props["AuthorizerId"] == ref(authorizer_id)
        assert props["AuthorizationScopes"] == [ROUTES[route]], route
        assert props["RequestValidatorId"] == ref(validator_id)
        assert props["Integration"]["Type"] == "AWS_PROXY"
        _, target, suffix = props["Integration"]["Uri"]["Fn::Join"][1]
        assert (target, suffix) == (ref(alias_id), "/invocations"), route


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
    stack = Stack(scratch_app(), "Api")
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
        api.add_route(path, HTTPMethod.GET, scope="api/items.read")
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

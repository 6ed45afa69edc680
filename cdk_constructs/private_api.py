"""A PRIVATE REST API: reachable only through one VPC endpoint, every method behind Cognito."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPMethod, HTTPStatus
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import ImplicitLogGroup, retained_log_group
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all

ERROR_TEMPLATE = (
    '{"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}'
)
"""API Gateway's own errors in the API's error shape (messageString is already a JSON string)."""

GATEWAY_ERRORS: dict[str, tuple[HTTPStatus, str]] = {
    "BAD_REQUEST_BODY": (HTTPStatus.UNPROCESSABLE_ENTITY, "VALIDATION_ERROR"),
    "MISSING_AUTHENTICATION_TOKEN": (HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND"),
}
"""API Gateway's own answers that the API gives its status and code, as the function would, so
clients see one API. MISSING_AUTHENTICATION_TOKEN (403 by default) is what a REST API answers
for a method or a path it does not define, before any authorizer runs ("including the cases
when the client attempts to invoke an unsupported API method or resource",
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html;
https://repost.aws/knowledge-center/api-gateway-authentication-token-errors): a wrong method on
a known path is a 404, never a 405 (``make local`` answers alike)."""

API_GATEWAY_LOGGING_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)
"""The managed policy of API Gateway's account-wide logging role, as cdk-nag names it (CDK
writes its ARN with the partition token even where the stack's partition is a literal)."""

ACCESS_LOG_FIELDS = (
    "caller",
    "http_method",
    "ip",
    "protocol",
    "request_time",
    "resource_path",
    "response_length",
    "status",
    "user",
)
"""Every standard field of API Gateway's JSON access log, all switched on: who called what, how,
and with what result."""

API_GATEWAY_WELCOME_LOG_GROUP = "/aws/apigateway/welcome"
"""Created by API Gateway in every account whose API Gateway settings have a CloudWatch role."""


def _invoke(effect: iam.Effect, operator: str, endpoint_id: str) -> iam.PolicyStatement:
    """execute-api:Invoke on every method, by whether the call came through ``endpoint_id``."""
    return iam.PolicyStatement(
        effect=effect,
        principals=[iam.AnyPrincipal()],
        actions=["execute-api:Invoke"],
        resources=["execute-api:/*"],
        conditions={operator: {"aws:SourceVpce": endpoint_id}},
    )


_SCHEMA_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "minLength", "maxLength",
     "minimum", "maximum", "pattern", "enum", "title", "description", "default"}
)  # fmt: skip
"""The JSON Schema keywords ``json_schema`` converts (draft 4, the version API Gateway checks)."""


def json_schema(
    document: Mapping[str, Any], *, version: apigw.JsonSchemaVersion | None = None
) -> apigw.JsonSchema:
    """A JSON Schema document (such as pydantic's ``model_json_schema()``) as CDK's
    ``JsonSchema``, declared as ``version``. A keyword outside ``_SCHEMA_KEYWORDS`` fails the
    synth instead of being dropped, so API Gateway never checks less than the document says."""
    unknown = set(document) - _SCHEMA_KEYWORDS
    if unknown:
        raise ValueError(f"JSON Schema keywords not supported here: {sorted(unknown)}")
    kwargs: dict[str, Any] = {
        re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).lower(): value
        for keyword, value in document.items()
    }
    if "type" in kwargs:
        kwargs["type"] = apigw.JsonSchemaType[str(kwargs["type"]).upper()]
    if "properties" in kwargs:
        kwargs["properties"] = {
            name: json_schema(schema) for name, schema in kwargs["properties"].items()
        }
    return apigw.JsonSchema(schema=version, **kwargs)


@dataclass(frozen=True)
class PrivateApiProps:
    name: str
    description: str
    handler: lambda_.IFunction
    """One Lambda proxy integration serves every route."""
    vpc_endpoint: ec2.IInterfaceVpcEndpoint
    """The execute-api endpoint: the only way in."""
    user_pool: cognito.IUserPool
    stage_name: str
    throttle_rate_limit: int
    throttle_burst_limit: int
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy


class PrivateRestApi(Construct):
    """The API, its stage (JSON access logs, ERROR execution logs without bodies, X-Ray,
    metrics, throttling), a Cognito authorizer, a request validator and JSON gateway errors.

    CDK names the deployment after a hash of the API's definition, so every change to routes,
    models or settings produces a new deployment that the stage points to.
    """

    def __init__(self, scope: Construct, id_: str, *, props: PrivateApiProps) -> None:
        super().__init__(scope, id_)
        endpoint_id = props.vpc_endpoint.vpc_endpoint_id
        policy = iam.PolicyDocument(
            statements=[
                _invoke(iam.Effect.DENY, "StringNotEquals", endpoint_id),
                _invoke(iam.Effect.ALLOW, "StringEquals", endpoint_id),
            ]
        )
        self.access_log_group = retained_log_group(self, "AccessLogs", settings=props)
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=props.name,
            description=props.description,
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType.PRIVATE], vpc_endpoints=[props.vpc_endpoint]
            ),
            policy=policy,
            deploy=True,
            deploy_options=apigw.StageOptions(
                stage_name=props.stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    **dict.fromkeys(ACCESS_LOG_FIELDS, True)
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log request or response bodies
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=props.throttle_rate_limit,
                throttling_burst_limit=props.throttle_burst_limit,
            ),
            # Execution logging needs the account-wide API Gateway role; keep it when the stack
            # goes, other APIs in the account may rely on it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage = self.rest_api.deployment_stage
        # Once the account has a CloudWatch role, API Gateway writes a "welcome" stream to
        # /aws/apigateway/welcome, a group it creates with no expiry. AWS does not document it
        # (nor say it is not created), so it is created first, or adopted, with retention. It is
        # account-wide: never deleted with one environment's stack; the last deploy's
        # retention applies.
        self.welcome_log_group = ImplicitLogGroup(
            self,
            "WelcomeLogGroup",
            log_group_name=API_GATEWAY_WELCOME_LOG_GROUP,
            name_pattern=f"{API_GATEWAY_WELCOME_LOG_GROUP}*",
            retention=props.log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        account = self.rest_api.node.try_find_child("Account")
        if account is not None:
            account.node.add_dependency(self.welcome_log_group)
        # Execution logs (level ERROR) go to a group API Gateway would create on first use with
        # no expiry: create it first, with retention.
        self.execution_log_group = retained_log_group(
            self,
            "ExecutionLogs",
            settings=props,
            log_group_name=(
                f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{props.stage_name}"
            ),
        )
        self.stage.node.add_dependency(self.execution_log_group)
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[props.user_pool]
        )
        self.validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.integration = apigw.LambdaIntegration(props.handler, allow_test_invoke=False)
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Json{response_type.response_type}",
                type=response_type,
                templates={"application/json": ERROR_TEMPLATE},
            )
        for name, (status, code) in GATEWAY_ERRORS.items():
            response_type = apigw.ResponseType.of(name)
            self.rest_api.add_gateway_response(
                f"Json{name}",
                type=response_type,
                status_code=str(status.value),
                templates={
                    "application/json": ERROR_TEMPLATE.replace("$context.error.responseType", code)
                },
            )
        self._acknowledge_findings()

    def add_json_model(self, name: str, schema: Mapping[str, Any]) -> apigw.Model:
        """A request body model (a JSON Schema document, checked as draft 4) that the validator
        enforces before the function runs."""
        return self.rest_api.add_model(
            name,
            content_type="application/json",
            model_name=name,
            schema=json_schema(schema, version=apigw.JsonSchemaVersion.DRAFT4),
        )

    def add_route(
        self,
        path: str,
        method: HTTPMethod,
        *,
        scope: str,
        body: apigw.Model | None = None,
        query_parameters: tuple[str, ...] = (),
    ) -> apigw.Method:
        """``method path`` to the handler, for tokens carrying ``scope``; ``{x}`` path
        parameters are required, query parameters optional."""
        resource = self.rest_api.root.resource_for_path(path)
        parameters = {
            f"method.request.path.{segment[1:-1]}": True
            for segment in path.split("/")
            if segment.startswith("{")
        }
        parameters |= {f"method.request.querystring.{name}": False for name in query_parameters}
        return resource.add_method(
            method.value,
            self.integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorization_scopes=[scope],
            request_validator=self.validator,
            request_models={"application/json": body} if body else None,
            request_parameters=parameters or None,
        )

    def _acknowledge_findings(self) -> None:
        private = (
            "A PRIVATE API: only this VPC's execute-api endpoint reaches it (resource policy); "
            "the public web tier is where a web ACL filters internet traffic."
        )
        acknowledge_all(
            self.stage,
            [
                ("AwsSolutions-APIG3", private),
                (f"{NIST}APIGWAssociatedWithWAF", private),
                (
                    f"{NIST}APIGWCacheEnabledAndEncrypted",
                    "Per-caller CRUD responses that change on every write: a cache would serve "
                    "stale items; the stage throttle bounds the load instead (EXCEPTIONS.md).",
                ),
                (
                    f"{NIST}APIGWSSLEnabled",
                    "The only integration is Lambda, which API Gateway invokes through IAM; a "
                    "client certificate only lets an HTTP backend authenticate API Gateway.",
                ),
            ],
        )
        acknowledge(
            self.rest_api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4",
            "The AWS-managed policy API Gateway documents for its account-wide logging role; it "
            "only writes API Gateway's own log groups.",
            applies_to=API_GATEWAY_LOGGING_POLICY,
        )

"""A PRIVATE REST API: reachable only through one VPC endpoint, every method behind Cognito."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import ImplicitLogGroup

ERROR_TEMPLATE = (
    '{"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}'
)
"""API Gateway's own errors in the API's error shape (messageString is already a JSON string)."""

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


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"


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
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        self.api = apigw.RestApi(
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
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
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
        self.stage = self.api.deployment_stage
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
        account = self.api.node.try_find_child("Account")
        if account is not None:
            account.node.add_dependency(self.welcome_log_group)
        # Execution logs (level ERROR) go to a group API Gateway would create on first use with
        # no expiry: create it first, with retention.
        self.execution_log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=(
                f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{props.stage_name}"
            ),
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        self.stage.node.add_dependency(self.execution_log_group)
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[props.user_pool]
        )
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.integration = apigw.LambdaIntegration(props.handler, allow_test_invoke=False)
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            self.api.add_gateway_response(
                f"Json{response_type.response_type}",
                type=response_type,
                templates={"application/json": ERROR_TEMPLATE},
            )
        # Answered by API Gateway before the function runs: same status and code as the
        # function would give, so clients see one API.
        for response_type, status, code in (
            (apigw.ResponseType.BAD_REQUEST_BODY, "422", "VALIDATION_ERROR"),
            (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "ROUTE_NOT_FOUND"),
        ):
            self.api.add_gateway_response(
                f"Json{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": ERROR_TEMPLATE.replace("$context.error.responseType", code)
                },
            )
        self._acknowledge_findings()

    def add_json_model(self, name: str, schema: apigw.JsonSchema) -> apigw.Model:
        """A request body model that the validator enforces before the function runs."""
        return self.api.add_model(
            name, content_type="application/json", model_name=name, schema=schema
        )

    def add_route(
        self,
        path: str,
        method: HttpMethod,
        *,
        scope: str,
        body: apigw.Model | None = None,
        query_parameters: tuple[str, ...] = (),
    ) -> apigw.Method:
        """``method path`` to the handler, for tokens carrying ``scope``; ``{x}`` path
        parameters are required, query parameters optional."""
        resource = self.api.root.resource_for_path(path)
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
        Validations.of(self.stage).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-APIG3",
                reason="A PRIVATE API: only this VPC's execute-api endpoint reaches it (resource "
                "policy); the public web tier is where a web ACL filters internet traffic.",
            )
        )
        cloud_watch_role = self.api.node.find_child("CloudWatchRole")
        Validations.of(cloud_watch_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="The AWS-managed policy API Gateway documents for its account-wide "
                "logging role; it only writes API Gateway's own log groups.",
            )
        )

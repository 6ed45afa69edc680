"""A public REGIONAL REST API: every method behind one Lambda authorizer, each service's routes
proxied over a VPC link (v1) to the internal NLB.

No CORS anywhere: the static site's CloudFront distribution routes ``/api/*`` here, so browsers
call it on the site's own origin; API Gateway sends no ``Access-Control-*`` header and browsers
refuse every other origin. No API key: the authorizer is the only gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.logging import ImplicitLogGroup, retained_log_group
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import AuthorizerType
from cdk_constructs.private_api import (
    ACCESS_LOG_FIELDS,
    API_GATEWAY_LOGGING_POLICY,
    API_GATEWAY_WELCOME_LOG_GROUP,
    ERROR_TEMPLATE,
    GATEWAY_ERRORS,
)
from cdk_constructs.web_acl import RegionalWebAcl

AUTHORIZATION_HEADER = "Authorization"
IDENTITY_SOURCE = apigw.IdentitySource.header(AUTHORIZATION_HEADER)
"""``method.request.header.Authorization``: both authorizer types cache by it."""
INTEGRATION_TIMEOUT = Duration.seconds(29)
"""API Gateway's longest integration timeout for a REST API (default quota)."""
USER_HEADERS = {"X-User-Id": "userId", "X-User-Roles": "roles"}
"""Header to the service <- the authorizer's context key. A mapped header replaces what the
client sent under that name, so a service can trust these."""

AUTHORIZER_ERRORS: dict[str, tuple[HTTPStatus, str]] = {
    "UNAUTHORIZED": (HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED"),
    "ACCESS_DENIED": (HTTPStatus.FORBIDDEN, "FORBIDDEN"),
    "MISSING_AUTHENTICATION_TOKEN": GATEWAY_ERRORS["MISSING_AUTHENTICATION_TOKEN"],
}
"""The authorizer's answers (no/bad token: it raises ``Unauthorized``; a policy denying the
route) and the answer for a path no resource defines, with the platform's codes
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
DEFAULT_4XX and DEFAULT_5XX keep API Gateway's status, in the same JSON shape."""


@dataclass(frozen=True)
class PublicApiProps:
    name: str
    description: str
    stage_name: str
    authorizer_function: lambda_.IFunction
    authorizer_type: AuthorizerType
    authorizer_cache_ttl: Duration
    throttle_rate_limit: int
    throttle_burst_limit: int
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy


class PublicRestApi(Construct):
    """The API and its stage (JSON access logs, ERROR execution logs without bodies, X-Ray,
    metrics, throttling), the authorizer and the JSON gateway responses; routes come with
    ``add_service``."""

    def __init__(self, scope: Construct, id_: str, *, props: PublicApiProps) -> None:
        super().__init__(scope, id_)
        self.access_log_group = retained_log_group(self, "AccessLogs", settings=props)
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=props.name,
            description=props.description,
            endpoint_configuration=apigw.EndpointConfiguration(types=[apigw.EndpointType.REGIONAL]),
            deploy=True,
            deploy_options=apigw.StageOptions(
                stage_name=props.stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    **dict.fromkeys(ACCESS_LOG_FIELDS, True)
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log request or response bodies (tokens)
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=props.throttle_rate_limit,
                throttling_burst_limit=props.throttle_burst_limit,
            ),
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage = self.rest_api.deployment_stage
        self._log_groups(props)
        self.authorizer = self._authorizer(props)
        self._gateway_responses()
        self._acknowledge_findings()

    def add_service(
        self, path_prefix: str, *, vpc_link: apigw.IVpcLink, base_url: str
    ) -> list[apigw.Method]:
        """``ANY /<prefix>`` and ``ANY /<prefix>/{proxy+}`` to ``<base_url>/<prefix>`` and
        ``<base_url>/<prefix>/{proxy}`` over the VPC link (``base_url``: ``http://<nlb>:<port>``),
        the authorizer on both, the caller's id and roles as headers."""
        headers = {
            f"integration.request.header.{header}": f"context.authorizer.{key}"
            for header, key in USER_HEADERS.items()
        }
        resource = self.rest_api.root.add_resource(path_prefix)
        proxy = resource.add_resource("{proxy+}")
        methods = []
        for target, path, parameters in (
            (resource, f"/{path_prefix}", {}),
            (
                proxy,
                f"/{path_prefix}/{{proxy}}",
                {"integration.request.path.proxy": "method.request.path.proxy"},
            ),
        ):
            integration = apigw.Integration(
                type=apigw.IntegrationType.HTTP_PROXY,
                integration_http_method="ANY",
                uri=f"{base_url}{path}",
                options=apigw.IntegrationOptions(
                    connection_type=apigw.ConnectionType.VPC_LINK,
                    vpc_link=vpc_link,
                    request_parameters={**headers, **parameters},
                    timeout=INTEGRATION_TIMEOUT,
                ),
            )
            method = target.add_method(
                "ANY",
                integration,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                api_key_required=False,
                request_parameters={"method.request.path.proxy": True} if parameters else None,
            )
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "The Lambda authorizer verifies the user pool's access tokens (RS256 signature, "
                "issuer, client id, token use, expiry) and, unlike a Cognito authorizer, the "
                "caller's roles for the route.",
            )
            methods.append(method)
        return methods

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """The regional web ACL filters what reaches the stage."""
        association = web_acl.associate("Association", self.stage.stage_arn)
        association.node.add_dependency(self.stage)

    def _authorizer(self, props: PublicApiProps) -> apigw.Authorizer:
        """TOKEN or REQUEST by config; either way the cache key is the Authorization header
        (a REQUEST authorizer without it answers 401 before the function runs)."""
        if props.authorizer_type is AuthorizerType.TOKEN:
            return apigw.TokenAuthorizer(
                self,
                "Authorizer",
                handler=props.authorizer_function,
                identity_source=IDENTITY_SOURCE,
                results_cache_ttl=props.authorizer_cache_ttl,
            )
        return apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=props.authorizer_function,
            identity_sources=[IDENTITY_SOURCE],
            results_cache_ttl=props.authorizer_cache_ttl,
        )

    def _gateway_responses(self) -> None:
        """Every answer API Gateway gives itself in the platform's error shape."""
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Json{response_type.response_type}",
                type=response_type,
                templates={"application/json": ERROR_TEMPLATE},
            )
        for name, (status, code) in AUTHORIZER_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"Json{name}",
                type=apigw.ResponseType.of(name),
                status_code=str(status.value),
                templates={
                    "application/json": ERROR_TEMPLATE.replace("$context.error.responseType", code)
                },
            )

    def _log_groups(self, props: PublicApiProps) -> None:
        """The groups API Gateway would otherwise create with no expiry, created first with
        retention (as the private API's: see ``PrivateRestApi``)."""
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
        self.execution_log_group = retained_log_group(
            self,
            "ExecutionLogs",
            settings=props,
            log_group_name=(
                f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{props.stage_name}"
            ),
        )
        self.stage.node.add_dependency(self.execution_log_group)

    def _acknowledge_findings(self) -> None:
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Every route is an HTTP proxy to a microservice, which validates its own requests "
            "and answers 400 in the platform's error shape; API Gateway has no model to check.",
        )
        acknowledge_all(
            self.stage,
            [
                (
                    f"{NIST}APIGWCacheEnabledAndEncrypted",
                    "Per-user responses behind an authorizer: a stage cache would serve one "
                    "user's data to another; the authorizer's decisions are cached instead.",
                ),
                (
                    f"{NIST}APIGWSSLEnabled",
                    "The backend is reached over a VPC link (PrivateLink) to an internal NLB: "
                    "a client certificate authenticates API Gateway to public HTTP backends.",
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

    def acknowledge_no_web_acl(self) -> None:
        """Where ``api.waf`` is off: say why the stage is acceptable without one."""
        reason = (
            "api.waf is off in this environment: the stage throttle and the authorizer on every "
            "method bound it; set api.waf to filter at the API too."
        )
        acknowledge_all(
            self.stage, [("AwsSolutions-APIG3", reason), (f"{NIST}APIGWAssociatedWithWAF", reason)]
        )

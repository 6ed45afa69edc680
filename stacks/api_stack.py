"""API tier of one environment: the items API function, Cognito and the private REST API."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, cast

from aws_cdk import CfnResource, Duration, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.api_auth import ApiAuth
from cdk_constructs.api_release import ApiReleaseProps, FunctionRelease
from cdk_constructs.data_engine.interface import DataEngine, client_environment
from cdk_constructs.logging import acknowledge_aws_custom_resource_function
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.network import HTTPS_PORT, Network
from cdk_constructs.options import Image, ProtectedKind
from cdk_constructs.private_api import PrivateApiProps, PrivateRestApi
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.vpc_function import VpcFunctionProps, VpcPythonFunction
from release.contract import FUNCTION_NAME_OUTPUT, FUNCTION_VERSION_OUTPUT, RELEASE_OUTPUT
from stacks.api_tier import ApiMonitoring, SignIn, SiteApi
from stacks.config import cognito_domain_prefix, repository_name
from stacks.data_stack import API_DB_USER
from stacks.platform_stack import BUNDLE_CACHE_DIR, REPO_ROOT, PlatformStack, Tier

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage

API_PACKAGE = REPO_ROOT / "lambda_src" / "api"
RELEASE_HOOK_PACKAGE = REPO_ROOT / "lambda_src" / "release_hook"
API_HANDLER = "api.handler.lambda_handler"
API_STAGE = "v1"
API_URL_DESCRIPTION = "Private API base URL (resolves only inside the VPC)"

# The function's package defines the routes and request models this stack deploys (CDK-free):
# imported as the function imports it, `api`, with lambda_src on the path as pytest and
# `make local` have it.
if str(API_PACKAGE.parent) not in sys.path:
    sys.path.append(str(API_PACKAGE.parent))

from api.routes import API_ROUTES, RESOURCE_SERVER_ID, ApiRoute, ApiScope  # noqa: E402

GATEWAY_SCHEMA_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "minLength", "maxLength", "minimum"}
)
"""What API Gateway checks of a body model before the function runs: types, required and
unknown fields, lengths and the least version. Bounds beyond these stay the function's (the
model's ``version`` maximum): in API Gateway they would reject bodies the API passes today."""


def gateway_schema(document: dict[str, Any]) -> dict[str, Any]:
    """A body model's JSON Schema (pydantic's) reduced to ``GATEWAY_SCHEMA_KEYWORDS``."""
    schema = {k: v for k, v in document.items() if k in GATEWAY_SCHEMA_KEYWORDS}
    if "properties" in schema:
        schema["properties"] = {
            name: gateway_schema(field) for name, field in schema["properties"].items()
        }
    return schema


class ApiStack(PlatformStack):
    """Composes the function (in the VPC, IAM login to the database), its release (a version per
    change behind the ``live`` alias, moved by CodeDeploy), Cognito and the API, which invokes
    the alias."""

    TIER = Tier.API
    SUMMARY = "API tier (function, API, Cognito)"

    def __init__(
        self, stage: PlatformStage, *, network: Network, database: DataEngine, key: kms.IKey
    ) -> None:
        """``key``: the environment's key, which encrypts the web tier's client secret."""
        super().__init__(stage)
        app, env_config = self.app_config, self.env_config
        config = env_config.api
        retention = self.log_retention
        removal_policy = self.removal_policy

        self.function = VpcPythonFunction(
            self,
            "ItemsFunction",
            props=VpcFunctionProps(
                package_dir=API_PACKAGE,
                handler=API_HANDLER,
                description="Items API",
                vpc=network.vpc,
                subnets=network.app_subnets,
                log_retention=retention,
                removal_policy=removal_policy,
                bundle_cache_dir=BUNDLE_CACHE_DIR,
                environment={
                    **client_environment(database, db_user=API_DB_USER),
                    # Room for a paused cluster to resume (~15 s) within one request.
                    "DB_CONNECT_TIMEOUT_SECONDS": str(max(5, config.timeout_seconds - 3)),
                    "POWERTOOLS_SERVICE_NAME": "items-api",
                    "POWERTOOLS_METRICS_NAMESPACE": f"{app.app_name}/{env_config.name}",
                },
                timeout=Duration.seconds(config.timeout_seconds),
                memory_size=config.memory_mb,
                reserved_concurrency=config.reserved_concurrency,
                image=self._image(),
            ),
        )
        database.allow_client(self.function.security_group, description="Items API")
        database.grant_connect(self.function.role, db_user=API_DB_USER)
        self.function.security_group.add_egress_rule(
            network.endpoint_security_group,
            ec2.Port.tcp(HTTPS_PORT),
            "AWS APIs through the VPC's interface endpoints",
        )
        synchronous = (
            "Invoked synchronously by API Gateway: the caller gets the error, there is no "
            "asynchronous event to keep."
        )
        acknowledge_all(
            self.function.function,
            [("Serverless-LambdaDLQ", synchronous), (f"{NIST}LambdaDLQ", synchronous)],
        )
        if config.reserved_concurrency is None:
            acknowledge(
                self.function.function,
                f"{NIST}LambdaConcurrency",
                "The stage throttle (api.throttle_rate_limit, api.throttle_burst_limit) caps the "
                "load; a reservation needs an account quota above it plus 100, so it is the "
                "api.reserved_concurrency knob.",
            )

        api_name = f"{self.resource_prefix}-items"
        self.release = FunctionRelease(
            self,
            "ItemsRelease",
            props=ApiReleaseProps(
                name=f"{self.resource_prefix}-api",
                function=self.function.function,
                function_timeout=Duration.seconds(config.timeout_seconds),
                api_name=api_name,
                api_stage=API_STAGE,
                release=config.release,
                thresholds=env_config.alarms,
                hook_package=RELEASE_HOOK_PACKAGE,
                bundle_cache_dir=BUNDLE_CACHE_DIR,
                log_retention=retention,
                removal_policy=removal_policy,
            ),
        )

        self.auth = ApiAuth(
            self,
            "Auth",
            domain_prefix=cognito_domain_prefix(app, env_config),
            resource_server_id=RESOURCE_SERVER_ID,
            scopes=[scope.value for scope in ApiScope],
            removal_policy=removal_policy,
        )
        if env_config.retain_data:
            pool = self.auth.user_pool
            resource = cast(CfnResource, pool.node.default_child)
            kind, target = ProtectedKind.USER_POOL, pool.user_pool_id
            self.rollback_guard.protect(
                ProtectedResource("UserPool", resource, kind, target, pool.user_pool_arn)
            )
        self.private_api = PrivateRestApi(
            self,
            "ItemsApi",
            props=PrivateApiProps(
                name=api_name,
                description=f"{app.app_name} {env_config.name}: items API (private)",
                handler=self.release.alias,
                vpc_endpoint=network.execute_api_endpoint,
                user_pool=self.auth.user_pool,
                stage_name=API_STAGE,
                throttle_rate_limit=config.throttle_rate_limit,
                throttle_burst_limit=config.throttle_burst_limit,
                log_retention=retention,
                removal_policy=removal_policy,
            ),
        )
        self._add_routes()
        self.web_client_secret = self._web_client_secret(self.resource_prefix, key)

        self.add_outputs(
            ("ApiUrl", self.private_api.rest_api.url, API_URL_DESCRIPTION),
            ("TokenUrl", self.auth.token_url),
            ("UserPoolId", self.auth.user_pool.user_pool_id),
            ("WebClientId", self.auth.web_client.user_pool_client_id),
            (RELEASE_OUTPUT, self.release.contract().to_json(), "How the API function releases"),
            (FUNCTION_NAME_OUTPUT, self.function.function.function_name),
            (
                FUNCTION_VERSION_OUTPUT,
                self.release.version.version,
                "The version this template deploys the live alias to",
            ),
        )

    # --- ApiTier (stacks/api_tier.py) -------------------------------------------------------

    @property
    def sign_in(self) -> SignIn | None:
        """None: no users sign in; the web tier holds client credentials."""
        return None

    @property
    def site_api(self) -> SiteApi | None:
        """None: the API is private, no site routes to it."""
        return None

    @property
    def monitoring(self) -> ApiMonitoring:
        """The private API's stage and the items function."""
        return ApiMonitoring(
            rest_api=self.private_api.rest_api,
            stage_name=self.private_api.stage.stage_name,
            function=self.function.function,
            function_timeout=Duration.seconds(self.env_config.api.timeout_seconds),
        )

    def _web_client_secret(self, prefix: str, key: kms.IKey) -> secretsmanager.Secret:
        """What the web tier needs to call the API, kept by this stack (it owns the client).

        The client secret is read from Cognito at deploy time into this secret only; it never
        appears in a template, an output or a plain environment variable.
        """
        client = self.auth.web_client
        scopes = " ".join(scope.token_scope for scope in ApiScope)
        secret = secretsmanager.Secret(
            self,
            "WebClientSecret",
            secret_name=f"{prefix}/web/api-client",
            description="The web tier's credentials and addresses for the private API",
            encryption_key=key,
            secret_object_value={
                "client_id": SecretValue.unsafe_plain_text(client.user_pool_client_id),
                "client_secret": client.user_pool_client_secret,
                "token_url": SecretValue.unsafe_plain_text(self.auth.token_url),
                "scopes": SecretValue.unsafe_plain_text(scopes),
                "api_base_url": SecretValue.unsafe_plain_text(self.private_api.rest_api.url),
            },
            removal_policy=self.removal_policy,
        )
        # CDK's function behind user_pool_client_secret: one DescribeUserPoolClient call.
        acknowledge_aws_custom_resource_function(self)
        rotation = (
            "Rewritten from Cognito whenever the app client changes; its secret is rotated by "
            "replacing the app client, not by a rotation function."
        )
        acknowledge_all(
            secret,
            [("AwsSolutions-SMG4", rotation), (f"{NIST}SecretsManagerRotationEnabled", rotation)],
        )
        return secret

    def _image(self) -> lambda_.DockerImageCode | None:
        """The configured tag of the env's ``api`` image, or None for the zip.

        The repository is referred to by its fixed name: its URI is then plain text in this
        stack (the network stack's repository policy lets this account's functions pull).
        """
        tag = self.env_config.api.image_tag
        if tag is None:
            return None
        repository = ecr.Repository.from_repository_name(
            self, "ApiRepository", repository_name(self.app_config, self.env_config, Image.API)
        )
        return lambda_.DockerImageCode.from_ecr(repository, tag_or_digest=tag)

    def _add_routes(self) -> None:
        """Every route of the table, with a body model generated from the route's pydantic
        model (named as the model) and the fields of its query model as query parameters."""
        models = {
            body.__name__: self.private_api.add_json_model(
                body.__name__, gateway_schema(body.model_json_schema())
            )
            for body in dict.fromkeys(route.body for route in API_ROUTES if route.body)
        }
        for route in API_ROUTES:
            self.private_api.add_route(
                route.path,
                route.method,
                scope=route.scope.token_scope,
                body=models[route.body.__name__] if route.body else None,
                query_parameters=_query_parameters(route),
            )


def _query_parameters(route: ApiRoute) -> tuple[str, ...]:
    return tuple(route.query.model_fields) if route.query is not None else ()

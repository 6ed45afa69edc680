"""API tier of the ``public_services`` shape: the users' sign-in, the role table, the Lambda
authorizer, the public REST API and the microservices behind its VPC link."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from cdk_constructs.data_engine.interface import DataEngine, client_environment
from cdk_constructs.microservices import Microservice, Microservices, MicroservicesProps
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.network import HTTPS_PORT, Network
from cdk_constructs.options import ProtectedKind
from cdk_constructs.public_api import PublicApiProps, PublicRestApi
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.role_table import RoleTable
from cdk_constructs.sign_in import UserSignIn
from cdk_constructs.vpc_function import VpcFunctionProps, VpcPythonFunction
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.image import RepositoryImage, WebImage, placeholder_image
from release.contract import RELEASE_OUTPUT
from stacks.api_tier import ApiMonitoring, SignIn, SiteApi
from stacks.config import cognito_domain_prefix
from stacks.config.names import service_repository_name, sign_in_clients_parameter
from stacks.config.sections import ServiceConfig
from stacks.data_stack import API_DB_USER
from stacks.platform_stack import BUNDLE_CACHE_DIR, REPO_ROOT, PlatformStack, Tier

if TYPE_CHECKING:
    from aws_cdk import aws_secretsmanager as secretsmanager

    from stacks.platform_stage import PlatformStage

AUTHORIZER_PACKAGE = REPO_ROOT / "lambda_src" / "authorizer"
AUTHORIZER_HANDLER = "authorizer.handler.lambda_handler"
AUTHORIZER_TIMEOUT = Duration.seconds(10)
AUTHORIZER_MEMORY_MB = 512
"""RS256 verification is CPU-bound and Lambda's CPU grows with memory (256..512 MB)."""
STAGE_NAME = "api"
"""Also the path the static site routes to it: ``/api/*``."""
ROLLING_RELEASE = "rolling"
"""ECS rolling updates with the deployment circuit breaker rolling back; no CodeDeploy."""
DB_CONNECT_TIMEOUT_SECONDS = 20
"""A request waits for a paused cluster to resume (~15 s) within API Gateway's 29 s."""


class ServicesApiStack(PlatformStack):
    """Composes the sign-in (user pool + managed login domain), the role table, the authorizer
    function, the public API (authorizer on every method) and the microservices (one NLB, one
    VPC link, a Fargate service each). The browser's app client lives in the web stack, which
    writes its id to the clients parameter the authorizer reads: this stack never needs the
    site's URL."""

    TIER = Tier.API
    SUMMARY = "API tier (public API, authorizer, sign-in, microservices)"

    def __init__(
        self, stage: PlatformStage, *, network: Network, database: DataEngine, key: kms.IKey
    ) -> None:
        """``key``: the environment's key, which encrypts the role table."""
        super().__init__(stage)
        app, env_config = self.app_config, self.env_config
        config = env_config.api
        prefix = self.resource_prefix

        self.user_sign_in = UserSignIn(
            self,
            "SignIn",
            name=prefix,
            domain_prefix=cognito_domain_prefix(app, env_config),
            settings=config.sign_in,
            removal_policy=self.removal_policy,
        )
        pool = self.user_sign_in.user_pool
        self.roles = RoleTable(
            self, "Roles", table_name=f"{prefix}-roles", key=key, removal_policy=self.removal_policy
        )
        if env_config.retain_data:
            for id_, construct, kind, target, arn in (
                ("UserPool", pool, ProtectedKind.USER_POOL, pool.user_pool_id, pool.user_pool_arn),
                (
                    "RoleTable",
                    self.roles.table,
                    ProtectedKind.DYNAMODB_TABLE,
                    self.roles.table.table_name,
                    self.roles.table.table_arn,
                ),
            ):
                resource = cast(CfnResource, construct.node.default_child)
                self.rollback_guard.protect(ProtectedResource(id_, resource, kind, target, arn))

        clients_parameter = sign_in_clients_parameter(app, env_config)
        self.authorizer = self._authorizer(network, pool.user_pool_provider_url, clients_parameter)

        self.services = Microservices(
            self,
            "Services",
            props=MicroservicesProps(
                name=prefix,
                vpc=network.vpc,
                app_subnets=network.app_subnets,
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
                deletion_protection=env_config.retain_data,
            ),
            services=[self._microservice(service, database) for service in config.services],
        )
        for protected in self.services.deletion_protected:
            self.rollback_guard.protect(protected)
        for service in config.services:
            if service.database:
                running = self.services.services[service.name]
                database.allow_client(running.security_group, description=f"{service.name} tasks")
                database.grant_connect(running.task_role, db_user=API_DB_USER)

        self.public_api = PublicRestApi(
            self,
            "PublicApi",
            props=PublicApiProps(
                name=f"{prefix}-services",
                description=f"{app.app_name} {env_config.name}: public services API",
                stage_name=STAGE_NAME,
                authorizer_function=self.authorizer.function,
                authorizer_type=config.authorizer.type,
                authorizer_cache_ttl=Duration.seconds(config.authorizer.cache_ttl_seconds),
                throttle_rate_limit=config.throttle_rate_limit,
                throttle_burst_limit=config.throttle_burst_limit,
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
            ),
        )
        for service in config.services:
            self.public_api.add_service(
                service.path_prefix,
                vpc_link=self.services.vpc_link,
                base_url=self.services.base_url(service.name),
            )
        if config.waf:
            web_acl = RegionalWebAcl(
                self,
                "WebAcl",
                name=f"{prefix}-api",
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
            )
            self.public_api.associate_web_acl(web_acl)
        else:
            self.public_api.acknowledge_no_web_acl()

        rest_api = self.public_api.rest_api
        self._sign_in = SignIn(
            user_pool=pool,
            domain_url=self.user_sign_in.domain_url,
            clients_parameter=clients_parameter,
        )
        self._site_api = SiteApi(
            domain_name=f"{rest_api.rest_api_id}.execute-api.{self.region}.{self.url_suffix}",
            stage_name=STAGE_NAME,
        )
        self._monitoring = ApiMonitoring(
            rest_api=rest_api,
            stage_name=STAGE_NAME,
            function=self.authorizer.function,
            function_timeout=AUTHORIZER_TIMEOUT,
            errors_are_refusals=True,
            extra_alarms=self.services.alarm_sources(env_config.alarms, period=Duration.minutes(5)),
        )
        names = [service.name for service in config.services]
        release = {
            "kind": config.kind.value,
            "strategy": ROLLING_RELEASE,
            "circuit_breaker_rollback": True,
            "cluster": self.services.cluster_name,
            "services": [f"{prefix}-{name}" for name in names],
        }
        self.add_outputs(
            ("ApiUrl", rest_api.url, "Public API base URL (the site calls it as /api)"),
            ("UserPoolId", pool.user_pool_id),
            ("RoleTableName", self.roles.table.table_name, "Users' roles (make roles)"),
            ("SignInUrl", self.user_sign_in.domain_url, "Managed login (the OAuth endpoints)"),
            ("ServiceNames", ",".join(names)),
            ("ClusterName", self.services.cluster_name),
            (
                RELEASE_OUTPUT,
                json.dumps(release, sort_keys=True),
                "The services roll with ECS rolling updates and the circuit breaker",
            ),
        )

    # --- ApiTier ----------------------------------------------------------------------------

    @property
    def web_client_secret(self) -> secretsmanager.ISecret | None:
        """None: browsers sign in themselves (PKCE), no server-side credentials."""
        return None

    @property
    def sign_in(self) -> SignIn:
        return self._sign_in

    @property
    def site_api(self) -> SiteApi:
        return self._site_api

    @property
    def monitoring(self) -> ApiMonitoring:
        return self._monitoring

    # --- parts --------------------------------------------------------------------------------

    def _authorizer(
        self, network: Network, provider_url: str, clients_parameter: str
    ) -> VpcPythonFunction:
        """The function in the app subnets, sending HTTPS only (JWKS, SSM, DynamoDB); it may read
        the role table's items and the one clients parameter, nothing else."""
        config = self.env_config.api
        function = VpcPythonFunction(
            self,
            "Authorizer",
            props=VpcFunctionProps(
                package_dir=AUTHORIZER_PACKAGE,
                handler=AUTHORIZER_HANDLER,
                description="Public API authorizer",
                vpc=network.vpc,
                subnets=network.app_subnets,
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
                bundle_cache_dir=BUNDLE_CACHE_DIR,
                environment={
                    "ISSUER": f"https://{provider_url}",
                    "CLIENT_IDS_PARAMETER": clients_parameter,
                    "ROLE_TABLE": self.roles.table.table_name,
                    "ROUTE_ROLES": json.dumps(
                        {route: list(roles) for route, roles in config.route_roles.items()},
                        sort_keys=True,
                    ),
                },
                timeout=AUTHORIZER_TIMEOUT,
                memory_size=AUTHORIZER_MEMORY_MB,
            ),
        )
        function.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(HTTPS_PORT),
            "HTTPS: the user pool's JWKS, SSM and DynamoDB",
        )
        self.roles.grant_read_roles(function.role)
        # The web stack creates the parameter later (it needs the site's URL): granted by name.
        parameter_arn = self.format_arn(
            service="ssm", resource="parameter", resource_name=clients_parameter.lstrip("/")
        )
        iam.Grant.add_to_principal(
            grantee=function.role, actions=["ssm:GetParameter"], resource_arns=[parameter_arn]
        ).assert_success()
        invoked = (
            "Invoked synchronously by API Gateway for each uncached token: a failure is the "
            "caller's 401, there is no asynchronous event to keep."
        )
        acknowledge_all(
            function.function,
            [("Serverless-LambdaDLQ", invoked), (f"{NIST}LambdaDLQ", invoked)],
        )
        acknowledge(
            function.function,
            f"{NIST}LambdaConcurrency",
            "The stage throttle (api.throttle_rate_limit, api.throttle_burst_limit) and the "
            "decision cache bound its invocations.",
        )
        return function

    def _microservice(self, service: ServiceConfig, database: DataEngine) -> Microservice:
        """The service's image (its ECR repository's tag, else the placeholder) and, with
        ``database``, the IAM login settings the items function has."""
        image: WebImage = placeholder_image(service.port)
        if service.image_tag is not None:
            repository = ecr.Repository.from_repository_name(
                self,
                f"{service.name.capitalize()}Repository",
                service_repository_name(self.app_config, self.env_config, service.name),
            )
            image = RepositoryImage(repository, service.image_tag)
        environment: dict[str, str] = {}
        if service.database:
            environment = {
                **client_environment(database, db_user=API_DB_USER),
                "DB_CONNECT_TIMEOUT_SECONDS": str(DB_CONNECT_TIMEOUT_SECONDS),
            }
        return Microservice(
            name=service.name,
            port=service.port,
            health_path=service.health_path,
            cpu=service.cpu,
            memory_mib=service.memory_mib,
            min_tasks=service.min_tasks,
            max_tasks=service.max_tasks,
            image=image,
            environment=environment,
        )

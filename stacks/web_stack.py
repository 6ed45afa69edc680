"""Web tier of one environment: the public web service, its secrets, WAF, canary and alerts."""

from __future__ import annotations

import json
import shlex
from typing import Any, cast

from aws_cdk import Acknowledgment, CfnOutput, CfnResource, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_constructs.alerts import AlertsTopic
from cdk_constructs.app_runner_service import AppRunnerService, AppRunnerServiceProps
from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.fargate_web_service import (
    FargateWebService,
    FargateWebServiceProps,
    PublicDomain,
)
from cdk_constructs.health_canary import HealthCanary
from cdk_constructs.network import Network
from cdk_constructs.options import Image, ProtectedKind, WebRuntime
from cdk_constructs.web_acl import RegionalWebAcl
from stacks.config import AppConfig, EnvironmentConfig, repository_name
from stacks.platform_stack import PlatformStack

PLACEHOLDER_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
"""Multi-arch public image; with PLACEHOLDER_COMMAND it answers 200 on every path."""
SESSION_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
API_CLIENT_FIELDS = {
    "API_CLIENT_ID": "client_id",
    "API_CLIENT_SECRET": "client_secret",
    "API_TOKEN_URL": "token_url",
    "API_SCOPES": "scopes",
    "API_BASE_URL": "api_base_url",
}
"""Container variable <- field of the API stack's web client secret."""
APP_SECRETS_VARIABLE = "APP_SECRETS"
"""The app-owned secret, whole (a JSON object of the app's third-party keys)."""
CANARY_ARTIFACT_RETENTION = Duration.days(30)
DEEP_HEALTH_SUFFIX = "/deep"
"""The reference app's ``/healthz/deep``: one authenticated API round trip to the database."""


def canary_path(health_path: str, *, deep: bool) -> str:
    """What the canary checks: ``<health path>/deep`` or the health path itself."""
    return f"{health_path.rstrip('/')}{DEEP_HEALTH_SUFFIX}" if deep else health_path


def canary_reaches_database(env_config: EnvironmentConfig) -> bool:
    """Whether the canary runs the deep check (web -> private API -> database).

    Only once a real image runs (the placeholder answers the health path only), and never where
    the database auto-pauses (0 ACU minimum): a check every interval would keep it awake, so the
    0-ACU floor ``make cost`` reports would never be reached. There the canary checks the web
    tier alone, which never touches the database.
    """
    return env_config.web.image_tag is not None and env_config.database.min_capacity > 0


def placeholder_command(port: int) -> list[str]:
    """nginx answering 200 "ok" on every path at ``port``: the first deploy needs no image."""
    config = f"server {{ listen {port}; location / {{ return 200 'ok'; }} }}"
    return [
        "/bin/sh",
        "-c",
        f"echo {shlex.quote(config)} > /etc/nginx/conf.d/default.conf && "
        "exec nginx -g 'daemon off;'",
    ]


class WebStack(PlatformStack):
    """Composes the web runtime (Fargate or App Runner) with its secrets and watchers."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        app: AppConfig,
        env_config: EnvironmentConfig,
        network: Network,
        sessions: dynamodb.ITableV2,
        api_client_secret: secretsmanager.ISecret,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, env_config=env_config, **kwargs)
        web = env_config.web
        prefix = f"{app.app_name}-{env_config.name}"
        retention = self.log_retention
        removal_policy = self.removal_policy

        self.alerts = AlertsTopic(
            self,
            "Alerts",
            topic_name=f"{prefix}-alerts",
            email=env_config.alert_email,
            removal_policy=removal_policy,
        ).topic
        self.app_secret = self._app_secret(prefix)
        secrets = [
            ContainerSecret(name=variable, secret=api_client_secret, field=json_field)
            for variable, json_field in API_CLIENT_FIELDS.items()
        ]
        secrets.append(ContainerSecret(name=APP_SECRETS_VARIABLE, secret=self.app_secret))
        environment = {
            "SESSION_TABLE": sessions.table_name,
            "HEALTH_PATH": web.health_path,
            "PORT": str(web.container_port),
            **web.environment,
        }
        repository_uri_name = repository_name(app, env_config, Image.WEB)

        if web.runtime is WebRuntime.FARGATE:
            image = (
                ecs.ContainerImage.from_ecr_repository(
                    ecr.Repository.from_repository_name(self, "WebRepository", repository_uri_name),
                    tag=web.image_tag,
                )
                if web.image_tag
                else ecs.ContainerImage.from_registry(PLACEHOLDER_IMAGE)
            )
            domain = None
            if web.domain_name and web.hosted_zone_id and web.hosted_zone_name:
                domain = PublicDomain(
                    domain_name=web.domain_name,
                    hosted_zone=route53.HostedZone.from_hosted_zone_attributes(
                        self,
                        "Zone",
                        hosted_zone_id=web.hosted_zone_id,
                        zone_name=web.hosted_zone_name,
                    ),
                )
            fargate = FargateWebService(
                self,
                "Service",
                props=FargateWebServiceProps(
                    cluster_name=f"{prefix}-web",
                    vpc=network.vpc,
                    public_subnets=network.public_subnets,
                    app_subnets=network.app_subnets,
                    image=image,
                    command=None if web.image_tag else placeholder_command(web.container_port),
                    port=web.container_port,
                    health_path=web.health_path,
                    cpu=web.cpu,
                    memory_mib=web.memory_mib,
                    min_tasks=web.min_instances,
                    max_tasks=web.max_instances,
                    spot=web.spot,
                    cpu_architecture=web.cpu_architecture,
                    allowed_ingress_cidrs=web.allowed_ingress_cidrs,
                    log_retention=retention,
                    removal_policy=removal_policy,
                    deletion_protection=env_config.retain_data,
                    environment=environment,
                    secrets=secrets,
                    domain=domain,
                ),
            )
            self.url = fargate.url
            self.service_id = fargate.service.service_arn
            self.runtime_role = fargate.task_role
            protected_arn = fargate.load_balancer.load_balancer_arn
            self.fargate: FargateWebService | None = fargate
            self.app_runner: AppRunnerService | None = None
            if env_config.retain_data:
                self.rollback_guard.protect(
                    "LoadBalancer",
                    resource=cast(CfnResource, fargate.load_balancer.node.default_child),
                    kind=ProtectedKind.LOAD_BALANCER,
                    target=fargate.load_balancer.load_balancer_arn,
                    arn=fargate.load_balancer.load_balancer_arn,
                )
        else:
            stack = Stack.of(self)
            image_identifier = (
                f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}/"
                f"{repository_uri_name}:{web.image_tag}"
                if web.image_tag
                else PLACEHOLDER_IMAGE
            )
            runner = AppRunnerService(
                self,
                "Service",
                props=AppRunnerServiceProps(
                    service_name=f"{prefix}-web",
                    vpc=network.vpc,
                    subnets=network.app_subnets,
                    image_identifier=image_identifier,
                    image_repository=(
                        ecr.Repository.from_repository_name(
                            self, "WebRepository", repository_uri_name
                        )
                        if web.image_tag
                        else None
                    ),
                    start_command=(
                        None
                        if web.image_tag
                        else shlex.join(placeholder_command(web.container_port))
                    ),
                    port=web.container_port,
                    health_path=web.health_path,
                    cpu=web.cpu,
                    memory_mib=web.memory_mib,
                    min_instances=web.min_instances,
                    max_instances=web.max_instances,
                    environment=environment,
                    secrets=secrets,
                    log_retention=retention,
                    removal_policy=removal_policy,
                ),
            )
            self.url = runner.service_url
            self.service_id = runner.service_arn
            self.runtime_role = runner.instance_role
            protected_arn = runner.service_arn
            self.fargate = None
            self.app_runner = runner

        # The app itself may read its two secrets and keep sessions, nothing else.
        api_client_secret.grant_read(self.runtime_role)
        self.app_secret.grant_read(self.runtime_role)
        sessions.grant(self.runtime_role, *SESSION_ITEM_ACTIONS)

        self.web_acl: RegionalWebAcl | None = None
        if web.waf:
            self.web_acl = RegionalWebAcl(
                self,
                "WebAcl",
                name=f"{prefix}-web",
                log_retention=retention,
                removal_policy=removal_policy,
            )
            self.web_acl.associate("Association", protected_arn)

        self.canary = HealthCanary(
            self,
            "Canary",
            canary_name=f"{env_config.name}-web-health"[:21],
            url=self.url + canary_path(web.health_path, deep=canary_reaches_database(env_config)),
            interval=Duration.minutes(web.canary_interval_minutes),
            alarm_topic=self.alerts,
            artifact_retention=CANARY_ARTIFACT_RETENTION,
            removal_policy=removal_policy,
            log_retention=retention,
        )

        CfnOutput(self, "PublicUrl", value=self.url, description="The web service")
        CfnOutput(self, "ServiceId", value=self.service_id, description=f"{web.runtime} service")
        CfnOutput(
            self,
            "AppSecretArn",
            value=self.app_secret.secret_arn,
            description="Set the app's own keys here (put-secret-value); deploys never reset it",
        )

    def _app_secret(self, prefix: str) -> secretsmanager.Secret:
        """The app's own third-party keys: generated once with a placeholder, then owned by
        whoever runs the app. CloudFormation applies ``generate_secret_string`` only when it
        creates the secret, so later deploys never overwrite hand-entered values. Changing the
        generator settings below would replace it: don't."""
        secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=f"{prefix}/web/app",
            description="The web app's own keys (JSON); set with put-secret-value",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"EXAMPLE_API_KEY": "set-me"}),
                generate_string_key="created_marker",
                exclude_punctuation=True,
            ),
            removal_policy=self.removal_policy,
        )
        Validations.of(secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="Third-party keys are issued by their providers; the app's operators "
                "rotate them there and put the new values here.",
            )
        )
        return secret

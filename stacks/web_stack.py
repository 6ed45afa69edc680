"""Web tier of one environment: the public web runtime, its secrets, WAF and canary.

Which runtime serves the web tier (Fargate, App Runner, the static site) is config
(``web.runtime``): the factory builds it and this stack talks to it through ``WebRuntimeService``
and its class's ``RuntimeTraits`` only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import jsii
from aws_cdk import Duration, IStableStringProducer, Lazy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.container_secret import ContainerSecret, view_without_key
from cdk_constructs.health_canary import HealthCanary
from cdk_constructs.nag import NIST, acknowledge_all
from cdk_constructs.network import Network
from cdk_constructs.operator_access import InstanceShellHost, OperatorAccess, enable_shell
from cdk_constructs.options import ApiKind, Image
from cdk_constructs.sign_in import SCOPE_NAMES, BrowserClient
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.factory import build_web_runtime, web_runtime_traits
from cdk_constructs.web_runtime.image import RepositoryImage, WebImage, placeholder_image
from cdk_constructs.web_runtime.interface import (
    WebAclPlacement,
    WebReleasePlan,
    WebRuntimeProps,
    WebRuntimeService,
)
from release.contract import RELEASE_OUTPUT
from stacks.api_tier import ApiTier, SignIn, SiteApi
from stacks.config import AppConfig, EnvironmentConfig, canary_name, repository_name
from stacks.platform_stack import PlatformStack, Tier

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage

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


SITE_READY_SELECTOR = 'body[data-app-ready="true"]'
"""What the site's app sets once it has read its config and rendered: the canary waits for it."""


def site_config(client_id: str, sign_in_url: str) -> dict[str, str]:
    """The site's ``/config.json``: its client and the sign-in domain's OAuth endpoints (the
    redirect and logout URI are the site's own origin + ``/``)."""
    return {
        "apiBase": "/api",
        "clientId": client_id,
        "authorizeUrl": f"{sign_in_url}/oauth2/authorize",
        "tokenUrl": f"{sign_in_url}/oauth2/token",
        "logoutUrl": f"{sign_in_url}/logout",
        "scopes": SCOPE_NAMES,
    }


@jsii.implements(IStableStringProducer)
class _RuntimeUrl:
    """The web stack's runtime URL, read when the template is written."""

    def __init__(self, stack: WebStack) -> None:
        self.stack = stack

    def produce(self) -> str:
        return self.stack.runtime.url


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
    return env_config.web.image_tag is not None and not env_config.database.can_pause


def web_service_name(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """``<app>-<env>-web``: the runtime's service (or cluster) name; the deploy role of an App
    Runner environment is scoped to it."""
    return f"{app.app_name}-{env_config.name}-web"


class WebStack(PlatformStack):
    """Composes the web runtime with its secrets, WAF and canary (alarms live in the ops
    stack, next to the alerts topic). A runtime that runs no container (the static site) gets
    none of the container's inputs, but the browser's sign-in client and its runtime config."""

    TIER = Tier.WEB
    SUMMARY = "web tier"

    def __init__(
        self,
        stage: PlatformStage,
        *,
        network: Network,
        sessions: dynamodb.ITableV2,
        api: ApiTier,
        key: kms.IKey,
        operator_access: OperatorAccess | None = None,
    ) -> None:
        """``key``: the environment's key (the app secret, the canary's artifacts and, with
        ``security.encrypt_logs``, the log groups services create)."""
        traits = web_runtime_traits(stage.env_config.web.runtime)
        super().__init__(
            stage,
            cross_region_references=traits.needs_cross_region_references(stage.env_config.region),
        )
        app, env_config = self.app_config, self.env_config
        web = env_config.web
        name = web_service_name(app, env_config)
        health_canary = canary_name(env_config)
        log_key = key if env_config.security.encrypt_logs else None
        self.app_secret: secretsmanager.Secret | None = None
        self.browser_client: BrowserClient | None = None
        site_api: SiteApi | None = None
        sign_in_origins: tuple[str, ...] = ()
        if traits.runs_container:
            self.app_secret = self._app_secret(self.resource_prefix, key)
            secrets = self._container_secrets(api, self.app_secret, key)
            environment = {
                "SESSION_TABLE": sessions.table_name,
                "HEALTH_PATH": web.health_path,
                "PORT": str(web.container_port),
                **web.environment,
            }
        else:
            sign_in = self._sign_in(api)
            self.browser_client = BrowserClient(
                self,
                "BrowserClient",
                user_pool=sign_in.user_pool,
                # The runtime's URL exists once it is built, and it is built from the client's
                # id (its config.json): the client reads the URL at synth.
                site_url=Lazy.string(_RuntimeUrl(self)),
                settings=env_config.api.sign_in,
                clients_parameter=sign_in.clients_parameter,
            )
            secrets, environment = (
                [],
                site_config(self.browser_client.client.user_pool_client_id, sign_in.domain_url),
            )
            site_api, sign_in_origins = api.site_api, (sign_in.domain_url,)
        image: WebImage = (
            RepositoryImage(
                ecr.Repository.from_repository_name(
                    self, "WebRepository", repository_name(app, env_config, Image.WEB)
                ),
                web.image_tag,
            )
            if web.image_tag
            else placeholder_image(web.container_port)
        )
        self.runtime: WebRuntimeService = build_web_runtime(
            self,
            "Service",
            props=WebRuntimeProps(
                name=name,
                vpc=network.vpc,
                public_subnets=network.public_subnets,
                app_subnets=network.app_subnets,
                image=image,
                port=web.container_port,
                health_path=web.health_path,
                cpu=web.cpu,
                memory_mib=web.memory_mib,
                min_instances=web.min_instances,
                max_instances=web.max_instances,
                environment=environment,
                secrets=secrets,
                log_retention=self.log_retention,
                log_key=log_key,
                removal_policy=self.removal_policy,
                deletion_protection=env_config.retain_data,
                # The runtime's release alarms read the canary by name: it is built below.
                release=WebReleasePlan(web.release, env_config.alarms),
                canary_name=health_canary,
                site_api=site_api,
                sign_in_origins=sign_in_origins,
            ),
            settings=web,
        )
        for protected in self.runtime.deletion_protected:
            self.rollback_guard.protect(protected)

        runtime_role = self.runtime.runtime_role
        if secrets and runtime_role is not None:
            # The app itself may read its two secrets and keep sessions, nothing else.
            for secret in (secrets[0], secrets[-1]):  # the client's fields are one secret
                secret.grant_read(runtime_role)
            sessions.grant(runtime_role, *SESSION_ITEM_ACTIONS)

        access = env_config.operator_access
        if operator_access is not None and (
            access.container_shell or isinstance(self.runtime, InstanceShellHost)
        ):
            # Operators' shells (cdk_constructs/operator_access.py): ECS Exec into the Fargate
            # web container, or Session Manager sessions on the EC2 runtime's instances.
            enable_shell(self.runtime, key=key, log_group=operator_access.log_group)

        self.web_acl: RegionalWebAcl | None = None
        if web.waf and traits.web_acl is WebAclPlacement.STACK:
            self.web_acl = RegionalWebAcl(
                self,
                "WebAcl",
                name=name,
                log_retention=self.log_retention,
                removal_policy=self.removal_policy,
            )
            self.runtime.associate_web_acl(self.web_acl)

        self.canary = HealthCanary(
            self,
            "Canary",
            canary_name=health_canary,
            url=self.runtime.url
            + (
                canary_path(web.health_path, deep=canary_reaches_database(env_config))
                if traits.runs_container
                else "/"
            ),
            interval=Duration.minutes(web.canary_interval_minutes),
            artifact_retention=CANARY_ARTIFACT_RETENTION,
            removal_policy=self.removal_policy,
            log_retention=self.log_retention,
            artifacts_key=key,
            log_key=log_key,
            rendered_selector=None if traits.runs_container else SITE_READY_SELECTOR,
        )
        # The canary starts once the service is up: a run against a load balancer with no
        # healthy target yet would set off the release's canary alarm and fail the service's
        # very first deployment (its alarms roll back; on a create there is nothing to return to).
        self.canary.canary.node.add_dependency(self.runtime)

        rollout = "How the deploy workflow rolls a new image out"
        app_keys = "Set the app's own keys here (put-secret-value); deploys never reset it"
        release = "How a web release takes traffic and what rolls it back (release/contract.py)"
        self.add_outputs(
            ("PublicUrl", self.runtime.url, "The web service"),
            ("ServiceId", self.runtime.service_id, f"{web.runtime} service"),
            ("Rollout", self.runtime.rollout.value, rollout),
            (RELEASE_OUTPUT, self.runtime.release.to_json(), release),
        )
        if self.app_secret is not None:
            self.add_outputs(("AppSecretArn", self.app_secret.secret_arn, app_keys))
        if self.browser_client is not None:
            self.add_outputs(
                (
                    "BrowserClientId",
                    self.browser_client.client.user_pool_client_id,
                    "The site's sign-in app client",
                ),
                ("SignInUrl", environment["authorizeUrl"], "Managed login (authorize endpoint)"),
            )

    def _container_secrets(
        self, api: ApiTier, app_secret: secretsmanager.ISecret, key: kms.IKey
    ) -> list[ContainerSecret]:
        """The API client's fields and the app's own secret, read through views without the
        key, which lives in the network stack (ContainerSecret)."""
        if api.web_client_secret is None:
            raise ValueError(
                f"web.runtime {self.env_config.web.runtime} calls the private API: it needs "
                f"api.kind {ApiKind.PRIVATE_LAMBDA}"
            )
        api_client = view_without_key(self, "ApiClientSecretView", api.web_client_secret)
        app_view = view_without_key(self, "AppSecretView", app_secret)
        secrets = [
            ContainerSecret(name=variable, secret=api_client, field=json_field, key=key)
            for variable, json_field in API_CLIENT_FIELDS.items()
        ]
        secrets.append(ContainerSecret(name=APP_SECRETS_VARIABLE, secret=app_view, key=key))
        return secrets

    def _sign_in(self, api: ApiTier) -> SignIn:
        if api.sign_in is None or api.site_api is None:
            raise ValueError(
                f"web.runtime {self.env_config.web.runtime} signs users in and routes /api to "
                f"the public API: it needs api.kind {ApiKind.PUBLIC_SERVICES}"
            )
        return api.sign_in

    def summary(self) -> str:
        return f"{self.SUMMARY} ({self.env_config.web.runtime})"

    def _app_secret(self, prefix: str, key: kms.IKey) -> secretsmanager.Secret:
        """The app's own third-party keys: generated once with a placeholder, then owned by
        whoever runs the app. CloudFormation applies ``generate_secret_string`` only when it
        creates the secret, so later deploys never overwrite hand-entered values. Changing the
        generator settings below would replace it: don't."""
        secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=f"{prefix}/web/app",
            description="The web app's own keys (JSON); set with put-secret-value",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"EXAMPLE_API_KEY": "set-me"}),
                generate_string_key="created_marker",
                exclude_punctuation=True,
            ),
            removal_policy=self.removal_policy,
        )
        rotation = (
            "Third-party keys are issued by their providers; the app's operators rotate them "
            "there and put the new values here."
        )
        acknowledge_all(
            secret,
            [("AwsSolutions-SMG4", rotation), (f"{NIST}SecretsManagerRotationEnabled", rotation)],
        )
        return secret

"""The GitHub OIDC trust of one AWS account: deployed once from a laptop (``make bootstrap``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack, Stage, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.github_deploy_role import (
    GITHUB_OIDC_URL,
    STS_AUDIENCE,
    GitHubDeployRole,
    GitHubDeployRoleProps,
    ReleaseNames,
    release_permissions,
)
from cdk_constructs.options import ApiKind
from cdk_constructs.web_runtime.factory import web_runtime_type
from release.contract import watches_ecs
from release.record import TIERS, parameter_name
from stacks.config import (
    AppConfig,
    EnvironmentConfig,
    deploy_role_name,
    repository_name,
    runtime_spec,
    stack_name,
)
from stacks.config.names import service_repository_name
from stacks.delivery import oidc_stage_id
from stacks.web_stack import web_service_name


class GitHubOidcStack(Stack):
    """The account's GitHub OIDC provider (or the one it has) and a deploy role per environment
    of the account. Only GitHub jobs running in that environment may assume its role."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        app: AppConfig,
        environments: Sequence[EnvironmentConfig],
        bootstrap_qualifier: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        github = app.github
        account = environments[0].account
        existing = github.existing_oidc_providers.get(account)
        if existing is not None:
            self.provider_arn = existing
        else:
            # An account holds one provider per URL: kept when the stack goes, since other
            # stacks or people may have come to rely on it; deleted only when the create that
            # made it rolls back, so the retry does not find its URL taken.
            provider = iam.OidcProviderNative(
                self,
                "GitHubProvider",
                url=GITHUB_OIDC_URL,
                client_ids=[STS_AUDIENCE],
                removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            )
            self.provider_arn = provider.oidc_provider_arn

        self.deploy_roles: dict[str, iam.IRole] = {}
        for env in environments:
            props = self._deploy_role_props(app, env, bootstrap_qualifier)
            role = GitHubDeployRole(self, f"{env.name.capitalize()}DeployRole", props=props).role
            self.deploy_roles[env.name] = role
            CfnOutput(
                self,
                f"{env.name.capitalize()}DeployRoleArn",
                value=role.role_arn,
                description=f"Set as AWS_DEPLOY_ROLE_ARN in the GitHub environment '{env.name}'",
            )

    def _deploy_role_props(
        self, app: AppConfig, env: EnvironmentConfig, bootstrap_qualifier: str
    ) -> GitHubDeployRoleProps:
        """What ``env``'s deploy role may do: its workflow's environment, its repositories, its
        web runtime's own deploy calls, and reading and recording its releases."""
        github = app.github
        where = {"partition": self.partition, "region": env.region, "account": env.account}
        runtime_permissions = web_runtime_type(env.web.runtime).deploy_permissions(
            service_name=web_service_name(app, env), **where
        )
        releases = self._release_names(app, env)
        return GitHubDeployRoleProps(
            provider_arn=self.provider_arn,
            repository=github.repository,
            github_environment=env.name,
            account=env.account,
            region=env.region,
            bootstrap_qualifier=bootstrap_qualifier,
            role_name=deploy_role_name(app, env),
            max_session=Duration.hours(github.deploy_session_hours),
            push_repositories=[
                *(repository_name(app, env, image) for image in github.image_sources),
                # The public services API's microservices: each built from its `source`.
                *(service_repository_name(app, env, service.name) for service in env.api.services),
            ],
            extra_permissions=(*runtime_permissions, *release_permissions(releases, **where)),
        )

    @staticmethod
    def _release_names(app: AppConfig, env: EnvironmentConfig) -> ReleaseNames:
        """What ``python -m release`` reads and records for ``env`` (release/verify.py): the
        web stack always; the API only when a CodeDeploy group moves its function's alias
        (public microservices roll with ECS's circuit breaker, which fails the stack update);
        release alarms and records only for tiers that have them (a static site has neither)."""
        web_release = web_service_name(app, env)
        # The API stack names its CodeDeploy application, group and alarms so (ApiReleaseProps);
        # test_github_oidc checks these names against the stacks' Release outputs.
        api_release = f"{app.app_name}-{env.name}-api"
        api_read = env.api.kind is not ApiKind.PUBLIC_SERVICES
        web_recorded = runtime_spec(env.web.runtime).runs_container
        read_tiers = [tier for tier in TIERS if tier == "web" or api_read]
        recorded = {"web": web_recorded, "api": api_read}
        alarms = {"web": f"{web_release}-release-", "api": f"{api_release}-release-"}
        return ReleaseNames(
            stacks=tuple(stack_name(app, env, tier) for tier in read_tiers),
            ecs_cluster=web_release if watches_ecs(env.web.runtime) else None,
            deployment_groups=(f"{api_release}/{api_release}",) if api_read else (),
            function_prefix=f"{stack_name(app, env, 'api')}-" if api_read else None,
            alarm_prefixes=tuple(alarms[tier] for tier in TIERS if recorded[tier]),
            record_parameters=tuple(
                parameter_name(app.app_name, env.name, tier) for tier in TIERS if recorded[tier]
            ),
        )


class GitHubOidcStage(Stage):
    """Holds the OIDC stack of one account, in the region of its first environment."""

    def __init__(
        self,
        scope: Construct,
        *,
        app: AppConfig,
        account: str,
        environments: Sequence[EnvironmentConfig],
        bootstrap_qualifier: str,
    ) -> None:
        super().__init__(
            scope,
            oidc_stage_id(account),
            env=Environment(account=account, region=environments[0].region),
        )
        self.stack = GitHubOidcStack(
            self,
            "GitHubOidc",
            app=app,
            environments=environments,
            bootstrap_qualifier=bootstrap_qualifier,
            stack_name=f"{app.app_name}-github-oidc",
            description=f"{app.app_name}: GitHub Actions OIDC deploy roles of account {account}",
            termination_protection=True,
            analytics_reporting=False,
        )
        Tags.of(self).add("app", app.app_name)

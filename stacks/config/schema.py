"""An environment and the whole app: the fields, the rules across sections and environments,
and what the rest of the code asks of them (environment by name, by branch, by account)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field, replace
from typing import Annotated, Any, Self

from pydantic import Field, ValidatorFunctionWrapHandler, field_validator, model_validator

from cdk_constructs.options import Image, WebRuntime
from stacks.config import sections
from stacks.config.constraints import refuse
from stacks.config.errors import ConfigError
from stacks.config.model import check_sections, reported
from stacks.config.regions import REGION, check_zones
from stacks.config.rules import ACCOUNT, BRANCH, EMAIL, LOG_RETENTION, NAME
from stacks.config.runtimes import edge_region, runtime_spec

SERVICES_IMAGE = "services"
"""The context key ``services_image_tag``: one tag for every microservice's image."""
_OIDC_PROVIDER = re.compile(
    r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/token\.actions\.githubusercontent\.com$"
)


@reported(env_field="name")
class EnvironmentConfig:
    """One deployment of the platform (dev, staging, prod, ...)."""

    name: Annotated[str, NAME]
    """Environment name: the stage id, ``-c env=NAME``, ``ENV=NAME``; prefixes stack and
    resource names."""
    account: Annotated[str, ACCOUNT]
    """AWS account id. One digit repeated (111111111111) marks a placeholder that ``make
    deploy`` and the deploy workflow refuse (``python -m stacks.config deployable ENV``, which
    also refuses the other shipped placeholders: ``github.repository``, an ``alert_email``,
    ``web.domain_name`` or hosted zone under an RFC 2606 example name such as example.com, a
    zone id containing ``EXAMPLE``)."""
    region: Annotated[str, REGION]
    """AWS region, checked offline."""
    availability_zones: tuple[str, ...]
    """Exactly two AZ names of the region, with letters the region has
    (``AZ_LETTERS_PER_REGION``); explicit so synth never looks them up."""
    branch: Annotated[str, BRANCH]
    """The git branch whose pushes deploy this environment (a branch deploys one environment)."""
    alert_email: Annotated[str, EMAIL]
    """Where alarms go; an address at an example domain (RFC 2606) is a placeholder that ``make
    deploy`` refuses."""
    log_retention_days: Annotated[int, LOG_RETENTION]
    """Retention of every log group the environment creates."""
    retain_data: bool
    """Retain and deletion-protect stateful resources (the environment key and the flow logs, ECR
    repositories, the database with deletion protection, snapshot on delete and 30-day secret
    rotation, its key, secret and log groups, the session table) and turn on stack termination
    protection; False lets the stacks delete them."""
    network: sections.NetworkConfig
    """The VPC section (fields below)."""
    database: sections.DatabaseConfig = field(default_factory=sections.DatabaseConfig)
    """The Aurora section (fields below)."""
    api: sections.ApiConfig = field(default_factory=sections.ApiConfig)
    """The API section (fields below)."""
    web: sections.WebConfig = field(default_factory=sections.WebConfig)
    """The web section (fields below)."""
    registry: sections.RegistryConfig = field(default_factory=sections.RegistryConfig)
    """The ECR section (fields below)."""
    alarms: sections.AlarmThresholds = field(default_factory=sections.AlarmThresholds)
    """The alarm thresholds (fields below)."""
    backup: sections.BackupConfig = field(default_factory=sections.BackupConfig)
    """The AWS Backup section (fields below)."""
    security: sections.SecurityConfig = field(default_factory=sections.SecurityConfig)
    """The encryption and compliance section (fields below)."""
    operator_access: sections.OperatorAccessConfig = field(
        default_factory=sections.OperatorAccessConfig
    )
    """The operator access section (fields below)."""

    @field_validator(
        "network",
        "database",
        "api",
        "web",
        "registry",
        "alarms",
        "backup",
        "security",
        "operator_access",
        mode="wrap",
    )
    @classmethod
    def _sections(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_sections(value, handler)

    @model_validator(mode="after")
    def _environment_rules(self) -> Self:
        check_zones(self.region, self.availability_zones)
        if self.backup.enabled and not self.retain_data:
            raise refuse(
                "a backup vault holding recovery points cannot be deleted with its stack",
                "enabled=True with retain_data=True, or enabled=False/None",
                field="backup.enabled",
            )
        database = self.database.spec
        if self.backup.restore_test and not database.serverless:
            raise refuse(
                f"restore tests are built for Aurora clusters; {database.label} is a DB instance "
                "(its backups and snapshots still run)",
                "restore_test=False or None (unset) with an instance engine",
                field="backup.restore_test",
            )
        self._check_operator_access()
        web = self.web
        spec = runtime_spec(web.runtime)
        if spec.regions is not None and self.region not in spec.regions:
            raise refuse(
                f"{spec.label} is not offered in {self.region} (its CloudFront VPC origin is not)",
                ", ".join(sorted(spec.regions)),
                field="region",
            )
        if self.api.kind is not spec.api_kind:
            raise refuse(
                f"{spec.label} goes with the {spec.api_kind} API (a container calls the private "
                "API in the VPC; the static site's browser calls the public one on its origin)",
                f"api.kind {spec.api_kind} with web.runtime {web.runtime}",
                field="api.kind",
            )
        plain_http = web.domain_name is None and not spec.https_without_domain
        if plain_http and self.retain_data and not web.allow_plain_http:
            raise refuse(
                "a production environment (retain_data) needs a domain for HTTPS",
                "a domain_name with its hosted zone, or allow_plain_http=True",
                field="web.domain_name",
            )
        return self

    def _check_operator_access(self) -> None:
        """A container shell is ECS Exec into the Fargate runtime's web container, and it logs
        to the access tier's session log group."""
        access = self.operator_access
        if not access.container_shell:
            return
        if not access.enabled:
            raise refuse(
                "a container shell logs to the operator access session log group",
                "container_shell=True with enabled=True",
                field="operator_access.container_shell",
            )
        if not runtime_spec(self.web.runtime).container_shell:
            shells = ", ".join(r for r in WebRuntime if runtime_spec(r).container_shell)
            raise refuse(
                f"ECS Exec cannot open a shell in {self.web.runtime}'s web container",
                f"container_shell=True with web.runtime {shells}",
                field="operator_access.container_shell",
            )

    @property
    def edge_region(self) -> str | None:
        """us-east-1 when the web tier needs an edge stack there (``runtimes.edge_region``)."""
        web = self.web
        return edge_region(
            self.region, web.runtime, domain=web.domain_name is not None, waf=web.waf
        )

    @property
    def is_placeholder_account(self) -> bool:
        """True while ``account`` is a placeholder (one digit repeated), not a real account."""
        return len(set(self.account)) == 1


@reported()
class AppConfig:
    """The whole app: its name, its environments and its delivery pipeline."""

    app_name: Annotated[str, NAME]
    """Short lowercase name; prefixes stack names, the flow log group and ECR repositories in
    every environment."""
    environments: Annotated[tuple[EnvironmentConfig, ...], Field(min_length=1)]
    """The environments (names and branches unique)."""
    github: sections.GitHubConfig
    """The delivery section (fields below)."""

    @field_validator("github", mode="wrap")
    @classmethod
    def _sections(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_sections(value, handler)

    @model_validator(mode="after")
    def _app_rules(self) -> Self:
        names: set[str] = set()
        branch_owner: dict[str, str] = {}
        for env in self.environments:
            if env.name in names:
                raise refuse(
                    "defined twice", "one definition per environment", field="name", env=env.name
                )
            names.add(env.name)
            if env.branch in branch_owner:
                raise refuse(
                    f"'{env.branch}' already deploys environment '{branch_owner[env.branch]}'",
                    "one environment per branch",
                    field="branch",
                    env=env.name,
                )
            branch_owner[env.branch] = env.name
        accounts = self.accounts()
        for account, arn in self.github.existing_oidc_providers.items():
            match = _OIDC_PROVIDER.match(arn)
            if account not in accounts or match is None or match.group(1) != account:
                raise refuse(
                    f"{arn!r} is not the GitHub OIDC provider of a configured account",
                    "arn:aws:iam::<that account>:oidc-provider/token.actions.githubusercontent"
                    f".com, for an account in {sorted(accounts)}",
                    field=f"github.existing_oidc_providers[{account!r}]",
                )
        return self

    @property
    def environment_names(self) -> tuple[str, ...]:
        return tuple(env.name for env in self.environments)

    def environment(self, name: str) -> EnvironmentConfig:
        """The environment called ``name``, or a ConfigError listing the known ones."""
        for env in self.environments:
            if env.name == name:
                return env
        raise ConfigError(
            name,
            "env (-c env=...)",
            "not a configured environment",
            ", ".join(self.environment_names),
        )

    def select(self, requested: str | None) -> tuple[EnvironmentConfig, ...]:
        """All environments, or only the one named by ``-c env=NAME``."""
        if requested is None:
            return self.environments
        return (self.environment(requested),)

    def environment_for_branch(self, branch: str) -> EnvironmentConfig | None:
        """The environment that pushes to ``branch`` deploy, if any."""
        return next((env for env in self.environments if env.branch == branch), None)

    def accounts(self) -> dict[str, tuple[EnvironmentConfig, ...]]:
        """Account id -> its environments, in config order (one OIDC stack per account)."""
        by_account: dict[str, list[EnvironmentConfig]] = {}
        for env in self.environments:
            by_account.setdefault(env.account, []).append(env)
        return {account: tuple(envs) for account, envs in by_account.items()}

    def with_image_tags(
        self,
        env_name: str | None,
        tags: Mapping[Image, str | None],
        *,
        services_tag: str | None = None,
    ) -> AppConfig:
        """This config with the image tags the deploy workflow passes as context, which
        override config for the one environment being deployed (``-c env=NAME``):
        ``tags`` per image, ``services_tag`` for every microservice of ``api.services`` (the
        workflow builds them all from one commit)."""
        given: dict[str, str] = {str(image): tag for image, tag in tags.items() if tag}
        if services_tag:
            given[SERVICES_IMAGE] = services_tag
        if not given:
            return self
        if env_name is None:
            image = next(iter(given))
            raise ConfigError(
                "*",
                f"{image}_image_tag (-c {image}_image_tag=...)",
                "an image tag needs the environment it is for",
                "together with -c env=NAME",
            )
        env = self.environment(env_name)
        if Image.WEB in given:
            env = replace(env, web=replace(env.web, image_tag=given[Image.WEB]))
        if Image.API in given:
            env = replace(env, api=replace(env.api, image_tag=given[Image.API]))
        if SERVICES_IMAGE in given:
            services = tuple(
                replace(service, image_tag=given[SERVICES_IMAGE]) for service in env.api.services
            )
            env = replace(env, api=replace(env.api, services=services))
        return replace(
            self, environments=tuple(env if e.name == env_name else e for e in self.environments)
        )


def validate_app_config(config: AppConfig) -> None:
    """Raise ConfigError on the first value that is not allowed.

    A config is validated when it is built, so this checks it again by building it anew, its
    environments too: entry points call it before they use a config, and what a rule reads
    besides the config (botocore's regions) may have changed since it was built."""
    replace(config, environments=tuple(replace(env) for env in config.environments))

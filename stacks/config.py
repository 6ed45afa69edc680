"""Typed configuration of every environment, validated when the app starts.

This module is the one place to change what gets deployed where. It imports no CDK code, so
checking it is instant (``python -m stacks.config check``). A bad value stops the app with one
line naming the environment, the field and what is allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum
from pathlib import PurePosixPath
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from cdk_constructs.options import (
    APP_RUNNER_CPU_MEMORY,
    FARGATE_CPU_MEMORY,
    LOG_RETENTION_DAYS,
    AlarmThresholds,
    CpuArchitecture,
    Image,
    InterfaceEndpoint,
    NatMode,
    WebRuntime,
)

SUBNETS_PER_VPC = 6
"""2 AZs x (public, app, db)."""

LARGEST_VPC_PREFIX = 21
"""A /21 is the smallest VPC that holds six /24 subnets (a /22 holds only four)."""

SMALLEST_VPC_PREFIX = 16
"""AWS does not allow a VPC CIDR larger than a /16."""

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BRANCH_RE = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]+(?<!/)(?<!\.lock)$")


class ConfigError(ValueError):
    """A configuration value is not allowed; ``str()`` is the one line shown to the user."""

    def __init__(self, env: str, field_name: str, problem: str, allowed: str) -> None:
        self.env = env
        self.field_name = field_name
        super().__init__(
            f"config error: environment '{env}', field '{field_name}': {problem}; "
            f"allowed: {allowed}"
        )


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC of one environment."""

    vpc_cidr: str
    """IPv4 CIDR of the VPC, /16 to /21; each of the six subnets gets an eighth of it."""
    nat_mode: NatMode
    """How app subnets reach the internet (see ``NatMode``)."""
    interface_endpoints: tuple[InterfaceEndpoint, ...] = ()
    """Interface endpoints to create in the app subnets; the Network always adds ``execute-api``."""

    def __post_init__(self) -> None:
        _coerce_enum_fields(self)


@dataclass(frozen=True)
class RegistryConfig:
    """The ECR repositories (``api`` and ``web``) of one environment."""

    keep_tagged_images: int = 20
    """How many tagged images each repository keeps (older ones expire); 1..1000."""


@dataclass(frozen=True)
class DatabaseConfig:
    """The Aurora PostgreSQL Serverless v2 cluster of one environment and its RDS Proxy."""

    engine_version: str = "16.13"
    """Aurora PostgreSQL version: 16.3+ or 17.4+, the minors that can scale to 0 ACU."""
    min_capacity: float = 0.5
    """Minimum ACUs per instance, 0..256 in steps of 0.5; 0 lets the cluster pause when idle."""
    max_capacity: float = 4
    """Maximum ACUs per instance, 1..256 in steps of 0.5, at least ``min_capacity``."""
    auto_pause_minutes: int = 10
    """Idle minutes before a 0-ACU cluster pauses, 5..1440; used only when ``min_capacity`` is 0."""
    readers: int = 0
    """0 or 1 reader, in the second AZ, in the promotion tier that scales and fails over with the
    writer."""
    proxy: bool = True
    """Put RDS Proxy in front of the cluster (pooling, faster failover). Not with 0 ACU."""
    backup_retention_days: int = 7
    """Days of automated backups (point-in-time restore), 1..35."""


@dataclass(frozen=True)
class ApiConfig:
    """The API function and the private REST API in front of it."""

    image_tag: str | None = None
    """Run this tag of the environment's ECR ``api`` image instead of the zip (None: the zip, so
    the first deploy needs no image)."""
    memory_mb: int = 512
    """Function memory, 128..10240 MB (CPU grows with it)."""
    timeout_seconds: int = 10
    """Function timeout, 1..29 s (API Gateway gives up on an integration after 29 s)."""
    reserved_concurrency: int | None = None
    """Cap and reserve this many concurrent executions (1..1000), or None for the shared pool.
    Lambda keeps 100 executions of the account unreserved, and new accounts start with a low
    concurrency quota (10 has been seen), so a reservation deploys only on an account whose
    quota is at least the reservation + 100: check with ``make preflight``, which reads the real
    quota. None everywhere as shipped."""
    throttle_rate_limit: int = 50
    """Stage-wide steady requests per second, 1..10000."""
    throttle_burst_limit: int = 100
    """Stage-wide burst, 1..5000, at least the rate limit."""


@dataclass(frozen=True)
class WebConfig:
    """The public web service, its edge (ALB or App Runner, WAF, domain) and its canary."""

    runtime: WebRuntime = WebRuntime.FARGATE
    """``fargate`` (ECS Fargate + ALB) or ``app_runner`` (existing App Runner customers only)."""
    image_tag: str | None = None
    """Run this tag of the env's ECR ``web`` image; None runs a public placeholder that answers
    200 on every path, so the first deploy needs no image."""
    container_port: int = 8080
    health_path: str = "/healthz"
    cpu: int = 256
    """CPU units (1024 = 1 vCPU); with ``memory_mib`` a pair the runtime offers."""
    memory_mib: int = 512
    min_instances: int = 1
    max_instances: int = 2
    spot: bool = False
    """Run Fargate tasks on Fargate Spot (dev: ~70% cheaper, may be interrupted)."""
    environment: dict[str, str] = field(default_factory=dict)
    """Plain environment variables of the container (never secrets)."""
    domain_name: str | None = None
    """Public name of the service, e.g. ``www.example.com``; needs the hosted zone below."""
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    allowed_ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the ALB on 80/443."""
    waf: bool = False
    """Put a WAF web ACL (managed rule groups + rate limit) in front."""
    allow_plain_http: bool = False
    """Let a production environment serve plain HTTP when it has no domain (no TLS)."""
    canary_interval_minutes: int = 60
    """How often the canary checks the health path, 1..60 minutes."""

    def __post_init__(self) -> None:
        _coerce_enum_fields(self)

    @property
    def cpu_architecture(self) -> CpuArchitecture:
        """The CPU the web service runs on; the one place that decides it. ARM64 (Graviton) on
        Fargate; X86_64 on Fargate Spot, which runs no ARM64 task, and on App Runner, which runs
        x86_64 only. The Fargate task definition and the deploy workflow's image build use it.

        https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html:
        "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity
        provider. Fargate Spot only supports Linux tasks with the X86_64 architecture."
        """
        if self.spot or self.runtime is not WebRuntime.FARGATE:
            return CpuArchitecture.X86_64
        return CpuArchitecture.ARM64


@dataclass(frozen=True)
class EnvironmentConfig:
    """One deployment of the platform (dev, staging, prod, ...)."""

    name: str
    """Short lowercase name; prefixes stack and resource names (``[a-z][a-z0-9-]{0,19}``)."""
    account: str
    """12-digit AWS account id. One digit repeated (111111111111) marks a placeholder."""
    region: str
    """AWS region, e.g. ``us-east-1``."""
    availability_zones: tuple[str, ...]
    """Exactly two AZ names in the region; explicit so synth never looks them up."""
    branch: str
    """The git branch whose pushes deploy this environment (one branch per environment)."""
    alert_email: str
    """Where alarms are sent."""
    log_retention_days: int
    """Retention of every log group the environment creates (a CloudWatch Logs value)."""
    retain_data: bool
    """Keep and deletion-protect stateful resources (production); False lets dev be destroyed."""
    network: NetworkConfig
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    web: WebConfig = field(default_factory=WebConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)

    @property
    def is_placeholder_account(self) -> bool:
        """True while ``account`` is a placeholder (one digit repeated), not a real account."""
        return len(set(self.account)) == 1


@dataclass(frozen=True)
class GitHubConfig:
    """Where the deploy workflow runs and what it builds (the delivery pipeline)."""

    repository: str
    """``OWNER/REPO``: only this repository's workflows may assume the deploy roles."""
    existing_oidc_providers: Mapping[str, str] = field(default_factory=dict)
    """Account id -> ARN of a GitHub OIDC provider that account already has (an account holds
    one per URL); accounts not listed get one from the OIDC stack."""
    image_sources: Mapping[Image, str] = field(default_factory=dict)
    """Image -> folder (with a Dockerfile) the deploy workflow builds and pushes to the env's
    repository when it exists; an image without a source is deployed from config's
    ``image_tag`` (the API then runs from its zip)."""
    deploy_session_hours: int = 3
    """Maximum session of the deploy roles, 1..12: a first deploy (Aurora, proxy) takes long."""

    def __post_init__(self) -> None:
        _coerce_enum_fields(self)


@dataclass(frozen=True)
class AppConfig:
    """The whole app: its name and its environments."""

    app_name: str
    """Short lowercase name; prefixes stack and resource names in every environment."""
    environments: tuple[EnvironmentConfig, ...]
    github: GitHubConfig

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

    def with_image_tags(self, env_name: str | None, tags: Mapping[Image, str | None]) -> AppConfig:
        """This config with the image tags the deploy workflow passes as context, which
        override config for the one environment being deployed (``-c env=NAME``)."""
        given = {image: tag for image, tag in tags.items() if tag}
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
        return replace(
            self,
            environments=tuple(env if e.name == env_name else e for e in self.environments),
        )


def stack_name(app: AppConfig, env_config: EnvironmentConfig, tier: str) -> str:
    """CloudFormation name of one tier's stack (``network``, ``data``, ``api``, ``web``)."""
    return f"{app.app_name}-{env_config.name}-{tier}"


def cognito_domain_prefix(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """The Cognito hosted domain prefix of an environment: unique across all AWS accounts of
    the region, so it carries the account id (``make preflight`` checks it is free)."""
    return f"{app.app_name}-{env_config.name}-{env_config.account}"


def deploy_role_name(app: AppConfig, env_config: EnvironmentConfig) -> str:
    """The GitHub deploy role of an environment (in the OIDC stack of its account)."""
    return f"{app.app_name}-{env_config.name}-github-deploy"


def repository_name(app: AppConfig, env_config: EnvironmentConfig, image: Image | str) -> str:
    """ECR repository of an image; fixed because the deploy workflow pushes to it and other
    stacks refer to it by name."""
    return f"{app.app_name}/{env_config.name}/{image}"


# --- Types: every field of every config dataclass has its annotated type ----------------------

_TYPE_NAMES: Mapping[Any, str] = {
    type(None): "None",
    bool: "a boolean (True or False)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config dataclass (``from __future__`` leaves strings)."""
    if cls not in _FIELD_TYPES:
        _FIELD_TYPES[cls] = get_type_hints(cls)
    return _FIELD_TYPES[cls]


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def _article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _a_type(value: object) -> str:
    """The type of a value as a message says it: 'a str', 'an int', 'no value'."""
    return "no value" if value is None else _article(type(value).__name__)


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _expected(annotation: Any) -> str:
    """An annotation as a message says it: 'an integer', 'a tuple, each item a string'."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return " or ".join(_expected(arm) for arm in args)
    if _is_enum(annotation):
        values = ", ".join(str(member.value) for member in annotation)
        return f"{_article(annotation.__name__)} ({values})"
    if origin is tuple:
        return f"a tuple, each item {_expected(args[0])}"
    if origin in (dict, Mapping):
        return f"a dict of {_expected(args[0])} to {_expected(args[1])}"
    if annotation in _TYPE_NAMES:
        return _TYPE_NAMES[annotation]
    return _article(getattr(annotation, "__name__", str(annotation)))


def _mismatch(value: object, annotation: Any, *, final: bool) -> tuple[object, Any] | None:
    """The part of ``value`` (itself or an item) that is not of type ``annotation``, with the
    type it should have; None when it has it. Before the value checks (``final`` False) numbers
    are left to them, and an enum field takes any string: a plain string that names a member
    was made that member (``_coerce_enum_fields``), the field's own check refuses the rest and
    names the allowed values."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        arms = [_mismatch(value, arm, final=final) for arm in args]
        return None if None in arms else (value, annotation)
    if origin is tuple:
        if not isinstance(value, tuple):
            return value, annotation
        return next(
            (found for item in value if (found := _mismatch(item, args[0], final=final))), None
        )
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return value, annotation
        return next(
            (
                found
                for key, item in value.items()
                if (
                    found := _mismatch(key, args[0], final=final)
                    or _mismatch(item, args[1], final=final)
                )
            ),
            None,
        )
    if annotation in (int, float):
        if not final:
            return None
        kinds: tuple[type, ...] = (int,) if annotation is int else (int, float)
        matches = isinstance(value, kinds) and not isinstance(value, bool)
    elif _is_enum(annotation):
        matches = isinstance(value, annotation) or (not final and isinstance(value, str))
    elif annotation is type(None):
        matches = value is None
    else:
        matches = isinstance(value, annotation)
    return None if matches else (value, annotation)


def _check_fields(env_name: str, prefix: str, section: object, *, final: bool) -> None:
    for name, annotation in _field_types(type(section)).items():
        value = getattr(section, name)
        found = _mismatch(value, annotation, final=final)
        if found is not None:
            wrong, expected = found
            problem = f"{_short_repr(wrong)} is {_a_type(wrong)}"
            if wrong is not value:
                problem = f"item {problem}, not {_expected(expected)}"
            raise ConfigError(env_name, f"{prefix}{name}", problem, _expected(annotation))
        if is_dataclass(annotation):
            _check_fields(env_name, f"{prefix}{name}.", value, final=final)


def _check_types(config: AppConfig, *, final: bool) -> None:
    """ConfigError on the first field whose value is not of its annotated type."""
    _check_fields("*", "", config, final=final)
    for env in config.environments:
        _check_fields(
            env.name if isinstance(env.name, str) else repr(env.name), "", env, final=final
        )


def _coerce_enum_fields(section: object) -> None:
    """Make an enum value given as a plain string ("fargate") the enum's member
    (``WebRuntime.FARGATE``), in a field, a tuple's items or a dict's keys and values, so code
    comparing members sees it; any other value stays as given, for validation to refuse."""
    for name, annotation in _field_types(type(section)).items():
        value = getattr(section, name)
        coerced = _as_enum(value, annotation)
        if coerced is not value:
            object.__setattr__(section, name, coerced)  # frozen: this is its own __post_init__


def _as_enum(value: Any, annotation: Any) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if _is_enum(annotation):
        known = isinstance(value, str) and value in {str(m.value) for m in annotation}
        return annotation(value) if known and not isinstance(value, annotation) else value
    if origin is tuple and isinstance(value, tuple):
        items = tuple(_as_enum(item, args[0]) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        pairs = [(_as_enum(k, args[0]), _as_enum(v, args[1])) for k, v in value.items()]
        changed = any(
            new_key is not key or new_item is not item
            for (new_key, new_item), (key, item) in zip(pairs, value.items(), strict=True)
        )
        return dict(pairs) if changed else value
    return value


# --- Regions and Availability Zones --------------------------------------------------------------

AZ_LETTERS_PER_REGION: Mapping[str, int] = {
    # North America
    "us-east-1": 6,
    "us-east-2": 3,
    "us-west-1": 3,
    "us-west-2": 4,
    "ca-central-1": 4,  # cac1-az1, -az2, -az4: zones a, b, d
    "ca-west-1": 3,
    "mx-central-1": 3,
    # Africa
    "af-south-1": 3,
    # Asia Pacific
    "ap-east-1": 3,
    "ap-east-2": 3,
    "ap-northeast-1": 4,
    "ap-northeast-2": 4,
    "ap-northeast-3": 3,
    "ap-south-1": 3,
    "ap-south-2": 3,
    "ap-southeast-1": 3,
    "ap-southeast-2": 3,
    "ap-southeast-3": 3,
    "ap-southeast-4": 3,
    "ap-southeast-5": 3,
    "ap-southeast-6": 3,
    "ap-southeast-7": 3,
    # Europe
    "eu-central-1": 3,
    "eu-central-2": 3,
    "eu-north-1": 3,
    "eu-south-1": 3,
    "eu-south-2": 3,
    "eu-west-1": 3,
    "eu-west-2": 4,
    "eu-west-3": 3,
    # Middle East
    "il-central-1": 3,
    "me-central-1": 3,
    "me-south-1": 3,
    # South America
    "sa-east-1": 3,
}
"""Region -> how many zone letters it has: its zones are ``<region>a``, ``<region>b``, ... up to
that many. From the AWS "Availability Zones" tables of the commercial partition
(https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html,
"The code for an Availability Zone is its Region code followed by a letter identifier."): the
highest AZ ID number listed for the region, as a zone's letter follows its AZ ID and IDs can
skip a number (ca-central-1 lists cac1-az1, cac1-az2 and cac1-az4, zones a, b and d). botocore
ships regions but no zones, hence this table; a region missing here is refused until added.
Which of these zones an account sees still varies (older accounts, constrained zones)."""


@functools.cache
def aws_regions() -> frozenset[str] | None:
    """Every region of every AWS partition, from the endpoints data botocore ships (offline), or
    None where botocore is not installed: the workflows' first steps run ``stacks.delivery`` on a
    bare Python before installing anything, and get the region's format checked only (``make
    test`` and ``make synth`` check it fully, in the same job, before the deploy)."""
    try:
        from botocore.loaders import create_loader
    except ImportError:
        return None
    endpoints = create_loader().load_data("endpoints")
    return frozenset(
        region for partition in endpoints["partitions"] for region in partition["regions"]
    )


def _validate_region(env: EnvironmentConfig) -> None:
    regions = aws_regions()
    if regions is None:
        if not _REGION_RE.match(env.region):
            raise ConfigError(
                env.name,
                "region",
                f"'{env.region}' is not a region name",
                "e.g. us-east-1, eu-west-1",
            )
        return
    if env.region not in regions:
        raise ConfigError(
            env.name,
            "region",
            f"'{env.region}' is not a region of any AWS partition (botocore's endpoints data)",
            ", ".join(sorted(regions)),
        )


# --- Placeholders: shipped values that `deployable` refuses ------------------------------------

RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
"""RFC 2606, section 3: second-level domain names reserved for examples in documentation."""
RESERVED_TOP_LEVEL_DOMAINS = ("example", "test", "invalid", "localhost")
"""RFC 2606, section 2: reserved top-level names; ``.example`` is for documentation."""
PLACEHOLDER_ID_MARK = "EXAMPLE"
"""What a shipped placeholder id carries, as AWS's own examples do (``Z0123456789EXAMPLE0``)."""
PLACEHOLDER_GITHUB_OWNERS = ("example-org",)
"""The owner of the shipped ``github.repository`` placeholder."""


def is_reserved_domain(name: str) -> bool:
    """True for a domain that is, or lies under, a name RFC 2606 reserves for examples."""
    domain = name.lower().rstrip(".")
    return any(
        domain == reserved or domain.endswith(f".{reserved}")
        for reserved in (*RESERVED_DOMAINS, *RESERVED_TOP_LEVEL_DOMAINS)
    )


_RESERVED_RULE = (
    f"not under {', '.join(RESERVED_DOMAINS)} or "
    f"{', '.join('.' + tld for tld in RESERVED_TOP_LEVEL_DOMAINS)} (RFC 2606 example names)"
)


def find_placeholder(config: AppConfig, env: EnvironmentConfig) -> ConfigError | None:
    """The first value a deploy of ``env`` would use that is still a shipped placeholder: its
    account, the GitHub repository its deploy role trusts, its alert e-mail, its domain and the
    hosted zone of that domain. Validation accepts them (synth and tests run on the shipped
    config); only a deploy refuses them."""
    if env.is_placeholder_account:
        return ConfigError(
            env.name,
            "account",
            f"'{env.account}' is still a placeholder, set the real account id in stacks/config.py",
            "a real 12-digit AWS account id",
        )
    repository = config.github.repository
    if repository.split("/")[0].lower() in PLACEHOLDER_GITHUB_OWNERS:
        return ConfigError(
            env.name,
            "github.repository",
            f"'{repository}' is still the shipped placeholder, set this repository's OWNER/REPO",
            "the OWNER/REPO this repository lives in on GitHub (the deploy role trusts only it)",
        )
    mail_domain = env.alert_email.rsplit("@", 1)[-1]
    if is_reserved_domain(mail_domain):
        return ConfigError(
            env.name,
            "alert_email",
            f"'{env.alert_email}' is at {mail_domain}, a domain reserved for examples",
            f"an address that receives the alarms, {_RESERVED_RULE}",
        )
    web = env.web
    if web.domain_name is not None and is_reserved_domain(web.domain_name):
        return ConfigError(
            env.name,
            "web.domain_name",
            f"'{web.domain_name}' is a domain reserved for examples",
            f"a domain of yours in a Route 53 zone of the account, {_RESERVED_RULE}",
        )
    if web.hosted_zone_id is not None and PLACEHOLDER_ID_MARK in web.hosted_zone_id.upper():
        return ConfigError(
            env.name,
            "web.hosted_zone_id",
            f"'{web.hosted_zone_id}' is still a placeholder zone id",
            "the id of the Route 53 hosted zone holding web.domain_name "
            "(aws route53 list-hosted-zones-by-name)",
        )
    if web.hosted_zone_name is not None and is_reserved_domain(web.hosted_zone_name):
        return ConfigError(
            env.name,
            "web.hosted_zone_name",
            f"'{web.hosted_zone_name}' is a domain reserved for examples",
            f"the name of the Route 53 hosted zone holding web.domain_name, {_RESERVED_RULE}",
        )
    return None


def validate_app_config(config: AppConfig) -> None:
    """Raise ConfigError on the first value that is not allowed.

    Types first, then values: every field must have its annotated type, and a wrong one is
    refused with the field and the expected type, never a traceback. Numbers are the exception:
    a number's type and range read as one rule ("an integer 1..35"), so the value checks check
    them, and the type check of every field, numbers included, runs again after them.
    """
    _check_types(config, final=False)
    try:
        _validate_values(config)
    except ConfigError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError):
        _check_types(config, final=True)  # a wrong-typed number got past the value checks
        raise
    _check_types(config, final=True)


def _validate_values(config: AppConfig) -> None:
    if not _NAME_RE.match(config.app_name):
        raise ConfigError(
            "*", "app_name", f"'{config.app_name}' is not a valid name", "[a-z][a-z0-9-]{0,19}"
        )
    if not config.environments:
        raise ConfigError("*", "environments", "no environment is configured", "one or more")
    seen_names: set[str] = set()
    branch_owner: dict[str, str] = {}
    for env in config.environments:
        _validate_environment(env)
        if env.name in seen_names:
            raise ConfigError(env.name, "name", "defined twice", "one definition per environment")
        seen_names.add(env.name)
        if env.branch in branch_owner:
            raise ConfigError(
                env.name,
                "branch",
                f"'{env.branch}' already deploys environment '{branch_owner[env.branch]}'",
                "one environment per branch",
            )
        branch_owner[env.branch] = env.name
    _validate_github(config)


_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_OIDC_PROVIDER_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/token\.actions\.githubusercontent\.com$"
)


def _validate_github(config: AppConfig) -> None:
    github = config.github
    if not isinstance(github.repository, str) or not _REPOSITORY_RE.match(github.repository):
        raise ConfigError(
            "*",
            "github.repository",
            f"{github.repository!r} is not a GitHub repository",
            "OWNER/REPO (letters, digits, '-' in OWNER; letters, digits, '.', '_', '-' in REPO)",
        )
    accounts = config.accounts()
    for account, arn in github.existing_oidc_providers.items():
        match = _OIDC_PROVIDER_RE.match(arn) if isinstance(arn, str) else None
        if account not in accounts or match is None or match.group(1) != account:
            raise ConfigError(
                "*",
                f"github.existing_oidc_providers[{account!r}]",
                f"{arn!r} is not the GitHub OIDC provider of a configured account",
                "arn:aws:iam::<that account>:oidc-provider/token.actions.githubusercontent.com, "
                f"for an account in {sorted(accounts)}",
            )
    for image, source in github.image_sources.items():
        path = PurePosixPath(source) if isinstance(source, str) else None
        if image not in tuple(Image) or path is None or path.is_absolute() or ".." in path.parts:
            raise ConfigError(
                "*",
                f"github.image_sources['{image}']",
                f"{source!r} is not a folder of this repository",
                f"a relative path, for an image in {[str(i) for i in Image]}",
            )
    _check_int_range("*", "github.deploy_session_hours", github.deploy_session_hours, 1, 12)


def _validate_alarms(env: EnvironmentConfig) -> None:
    for item in fields(AlarmThresholds):
        value = getattr(env.alarms, item.name)
        high = 100 if item.name.endswith("percent") or "_percent_" in item.name else None
        if not _is_number(value) or value <= 0 or (high is not None and value > high):
            raise ConfigError(
                env.name,
                f"alarms.{item.name}",
                f"{value!r} is not a threshold" if _is_number(value) else _not_a(value, "a number"),
                "a number above 0" + (f" and at most {high}" if high else ""),
            )


def _validate_environment(env: EnvironmentConfig) -> None:
    name = env.name
    if not _NAME_RE.match(name):
        raise ConfigError(name, "name", f"'{name}' is not a valid name", "[a-z][a-z0-9-]{0,19}")
    if not isinstance(env.account, str) or not _ACCOUNT_RE.match(env.account):
        raise ConfigError(name, "account", f"'{env.account}' is not an account id", "12 digits")
    _validate_region(env)
    _validate_availability_zones(env)
    if not _BRANCH_RE.match(env.branch):
        raise ConfigError(
            name, "branch", f"'{env.branch}' is not a git branch name", "e.g. main, release/1"
        )
    if not _EMAIL_RE.match(env.alert_email):
        raise ConfigError(
            name, "alert_email", f"'{env.alert_email}' is not an e-mail address", "name@domain.tld"
        )
    retention = env.log_retention_days
    if not _is_int(retention) or retention not in LOG_RETENTION_DAYS:
        raise ConfigError(
            name,
            "log_retention_days",
            f"{retention} is not a CloudWatch Logs retention"
            if _is_int(retention)
            else _not_a(retention, "an integer"),
            ", ".join(str(days) for days in LOG_RETENTION_DAYS),
        )
    if not isinstance(env.retain_data, bool):
        raise ConfigError(
            name, "retain_data", f"{env.retain_data!r} is not a boolean", "True, False"
        )
    _validate_network(name, env.network)
    _validate_database(name, env.database)
    _validate_api(name, env.api)
    _validate_web(env)
    _validate_alarms(env)
    _check_int_range(name, "registry.keep_tagged_images", env.registry.keep_tagged_images, 1, 1000)


def _validate_availability_zones(env: EnvironmentConfig) -> None:
    zones: Sequence[str] = env.availability_zones
    if isinstance(zones, str) or len(zones) != 2:
        raise ConfigError(
            env.name,
            "availability_zones",
            f"{zones!r} is not exactly 2 zones",
            f"two distinct zones of {env.region}, e.g. ('{env.region}a', '{env.region}b')",
        )
    if len(set(zones)) != 2:
        raise ConfigError(
            env.name, "availability_zones", f"{zones!r} repeats a zone", "two distinct zones"
        )
    letters = AZ_LETTERS_PER_REGION.get(env.region)
    if letters is None:
        raise ConfigError(
            env.name,
            "availability_zones",
            f"this project has no zone table for region {env.region}",
            "a region of AZ_LETTERS_PER_REGION in stacks/config.py (add yours from "
            "https://docs.aws.amazon.com/global-infrastructure/latest/regions/"
            "aws-availability-zones.html)",
        )
    region_zones = [f"{env.region}{chr(ord('a') + index)}" for index in range(letters)]
    for zone in zones:
        if zone not in region_zones:
            raise ConfigError(
                env.name,
                "availability_zones",
                f"'{zone}' is not a zone of region {env.region}",
                ", ".join(region_zones),
            )


def _validate_network(env_name: str, network: NetworkConfig) -> None:
    cidr_rule = (
        f"a private IPv4 CIDR from /{SMALLEST_VPC_PREFIX} to /{LARGEST_VPC_PREFIX} "
        f"(room for {SUBNETS_PER_VPC} subnets of /24 or larger)"
    )
    try:
        vpc = ipaddress.IPv4Network(network.vpc_cidr, strict=True)
    except ValueError as error:
        raise ConfigError(
            env_name,
            "network.vpc_cidr",
            f"'{network.vpc_cidr}' is not a valid CIDR ({error})",
            cidr_rule,
        ) from None
    if vpc.prefixlen > LARGEST_VPC_PREFIX:
        raise ConfigError(
            env_name,
            "network.vpc_cidr",
            f"'{network.vpc_cidr}' is too small for {SUBNETS_PER_VPC} /24 subnets",
            cidr_rule,
        )
    if vpc.prefixlen < SMALLEST_VPC_PREFIX or not vpc.is_private:
        raise ConfigError(
            env_name, "network.vpc_cidr", f"'{network.vpc_cidr}' is not allowed", cidr_rule
        )
    if network.nat_mode not in tuple(NatMode):
        raise ConfigError(
            env_name,
            "network.nat_mode",
            f"'{network.nat_mode}' is not a NAT mode",
            ", ".join(mode.value for mode in NatMode),
        )
    known_endpoints = {endpoint.value for endpoint in InterfaceEndpoint}
    for endpoint in network.interface_endpoints:
        if endpoint not in known_endpoints:
            raise ConfigError(
                env_name,
                "network.interface_endpoints",
                f"'{endpoint}' is not a known endpoint name",
                ", ".join(sorted(known_endpoints)),
            )


ENGINE_MAJORS_MIN_MINOR = {16: 3, 17: 4}
"""Aurora PostgreSQL majors offered and the first minor of each that scales to 0 ACU."""

MAX_ACU = 256
AUTO_PAUSE_MINUTES = (5, 1440)
"""Aurora accepts an auto-pause delay of 300 s to 86400 s."""
BACKUP_RETENTION_DAYS = (1, 35)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _not_a(value: object, expected: str) -> str:
    """The problem of a value of the wrong type: "'512' is a str, not an integer"."""
    return f"{value!r} is {_a_type(value)}, not {expected}"


def _check_int_range(env_name: str, field_name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            env_name, field_name, _not_a(value, "an integer"), f"an integer {low}..{high}"
        )
    if not low <= value <= high:
        raise ConfigError(
            env_name, field_name, f"{value!r} is out of range", f"an integer {low}..{high}"
        )


def _validate_database(env_name: str, database: DatabaseConfig) -> None:
    version_rule = ", ".join(
        f"{major}.{minor} or a later {major}.x" for major, minor in ENGINE_MAJORS_MIN_MINOR.items()
    )
    match = re.fullmatch(r"(\d+)\.(\d+)", str(database.engine_version))
    if (
        match is None
        or int(match[1]) not in ENGINE_MAJORS_MIN_MINOR
        or int(match[2]) < ENGINE_MAJORS_MIN_MINOR[int(match[1])]
    ):
        raise ConfigError(
            env_name,
            "database.engine_version",
            f"'{database.engine_version}' is not an Aurora PostgreSQL version that scales to 0 ACU",
            version_rule,
        )
    for field_name, value, lowest in (
        ("min_capacity", database.min_capacity, 0.0),
        ("max_capacity", database.max_capacity, 1.0),
    ):
        if not _is_number(value) or not lowest <= value <= MAX_ACU:
            raise ConfigError(
                env_name,
                f"database.{field_name}",
                f"{value!r} is out of range" if _is_number(value) else _not_a(value, "a number"),
                f"{lowest:g}..{MAX_ACU} ACUs in steps of 0.5",
            )
        if value * 2 != int(value * 2):
            raise ConfigError(
                env_name,
                f"database.{field_name}",
                f"{value!r} is not on the 0.5 ACU grid",
                "a multiple of 0.5, e.g. 0, 0.5, 1, 1.5",
            )
    if database.min_capacity > database.max_capacity:
        raise ConfigError(
            env_name,
            "database.min_capacity",
            f"{database.min_capacity:g} is above max_capacity {database.max_capacity:g}",
            "min_capacity <= max_capacity",
        )
    _check_int_range(
        env_name, "database.auto_pause_minutes", database.auto_pause_minutes, *AUTO_PAUSE_MINUTES
    )
    if isinstance(database.readers, bool) or database.readers not in (0, 1):
        raise ConfigError(
            env_name,
            "database.readers",
            f"{database.readers!r} readers is not supported",
            "0 or 1 (a reader in the second AZ)",
        )
    if not isinstance(database.proxy, bool):
        raise ConfigError(
            env_name, "database.proxy", f"{database.proxy!r} is not a boolean", "True, False"
        )
    if database.proxy and database.min_capacity == 0:
        raise ConfigError(
            env_name,
            "database.proxy",
            "a proxy with min_capacity 0 keeps connections open, so the cluster never pauses, "
            "and RDS Proxy bills 8 ACUs minimum on Serverless v2",
            "proxy=False with min_capacity 0, or min_capacity >= 0.5 with a proxy",
        )
    _check_int_range(
        env_name,
        "database.backup_retention_days",
        database.backup_retention_days,
        *BACKUP_RETENTION_DAYS,
    )


_IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""What ECR accepts as an image tag."""


def _check_image_tag(env_name: str, field_name: str, tag: object, when_none: str) -> None:
    if tag is not None and not (isinstance(tag, str) and _IMAGE_TAG_RE.match(tag)):
        raise ConfigError(
            env_name,
            field_name,
            f"{tag!r} is not an image tag",
            f"{when_none}, or an ECR tag: letters, digits, _ . - (up to 128, not first . -)",
        )


def _validate_api(env_name: str, api: ApiConfig) -> None:
    _check_image_tag(env_name, "api.image_tag", api.image_tag, "None (the zip)")
    _check_int_range(env_name, "api.memory_mb", api.memory_mb, 128, 10240)
    _check_int_range(env_name, "api.timeout_seconds", api.timeout_seconds, 1, 29)
    if api.reserved_concurrency is not None:
        _check_int_range(env_name, "api.reserved_concurrency", api.reserved_concurrency, 1, 1000)
    _check_int_range(env_name, "api.throttle_rate_limit", api.throttle_rate_limit, 1, 10000)
    _check_int_range(env_name, "api.throttle_burst_limit", api.throttle_burst_limit, 1, 5000)
    if api.throttle_burst_limit < api.throttle_rate_limit:
        raise ConfigError(
            env_name,
            "api.throttle_burst_limit",
            f"{api.throttle_burst_limit} is below throttle_rate_limit {api.throttle_rate_limit}",
            "throttle_burst_limit >= throttle_rate_limit",
        )


_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_WEB_INSTANCES = 25


def _validate_web(env: EnvironmentConfig) -> None:
    name, web = env.name, env.web
    if web.runtime not in tuple(WebRuntime):
        raise ConfigError(
            name,
            "web.runtime",
            f"'{web.runtime}' is not a web runtime",
            ", ".join(runtime.value for runtime in WebRuntime),
        )
    _check_image_tag(name, "web.image_tag", web.image_tag, "None (the placeholder)")
    _check_int_range(name, "web.container_port", web.container_port, 1024, 65535)
    if not isinstance(web.health_path, str) or not web.health_path.startswith("/"):
        raise ConfigError(
            name, "web.health_path", f"{web.health_path!r} does not start with /", "e.g. /healthz"
        )
    for field_name, size in (("web.cpu", web.cpu), ("web.memory_mib", web.memory_mib)):
        if not _is_int(size):
            raise ConfigError(
                name, field_name, _not_a(size, "an integer"), "an integer: CPU units / MiB"
            )
    offered = FARGATE_CPU_MEMORY if web.runtime is WebRuntime.FARGATE else APP_RUNNER_CPU_MEMORY
    if web.memory_mib not in offered.get(web.cpu, ()):
        pairs = "; ".join(
            f"cpu {cpu}: memory {', '.join(map(str, memories))}"
            for cpu, memories in offered.items()
        )
        raise ConfigError(
            name,
            "web.cpu/web.memory_mib",
            f"{web.runtime} does not offer cpu {web.cpu} with memory {web.memory_mib}",
            pairs,
        )
    _check_int_range(name, "web.min_instances", web.min_instances, 1, MAX_WEB_INSTANCES)
    _check_int_range(name, "web.max_instances", web.max_instances, 1, MAX_WEB_INSTANCES)
    if web.min_instances > web.max_instances:
        raise ConfigError(
            name,
            "web.min_instances",
            f"{web.min_instances} is above max_instances {web.max_instances}",
            "min_instances <= max_instances",
        )
    if web.spot and web.runtime is not WebRuntime.FARGATE:
        raise ConfigError(
            name, "web.spot", "Spot is a Fargate capacity provider", "spot=False with app_runner"
        )
    for cidr in web.allowed_ingress_cidrs:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise ConfigError(
                name,
                "web.allowed_ingress_cidrs",
                f"'{cidr}' is not an IPv4 CIDR",
                "IPv4 CIDRs such as 0.0.0.0/0 or 203.0.113.0/24",
            ) from None
    if not web.allowed_ingress_cidrs:
        raise ConfigError(
            name, "web.allowed_ingress_cidrs", "no CIDR is allowed in", "one or more IPv4 CIDRs"
        )
    _validate_web_domain(env)
    _check_int_range(name, "web.canary_interval_minutes", web.canary_interval_minutes, 1, 60)


def _validate_web_domain(env: EnvironmentConfig) -> None:
    name, web = env.name, env.web
    if web.domain_name is None:
        # App Runner always serves HTTPS on its own URL; an ALB without a domain cannot.
        plain_http = web.runtime is WebRuntime.FARGATE
        if plain_http and env.retain_data and not web.allow_plain_http:
            raise ConfigError(
                name,
                "web.domain_name",
                "a production environment (retain_data) needs a domain for HTTPS",
                "a domain_name with its hosted zone, or allow_plain_http=True",
            )
        return
    if web.runtime is WebRuntime.APP_RUNNER:
        raise ConfigError(
            name,
            "web.domain_name",
            "custom domains of App Runner are linked outside CloudFormation here",
            "domain_name=None with app_runner (App Runner serves HTTPS on its own URL)",
        )
    if not _DOMAIN_RE.match(web.domain_name):
        raise ConfigError(
            name, "web.domain_name", f"'{web.domain_name}' is not a domain name", "www.example.com"
        )
    zone = web.hosted_zone_name
    if not web.hosted_zone_id or not zone:
        raise ConfigError(
            name,
            "web.hosted_zone_id",
            "a domain needs its Route 53 hosted zone",
            "hosted_zone_id and hosted_zone_name of the zone holding domain_name",
        )
    if web.domain_name != zone and not web.domain_name.endswith("." + zone):
        raise ConfigError(
            name,
            "web.hosted_zone_name",
            f"'{web.domain_name}' is not in zone '{zone}'",
            "the zone that contains domain_name",
        )


APP_CONFIG = AppConfig(
    app_name="three-tier",
    github=GitHubConfig(
        repository="example-org/serverless-three-tier",
        image_sources={Image.WEB: "web_app"},
    ),
    environments=(
        EnvironmentConfig(
            name="dev",
            account="111111111111",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="dev",
            alert_email="alerts-dev@example.com",
            log_retention_days=14,
            retain_data=False,
            network=NetworkConfig(
                vpc_cidr="10.10.0.0/16",
                nat_mode=NatMode.INSTANCE,
                interface_endpoints=(InterfaceEndpoint.EXECUTE_API,),
            ),
            database=DatabaseConfig(
                min_capacity=0,
                max_capacity=2,
                auto_pause_minutes=10,
                readers=0,
                proxy=False,
                backup_retention_days=1,
            ),
            # 25 s: the first request after an auto-pause waits for the cluster to resume.
            api=ApiConfig(
                memory_mb=512, timeout_seconds=25, throttle_rate_limit=20, throttle_burst_limit=40
            ),
            web=WebConfig(spot=True, min_instances=1, max_instances=1, canary_interval_minutes=60),
            registry=RegistryConfig(keep_tagged_images=10),
        ),
        EnvironmentConfig(
            name="staging",
            account="222222222222",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="staging",
            alert_email="alerts-staging@example.com",
            log_retention_days=30,
            retain_data=False,
            network=NetworkConfig(
                vpc_cidr="10.20.0.0/16",
                nat_mode=NatMode.SINGLE_GATEWAY,
                interface_endpoints=(
                    InterfaceEndpoint.EXECUTE_API,
                    InterfaceEndpoint.SECRETS_MANAGER,
                    InterfaceEndpoint.LOGS,
                ),
            ),
            database=DatabaseConfig(
                min_capacity=0.5,
                max_capacity=4,
                readers=0,
                proxy=True,
                backup_retention_days=7,
            ),
            api=ApiConfig(
                memory_mb=512, timeout_seconds=10, throttle_rate_limit=50, throttle_burst_limit=100
            ),
            web=WebConfig(min_instances=1, max_instances=2, canary_interval_minutes=15),
            registry=RegistryConfig(keep_tagged_images=20),
        ),
        EnvironmentConfig(
            name="prod",
            account="333333333333",
            region="us-east-1",
            availability_zones=("us-east-1a", "us-east-1b"),
            branch="main",
            alert_email="alerts-prod@example.com",
            log_retention_days=365,
            retain_data=True,
            network=NetworkConfig(
                vpc_cidr="10.30.0.0/16",
                nat_mode=NatMode.GATEWAY_PER_AZ,
                interface_endpoints=(
                    InterfaceEndpoint.EXECUTE_API,
                    InterfaceEndpoint.SECRETS_MANAGER,
                    InterfaceEndpoint.KMS,
                    InterfaceEndpoint.LOGS,
                    InterfaceEndpoint.MONITORING,
                    InterfaceEndpoint.ECR_API,
                    InterfaceEndpoint.ECR_DOCKER,
                    InterfaceEndpoint.STS,
                    InterfaceEndpoint.XRAY,
                ),
            ),
            database=DatabaseConfig(
                min_capacity=0.5,
                max_capacity=16,
                readers=1,
                proxy=True,
                backup_retention_days=30,
            ),
            api=ApiConfig(
                memory_mb=1024,
                timeout_seconds=10,
                # No reservation: Lambda keeps 100 executions of the account unreserved, so a
                # reservation fails on a new account's low quota (see ApiConfig).
                reserved_concurrency=None,
                throttle_rate_limit=200,
                throttle_burst_limit=400,
            ),
            web=WebConfig(
                cpu=512,
                memory_mib=1024,
                min_instances=2,
                max_instances=6,
                waf=True,
                domain_name="www.example.com",
                hosted_zone_id="Z0123456789EXAMPLE0",
                hosted_zone_name="example.com",
                canary_interval_minutes=5,
            ),
            registry=RegistryConfig(keep_tagged_images=50),
        ),
    ),
)


def check_deployable(config: AppConfig, env_name: str) -> EnvironmentConfig:
    """The config of ``env_name`` if it can be deployed, else ConfigError: valid, and no shipped
    placeholder left in what its deploy uses (``find_placeholder``). ``make deploy``, ``make
    diff`` and ``make bootstrap`` ask through ``python -m stacks.config deployable ENV``, the
    deploy workflow through ``python -m stacks.delivery plan ENV``."""
    validate_app_config(config)
    env = config.environment(env_name)
    placeholder = find_placeholder(config, env)
    if placeholder is not None:
        raise placeholder
    return env


def main(argv: Sequence[str]) -> int:
    """``python -m stacks.config check`` or ``python -m stacks.config deployable ENV``."""
    usage = "usage: python -m stacks.config check | deployable ENV"
    try:
        match list(argv):
            case ["check"]:
                validate_app_config(APP_CONFIG)
            case ["deployable", env_name]:
                check_deployable(APP_CONFIG, env_name)
            case _:
                print(usage, file=sys.stderr)
                return 2
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The sections of an environment (network, database, api, web, registry, backup, alarms) and
the app's GitHub section. A field's annotation holds its type and range (or rule), its docstring
what it means; the README's configuration tables are generated from both."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Annotated, Any, Self

from pydantic import Field, ValidatorFunctionWrapHandler, field_validator, model_validator

from cdk_constructs.data_engine.choices import (
    INSTANCE_CLASSES,
    DatabaseEngine,
    EngineSpec,
    engine_spec,
    version_key,
)
from cdk_constructs.options import (
    FARGATE_CPU_MEMORY,
    ApiKind,
    ApiReleaseStrategy,
    AuthorizerType,
    ComplianceProfile,
    CpuArchitecture,
    Image,
    InterfaceEndpoint,
    MfaMode,
    NatMode,
    WebReleaseStrategy,
    WebRuntime,
)
from stacks.config.constraints import BY_VALUE, Rule, Unit, refuse
from stacks.config.model import check_sections, section
from stacks.config.rules import (
    DOMAIN,
    HEALTH_PATH,
    IMAGE_TAG,
    INGRESS_CIDRS,
    REPOSITORY,
    VPC_CIDR,
    is_relative_folder,
    matching,
)
from stacks.config.runtimes import runtime_spec

MAX_ACU = 256
Acus = Annotated[float, Unit("ACUs")]
Instances = Annotated[int, Field(ge=1, le=25)]
Count = Annotated[int, Field(gt=0)]
"""An alarm threshold counted in events."""
Percent = Annotated[int, Field(gt=0, le=100)]
"""An alarm threshold in percent."""


@section
class NetworkConfig:
    """The VPC of one environment."""

    vpc_cidr: Annotated[str, VPC_CIDR]
    """IPv4 CIDR of the VPC; each of the six subnets (public, app, db in each AZ) gets an
    eighth of it."""
    nat_mode: Annotated[NatMode, BY_VALUE]
    """How the app subnets reach the internet: one NAT instance (``t4g.nano``), one NAT
    gateway, or a gateway per AZ."""
    interface_endpoints: tuple[Annotated[InterfaceEndpoint, BY_VALUE], ...] = ()
    """Interface endpoints to create in the app subnets, besides those the API kind needs
    (``execute-api`` for private_lambda). Each costs per AZ-hour, so dev keeps the list short
    and reaches other services through NAT."""


@section
class RegistryConfig:
    """The ECR repositories (``api`` and ``web``) of one environment."""

    keep_tagged_images: Annotated[int, Field(ge=1, le=1000)] = 20
    """How many tagged images each repository keeps (older ones expire)."""


INSTANCE_CLASS = Rule(
    ", ".join(INSTANCE_CLASSES),
    lambda name: (
        None if name in INSTANCE_CLASSES else f"'{name}' is not a DB instance class offered"
    ),
)
ENHANCED_MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)
"""The seconds RDS takes for ``MonitoringInterval`` besides 0 (off)."""
ENHANCED_MONITORING_INTERVAL = Rule(
    f"0 (off) or one of {', '.join(map(str, ENHANCED_MONITORING_INTERVALS))} seconds",
    lambda seconds: (
        None
        if seconds == 0 or seconds in ENHANCED_MONITORING_INTERVALS
        else f"{seconds} is not an RDS Enhanced Monitoring interval"
    ),
)


@section
class DatabaseConfig:
    """The database of one environment: Aurora Serverless v2 (PostgreSQL, the default, or
    MySQL) sized in ACUs, or one RDS DB instance (PostgreSQL or MySQL) sized by its class.
    Each engine takes only its own sizing fields; the others keep their defaults."""

    engine: Annotated[DatabaseEngine, BY_VALUE] = DatabaseEngine.AURORA_POSTGRESQL
    """aurora-postgresql, aurora-mysql (Serverless v2 clusters), postgres or mysql (one RDS DB
    instance each). Each is one row of ``ENGINE_SPECS`` and one engine module."""
    engine_version: str | None = None
    """The engine's version; None: its default (aurora-postgresql 16.13, aurora-mysql 3.10.4,
    postgres 17.9, mysql 8.4.7). Aurora MySQL is written ``3.10.4``."""
    min_capacity: Annotated[Acus, Field(ge=0, le=MAX_ACU, multiple_of=0.5)] = 0.5
    """Serverless v2: minimum ACUs per instance; 0 lets the cluster pause when idle (about 15 s
    to resume)."""
    max_capacity: Annotated[Acus, Field(ge=1, le=MAX_ACU, multiple_of=0.5)] = 4
    """Serverless v2: maximum ACUs per instance, at least ``min_capacity``."""
    auto_pause_minutes: Annotated[int, Field(ge=5, le=1440)] = 10
    """Serverless v2: idle minutes before a 0-ACU cluster pauses; used only when
    ``min_capacity`` is 0."""
    readers: Annotated[int, Field(ge=0, le=1)] = 0
    """Serverless v2: readers in the second AZ, in promotion tier 1 (it scales and fails over
    with the writer)."""
    instance_class: Annotated[str, INSTANCE_CLASS] = "t4g.micro"
    """DB instance: its class, without ``db.``."""
    allocated_storage_gib: Annotated[int, Field(ge=20, le=65536)] = 20
    """DB instance: gp3 storage to start with (3,000 IOPS and 125 MiB/s below 400 GiB)."""
    max_allocated_storage_gib: Annotated[int, Field(ge=22, le=65536)] = 100
    """DB instance: storage autoscaling's ceiling, 10% or more above the allocated storage."""
    multi_az: bool = False
    """DB instance: a synchronous standby in the second AZ that RDS fails over to (twice the
    instance and storage price)."""
    proxy: bool = True
    """RDS Proxy in front (pooling, faster failover). Not with ``min_capacity`` 0: the proxy
    keeps connections open so the cluster never pauses, and bills 8 ACUs minimum."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    """Days of automated backups (point-in-time restore)."""
    enhanced_monitoring_interval_seconds: Annotated[int, ENHANCED_MONITORING_INTERVAL] = 0
    """Seconds between the OS metrics Enhanced Monitoring samples on each instance, 0 for off.
    RDS writes them to the account's ``RDSOSMetrics`` log group (kept 30 days), billed as
    CloudWatch Logs ingestion per instance: shorter intervals cost more (``make cost``)."""

    @property
    def spec(self) -> EngineSpec:
        return engine_spec(self.engine)

    @property
    def version(self) -> str:
        """``engine_version``, or the engine's default."""
        return self.engine_version or self.spec.default_version

    @property
    def can_pause(self) -> bool:
        """A Serverless v2 cluster at 0 ACU: the first request after a pause waits for it."""
        return self.spec.serverless and self.min_capacity == 0

    @model_validator(mode="after")
    def _engine_rules(self) -> Self:
        spec, version = self.spec, self.version
        if version not in spec.versions:
            raise refuse(
                f"'{version}' is not a {spec.label} version offered here",
                ", ".join(spec.versions),
                field="engine_version",
            )
        sizing = SERVERLESS_FIELDS if not spec.serverless else INSTANCE_FIELDS
        what = (
            "one DB instance (no ACUs, auto-pause or readers)"
            if not spec.serverless
            else ("a Serverless v2 cluster sized in ACUs")
        )
        for name, default in sizing.items():
            if getattr(self, name) != default:
                raise refuse(
                    f"{spec.label} is {what}",
                    f"{name}={default!r} with {self.engine}",
                    field=name,
                )
        if spec.serverless:
            self._capacity_rules(spec, version)
        elif self.max_allocated_storage_gib * 10 < self.allocated_storage_gib * 11:
            # User Guide, "Managing capacity automatically with Amazon RDS storage autoscaling":
            # the maximum must be at least 10% above the allocated storage.
            raise refuse(
                f"{self.max_allocated_storage_gib} is less than 10% above "
                f"allocated_storage_gib {self.allocated_storage_gib}",
                "max_allocated_storage_gib >= allocated_storage_gib * 1.1",
                field="max_allocated_storage_gib",
            )
        if self.proxy and version not in spec.proxy_versions:
            raise refuse(
                f"RDS Proxy cannot front {spec.label} {version}",
                f"proxy=False with {spec.label} {version}, or a version from "
                + ", ".join(sorted(spec.proxy_versions, key=version_key)[:1])
                + " on the proxy's engine table",
                field="proxy",
            )
        return self

    def _capacity_rules(self, spec: EngineSpec, version: str) -> None:
        if self.min_capacity > self.max_capacity:
            raise refuse(
                f"{self.min_capacity:g} is above max_capacity {self.max_capacity:g}",
                "min_capacity <= max_capacity",
                field="min_capacity",
            )
        if self.min_capacity == 0 and version not in spec.scale_to_zero_versions:
            first = min(spec.scale_to_zero_versions, key=version_key)
            raise refuse(
                f"{spec.label} {version} cannot scale to 0 ACU",
                f"min_capacity >= 0.5, or engine_version {first} or later",
                field="min_capacity",
            )
        if self.proxy and self.min_capacity == 0:
            raise refuse(
                "a proxy with min_capacity 0 keeps connections open, so the cluster never "
                "pauses, and RDS Proxy bills 8 ACUs minimum on Serverless v2",
                "proxy=False with min_capacity 0, or min_capacity >= 0.5 with a proxy",
                field="proxy",
            )


SERVERLESS_FIELDS: Mapping[str, object] = MappingProxyType(
    {"min_capacity": 0.5, "max_capacity": 4, "auto_pause_minutes": 10, "readers": 0}
)
"""The Serverless v2 sizing fields and their defaults, which an instance engine keeps."""
INSTANCE_FIELDS: Mapping[str, object] = MappingProxyType(
    {
        "instance_class": "t4g.micro",
        "allocated_storage_gib": 20,
        "max_allocated_storage_gib": 100,
        "multi_az": False,
    }
)
"""The DB instance sizing fields and their defaults, which a Serverless v2 engine keeps."""


MAX_LAMBDA_SHIFT_MINUTES = 2880
"""CodeDeploy's longest Lambda traffic shift, first shift to last (48 hours)."""


@section
class ApiReleaseConfig:
    """How a new version of the API function takes traffic: CodeDeploy moves the function's
    alias after a pre-traffic hook has called the new version's ``GET /health``, and moves it
    back when an API alarm goes off."""

    strategy: Annotated[ApiReleaseStrategy, BY_VALUE] = ApiReleaseStrategy.ALL_AT_ONCE
    """all_at_once, canary (``percent``, then the rest after ``interval_minutes``) or linear
    (``percent`` more every ``interval_minutes``)."""
    percent: Annotated[int, Field(ge=1, le=99)] = 10
    """canary: the share of invocations the new version gets first; linear: each step."""
    interval_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    """canary: how long the first share bakes; linear: minutes between steps."""

    @property
    def shift_minutes(self) -> int:
        """Minutes from the first traffic shift to the last: 0 at once, one interval for a
        canary, an interval between each two of the ceil(100 / percent) linear steps."""
        if self.strategy is ApiReleaseStrategy.LINEAR:
            return (math.ceil(100 / self.percent) - 1) * self.interval_minutes
        return self.interval_minutes if self.strategy is ApiReleaseStrategy.CANARY else 0

    @model_validator(mode="after")
    def _within_codedeploy_limits(self) -> Self:
        # https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html: at most 2880
        # minutes between the first and the last traffic shift of a Lambda deployment.
        if self.shift_minutes > MAX_LAMBDA_SHIFT_MINUTES:
            raise refuse(
                f"{self.percent}% every {self.interval_minutes} minutes shifts for "
                f"{self.shift_minutes} minutes, over CodeDeploy's {MAX_LAMBDA_SHIFT_MINUTES}",
                "(ceil(100 / percent) - 1) * interval_minutes <= 2880",
                field="interval_minutes",
            )
        return self


SERVICE_NAME = matching(r"^[a-z][a-z0-9]{0,11}$", "not a service name", "[a-z][a-z0-9]{0,11}")
PATH_PREFIX = matching(
    r"^[a-z][a-z0-9-]{0,30}$", "not a path prefix", "one path segment: [a-z][a-z0-9-]{0,30}"
)
ROUTE_KEY = matching(
    r"^(GET|POST|PUT|PATCH|DELETE|\*) /[a-z][a-z0-9-]{0,30}(/[A-Za-z0-9._-]+)*$",
    "not a route",
    "'<METHOD> /<service prefix>[/<path>]', METHOD one of GET POST PUT PATCH DELETE *",
)
ROLE_NAME = matching(r"^[a-z][a-z0-9_-]{0,31}$", "not a role name", "[a-z][a-z0-9_-]{0,31}")
FOLDER = Rule(
    "a folder of this repository (relative, no ..)",
    lambda source: None if is_relative_folder(source) else f"{source!r} is not a relative folder",
)
Minutes = Annotated[int, Field(ge=5, le=1440)]


@section
class ServiceConfig:
    """One microservice of the public services API: a Fargate service in the app subnets behind
    the internal NLB (a listener on ``port``), routed from ``/<path_prefix>`` and below."""

    name: Annotated[str, SERVICE_NAME]
    """Short name: the ECS service ``<app>-<env>-<name>`` and its ECR repository."""
    path_prefix: Annotated[str, PATH_PREFIX]
    """The API routes ``/<path_prefix>`` and ``/<path_prefix>/{proxy+}`` to it, path kept."""
    source: Annotated[str, FOLDER]
    """Folder with its ``Dockerfile``, built from the repository root as context."""
    image_tag: Annotated[str, IMAGE_TAG] | None = None
    """Run this tag of its ECR image; None runs a placeholder answering 200 on every path (the
    deploy workflow passes the commit's tag)."""
    port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    """The container's port, also its NLB listener's port (unique per environment)."""
    cpu: int = 256
    """CPU units (1024 = 1 vCPU); with ``memory_mib`` a pair Fargate offers."""
    memory_mib: int = 512
    """Memory (MiB)."""
    min_tasks: Instances = 1
    """Fewest tasks (CPU target tracking scales between the two)."""
    max_tasks: Instances = 2
    """Most tasks, at least ``min_tasks``."""
    health_path: Annotated[str, HEALTH_PATH] = "/healthz"
    """Path of the NLB target group's HTTP health check."""
    database: bool = False
    """Log in to the database with IAM as the API's least-privilege user (``DB_*`` variables,
    ``rds-db:connect`` and the database security group admitting it)."""

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if self.memory_mib not in FARGATE_CPU_MEMORY.get(self.cpu, ()):
            offered = "; ".join(f"cpu {c}: {m}" for c, m in FARGATE_CPU_MEMORY.items())
            raise refuse(
                f"Fargate does not offer cpu {self.cpu} with memory {self.memory_mib}",
                offered,
                field=("cpu", "memory_mib"),
            )
        if self.min_tasks > self.max_tasks:
            raise refuse(
                f"{self.min_tasks} is above max_tasks {self.max_tasks}",
                "min_tasks <= max_tasks",
                field="min_tasks",
            )
        return self


@section
class AuthorizerConfig:
    """The Lambda authorizer of the public services API."""

    type: Annotated[AuthorizerType, BY_VALUE] = AuthorizerType.REQUEST
    """token or request (API Gateway authorizer types); both cache by the Authorization header."""
    cache_ttl_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    """How long API Gateway reuses a decision for the same token (0: no cache). A role revoked
    with ``make roles`` takes effect within this time."""


@section
class SignInConfig:
    """The users' sign-in (Cognito user pool, managed login, the browser's PKCE client)."""

    password_min_length: Annotated[int, Field(ge=8, le=99)] = 12
    """Shortest password accepted."""
    password_require_symbols: bool = True
    """Passwords need a symbol (lower case, upper case and digits are always required)."""
    mfa: Annotated[MfaMode, BY_VALUE] = MfaMode.OPTIONAL
    """off, optional or required (TOTP authenticator apps)."""
    self_sign_up: bool = False
    """Anyone may create an account on the sign-in page (else an admin creates users)."""
    access_token_minutes: Minutes = 60
    """Lifetime of access tokens (what the API checks)."""
    id_token_minutes: Minutes = 60
    """Lifetime of ID tokens."""
    refresh_token_days: Annotated[int, Field(ge=1, le=3650)] = 30
    """Lifetime of refresh tokens (how long a browser stays signed in)."""


API_KIND_ENDPOINTS: Mapping[ApiKind, tuple[InterfaceEndpoint, ...]] = MappingProxyType(
    {
        # The private REST API is reachable through its execute-api endpoint and nothing else.
        ApiKind.PRIVATE_LAMBDA: (InterfaceEndpoint.EXECUTE_API,),
        # The public API needs none; worse, an execute-api endpoint with private DNS sends the
        # VPC's own calls to public APIs into the endpoint, which answers 403: "you can't
        # access the default endpoint for public APIs" (API Gateway developer guide, Private
        # REST APIs: best practices).
        ApiKind.PUBLIC_SERVICES: (),
    }
)
"""The interface endpoints each API kind adds to ``network.interface_endpoints``."""


@section
class ApiConfig:
    """The API tier: the items function behind the private REST API (``private_lambda``), or
    the public REST API with its authorizer in front of microservices (``public_services``)."""

    kind: Annotated[ApiKind, BY_VALUE] = ApiKind.PRIVATE_LAMBDA
    """private_lambda (the items function, private API) or public_services (users' JWT checked
    by a Lambda authorizer with roles from DynamoDB, microservices behind a VPC link); the
    latter goes with ``web.runtime`` static_site."""
    image_tag: Annotated[str, IMAGE_TAG] | None = None
    """Run this tag of the environment's ECR ``api`` image instead of the zip; None (the zip)
    lets the first deploy run without an image."""
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512
    """Function memory in MB (CPU grows with it)."""
    timeout_seconds: Annotated[int, Field(ge=1, le=29)] = 10
    """Function timeout (API Gateway stops waiting at 29 s); the database connect timeout is
    3 s less, so with 0 ACU keep room for a ~15 s resume."""
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Reserve and cap concurrent executions, or None for the shared pool. Lambda keeps 100
    executions of the account unreserved and new accounts start with a low quota (10), so a
    reservation needs a quota of at least reservation + 100: ``make preflight`` reads the
    real quota."""
    throttle_rate_limit: Annotated[int, Field(ge=1, le=10000)] = 50
    """Stage-wide steady requests per second."""
    throttle_burst_limit: Annotated[int, Field(ge=1, le=5000)] = 100
    """Stage-wide burst, at least the rate limit."""
    release: ApiReleaseConfig = field(default_factory=ApiReleaseConfig)
    """How a new function version takes traffic (fields below); private_lambda only."""
    services: tuple[ServiceConfig, ...] = ()
    """public_services: the microservices (fields below); names, prefixes and ports unique."""
    route_roles: Mapping[Annotated[str, ROUTE_KEY], tuple[Annotated[str, ROLE_NAME], ...]] = field(
        default_factory=dict
    )
    """public_services: ``"<METHOD> /<prefix>[/<path>]"`` -> the roles allowed (that path and
    below; METHOD ``*`` is any). A route no entry names is refused to everyone."""
    authorizer: AuthorizerConfig = field(default_factory=AuthorizerConfig)
    """public_services: the Lambda authorizer (fields below)."""
    sign_in: SignInConfig = field(default_factory=SignInConfig)
    """public_services: the users' sign-in (fields below)."""
    waf: bool = False
    """public_services: a regional WAF web ACL (managed rules, per-IP rate limit) on the API."""

    @property
    def interface_endpoints(self) -> tuple[InterfaceEndpoint, ...]:
        """The VPC endpoints this kind cannot work without (``API_KIND_ENDPOINTS``)."""
        return API_KIND_ENDPOINTS[self.kind]

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role ``route_roles`` names, sorted (what ``make roles`` may grant)."""
        return tuple(sorted({role for roles in self.route_roles.values() for role in roles}))

    @field_validator("release", "services", "authorizer", "sign_in", mode="wrap")
    @classmethod
    def _sections(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_sections(value, handler)

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        if self.kind is ApiKind.PRIVATE_LAMBDA:
            for name in ("services", "route_roles"):
                if getattr(self, name):
                    raise refuse(
                        "only the public_services API has microservices and routes by role",
                        f"no {name} with kind private_lambda, or kind public_services",
                        field=name,
                    )
            return self
        if not self.services:
            raise refuse(
                "the public_services API needs a microservice to route to",
                "at least one service",
                field="services",
            )
        if self.image_tag is not None or self.release != ApiReleaseConfig():
            raise refuse(
                "public_services has no items function (image_tag and release are its)",
                "image_tag=None and the default release with kind public_services",
                field="image_tag" if self.image_tag is not None else "release",
            )
        for attribute in ("name", "path_prefix", "port"):
            values = [getattr(service, attribute) for service in self.services]
            if len(set(values)) != len(values):
                raise refuse(
                    f"two services share a {attribute}",
                    f"a different {attribute} for each service",
                    field=f"services.{attribute}",
                )
        prefixes = {service.path_prefix for service in self.services}
        for route in self.route_roles:
            prefix = route.split(" /", 1)[1].split("/", 1)[0]
            if prefix not in prefixes:
                raise refuse(
                    f"route {route!r} is under no service's path prefix",
                    f"a route under one of: {', '.join(sorted(prefixes))}",
                    field="route_roles",
                )
        return self

    @model_validator(mode="after")
    def _burst_covers_rate(self) -> Self:
        if self.throttle_burst_limit < self.throttle_rate_limit:
            raise refuse(
                f"{self.throttle_burst_limit} is below throttle_rate_limit "
                f"{self.throttle_rate_limit}",
                "throttle_burst_limit >= throttle_rate_limit",
                field="throttle_burst_limit",
            )
        return self


MAX_BAKE_MINUTES = 1440
"""ECS's longest bake and step bake time (24 hours)."""
BakeMinutes = Annotated[int, Field(ge=0, le=MAX_BAKE_MINUTES)]


@section
class WebReleaseConfig:
    """How a new web release takes traffic, and how long it bakes with the release alarms
    (target 5XX rate, p99 response time, unhealthy hosts, the canary) watched; any of them
    going off rolls it back. What a runtime supports is its spec (``stacks/config/runtimes.py``).
    """

    strategy: Annotated[WebReleaseStrategy, BY_VALUE] = WebReleaseStrategy.ROLLING
    """rolling, canary, linear or blue_green (ECS deployment strategies)."""
    step_percent: Annotated[float, Field(ge=0.1, le=100)] = 10.0
    """canary: the share of traffic the new release gets first; linear: each step (3..100).
    Multiples of 0.1."""
    step_bake_minutes: BakeMinutes = 5
    """canary and linear: minutes each step bakes before more traffic moves."""
    bake_minutes: BakeMinutes = 0
    """canary, linear and blue_green: minutes the old release stays ready to take traffic back
    after all of it has moved, alarms watched; rolling has no bake (0)."""

    @model_validator(mode="after")
    def _strategy_rules(self) -> Self:
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-linear.html
        # and deployment-type-canary.html: step percent in multiples of 0.1, linear 3.0..100.0.
        if round(self.step_percent * 10) != self.step_percent * 10:
            raise refuse(
                f"{self.step_percent} is not a multiple of 0.1",
                "a percentage in steps of 0.1, e.g. 10 or 2.5",
                field="step_percent",
            )
        if self.strategy is WebReleaseStrategy.LINEAR and self.step_percent < 3:
            raise refuse(
                f"linear steps of {self.step_percent}% are below ECS's 3%",
                "step_percent 3..100 with strategy linear",
                field="step_percent",
            )
        if self.strategy is WebReleaseStrategy.ROLLING and self.bake_minutes:
            raise refuse(
                "a rolling update has no bake time (the old tasks are stopped as it goes)",
                "bake_minutes=0 with strategy rolling, or canary, linear or blue_green",
                field="bake_minutes",
            )
        return self


@section
class WebConfig:
    """The public web service, its edge (load balancer or the runtime's own URL, WAF, domain)
    and its canary. What each runtime allows is its spec (``stacks/config/runtimes.py``)."""

    runtime: Annotated[WebRuntime, BY_VALUE] = WebRuntime.FARGATE
    """What serves the web tier: the container on ECS Fargate behind an ALB, on an EC2 Auto
    Scaling group behind an ALB, on App Runner (closed to new AWS customers since 2026-04-30;
    existing customers keep it) or on ECS Express Mode behind CloudFront; or static_site, the
    single-page app on S3 + CloudFront (with ``api.kind`` public_services)."""
    image_tag: Annotated[str, IMAGE_TAG] | None = None
    """Run this tag of the environment's ECR ``web`` image; None runs a public placeholder that
    answers 200 on every path, so the first deploy needs no image."""
    container_port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    """The port the container listens on."""
    health_path: Annotated[str, HEALTH_PATH] = "/healthz"
    """Path of the health checks and the canary."""
    cpu: int = 256
    """CPU units (1024 = 1 vCPU); with ``memory_mib`` a pair the runtime offers."""
    memory_mib: int = 512
    """Memory (MiB); with ``cpu`` a pair the runtime offers."""
    min_instances: Instances = 1
    """Fewest tasks (instances) the service scales to."""
    max_instances: Instances = 2
    """Most tasks (instances) the service scales to, at least ``min_instances``."""
    spot: bool = False
    """Run on Spot capacity where the runtime has it (Fargate Spot: ~70% cheaper, may be
    interrupted, X86_64 only: see ``cpu_architecture``)."""
    environment: dict[str, str] = field(default_factory=dict)
    """Plain environment variables of the container (never secrets)."""
    domain_name: Annotated[str, DOMAIN] | None = None
    """Public name of the service (HTTPS), where the runtime takes one; needs the hosted zone
    below."""
    hosted_zone_id: str | None = None
    """Id of the Route 53 zone holding ``domain_name``."""
    hosted_zone_name: str | None = None
    """Name of the Route 53 zone holding ``domain_name``."""
    allowed_ingress_cidrs: Annotated[tuple[str, ...], INGRESS_CIDRS] = ("0.0.0.0/0",)
    """Who may reach the service on 80/443."""
    waf: bool = False
    """Put a WAF web ACL (managed rule groups + per-IP rate limit) in front."""
    allow_plain_http: bool = False
    """Let a ``retain_data`` environment serve plain HTTP where the runtime has no HTTPS of its
    own and there is no domain."""
    canary_interval_minutes: Annotated[int, Field(ge=1, le=60)] = 60
    """How often the canary checks the health path, in minutes."""
    release: WebReleaseConfig = field(default_factory=WebReleaseConfig)
    """How a new release takes traffic and bakes (fields below)."""
    site_source: Annotated[str, FOLDER] = "site_app"
    """static_site: the folder of the site's files (uploaded as they are on every deploy)."""

    @field_validator("release", mode="wrap")
    @classmethod
    def _sections(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_sections(value, handler)

    @property
    def cpu_architecture(self) -> CpuArchitecture:
        """The CPU the web service runs on, the one place that decides it (the runtime's spec:
        ARM64 on Fargate, X86_64 on Fargate Spot and on App Runner); the task definition and
        the deploy workflow's image build use it."""
        return runtime_spec(self.runtime).cpu_architecture(spot=self.spot)

    @model_validator(mode="after")
    def _runtime_rules(self) -> Self:
        spec = runtime_spec(self.runtime)
        if not spec.runs_container:
            self._check_no_container(spec.label)
        elif self.memory_mib not in spec.cpu_memory.get(self.cpu, ()):
            raise refuse(
                f"{self.runtime} does not offer cpu {self.cpu} with memory {self.memory_mib}",
                spec.offered(),
                field=("cpu", "memory_mib"),
            )
        if self.min_instances > self.max_instances:
            raise refuse(
                f"{self.min_instances} is above max_instances {self.max_instances}",
                "min_instances <= max_instances",
                field="min_instances",
            )
        if self.spot and spec.spot_architecture is None:
            raise refuse(
                "Spot is a Fargate capacity provider",
                f"spot=False with {self.runtime}",
                field="spot",
            )
        if not spec.restricts_ingress and self.allowed_ingress_cidrs != ("0.0.0.0/0",):
            raise refuse(
                f"{spec.label} manages its load balancer's security group itself",
                f"allowed_ingress_cidrs=('0.0.0.0/0',) with {self.runtime} (waf=True filters)",
                field="allowed_ingress_cidrs",
            )
        if self.domain_name is not None:
            self._check_domain(spec.custom_domain, spec.label)
        if self.release.strategy not in spec.release_strategies:
            raise refuse(
                f"{spec.label} cannot release with {self.release.strategy}",
                ", ".join(sorted(spec.release_strategies)) + f" with {self.runtime}",
                field="release.strategy",
            )
        return self

    def _check_no_container(self, label: str) -> None:
        for name, default in (("image_tag", None), ("environment", {}), ("spot", False)):
            if getattr(self, name) != default:
                raise refuse(
                    f"{label} runs no container",
                    f"{name}={default!r} with {self.runtime}",
                    field=name,
                )
        if self.allowed_ingress_cidrs != ("0.0.0.0/0",):
            raise refuse(
                f"{label} is served from every CloudFront edge location",
                f"allowed_ingress_cidrs=('0.0.0.0/0',) with {self.runtime} (waf=True filters)",
                field="allowed_ingress_cidrs",
            )

    def _check_domain(self, custom_domain: bool, label: str) -> None:
        if not custom_domain:
            raise refuse(
                f"custom domains of {label} are linked outside CloudFormation here",
                f"domain_name=None with {self.runtime} ({label} serves HTTPS on its own URL)",
                field="domain_name",
            )
        zone = self.hosted_zone_name
        if not self.hosted_zone_id or not zone:
            raise refuse(
                "a domain needs its Route 53 hosted zone",
                "hosted_zone_id and hosted_zone_name of the zone holding domain_name",
                field="hosted_zone_id",
            )
        domain = str(self.domain_name)
        if domain != zone and not domain.endswith(f".{zone}"):
            raise refuse(
                f"'{domain}' is not in zone '{zone}'",
                "the zone that contains domain_name",
                field="hosted_zone_name",
            )


MAX_BACKUP_DAYS = 36500
"""The longest retention AWS Backup and its Vault Lock take (100 years)."""
BACKUP_CRON = matching(
    r"^cron\(\S+( \S+){5}\)$",
    "not a six-field cron expression",
    "cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 5 ? * MON *)",
)
BackupDays = Annotated[int, Field(ge=1, le=MAX_BACKUP_DAYS)]


@section
class BackupConfig:
    """AWS Backup of the cluster and the session table into an encrypted vault, and a restore
    test that proves the latest recovery points restore (``make cost``: vault key, storage,
    restore tests)."""

    enabled: bool | None = None
    """Back up the data tier; None follows ``retain_data`` (on in prod). Needs ``retain_data``:
    a vault that holds recovery points cannot be deleted with its stack."""
    retention_days: BackupDays = 35
    """Days each daily recovery point is kept."""
    vault_lock: bool = False
    """Lock the vault in governance mode (no one deletes a recovery point before
    ``min_retention_days``, nor keeps one past ``max_retention_days``); compliance mode is
    irreversible, so it is left to an operator (README: Backups and restore)."""
    min_retention_days: BackupDays = 7
    """With ``vault_lock``: the shortest retention the vault accepts, at most
    ``retention_days``."""
    max_retention_days: BackupDays | None = None
    """With ``vault_lock``: the longest retention the vault accepts (None: no maximum), at least
    ``retention_days``."""
    restore_test: bool | None = None
    """Restore the latest recovery points on ``restore_test_schedule`` and check them; AWS
    Backup deletes what it restored after ``restore_test_validation_hours``. None: on where the
    engine has a restore test (Aurora), off for a DB instance engine (True is refused there)."""
    restore_test_schedule: Annotated[str, BACKUP_CRON] = "cron(0 5 ? * MON *)"
    """When the restore test runs (UTC)."""
    restore_test_validation_hours: Annotated[int, Field(ge=1, le=168)] = 4
    """Hours the restored resources are kept for validation before AWS Backup deletes them."""

    def active(self, retain_data: bool) -> bool:
        """Whether the environment gets backups: ``enabled``, or ``retain_data`` when None."""
        return retain_data if self.enabled is None else self.enabled

    @model_validator(mode="after")
    def _lock_rules(self) -> Self:
        if not self.vault_lock:
            return self
        if self.min_retention_days > self.retention_days:
            raise refuse(
                f"{self.min_retention_days} is above retention_days {self.retention_days}: "
                "the locked vault would fail every backup job",
                "min_retention_days <= retention_days",
                field="min_retention_days",
            )
        highest = self.max_retention_days
        if highest is not None and highest < self.retention_days:
            raise refuse(
                f"{highest} is below retention_days {self.retention_days}: the locked vault "
                "would fail every backup job",
                "max_retention_days >= retention_days, or None",
                field="max_retention_days",
            )
        return self


@section
class SecurityConfig:
    """Encryption with the environment's KMS key, and the compliance checks synth runs."""

    encrypt_logs: bool = True
    """Encrypt every log group of the environment with its KMS key (the key admits this
    environment's log groups only). False leaves CloudWatch Logs' own encryption on all but the
    VPC flow logs and the operators' session logs, which always use the key (``make cost``: KMS
    requests)."""
    compliance: Annotated[ComplianceProfile, BY_VALUE] = ComplianceProfile.NONE
    """An extra cdk-nag pack synth checks the environment against; every finding is fixed or
    acknowledged with a reason (EXCEPTIONS.md lists the controls deliberately not met)."""


@section
class OperatorAccessConfig:
    """Operator access through Systems Manager only (no SSH, no inbound port): an access
    instance for ``make db-tunnel`` and shells for ``make shell`` (README: Operator access)."""

    enabled: bool = True
    """The access instance (a ``t4g.nano`` in an app subnet, no inbound rule, stopped when idle:
    ``make cost`` puts its disk in the floor and its hours in usage), the session log group and
    shell document, and the ``<app>-<env>-operators`` and ``<app>-<env>-db-admins`` policies."""
    idle_stop_minutes: Annotated[int, Field(ge=10, le=240)] = 30
    """Minutes with no Session Manager session after which the access instance stops itself
    (longer than Session Manager's 20-minute idle session timeout)."""
    container_shell: bool = False
    """ECS Exec into the web container (``web.runtime`` fargate). ECS Exec cannot run in a
    container whose root filesystem is read-only, so this gives that protection up: keep it for
    when a shell is needed. The EC2 runtime's instances have shells whenever ``enabled``."""


@section
class AlarmThresholds:
    """Every alarm threshold of an environment, in one place (the ops stack's monitoring turns
    them into alarms on the environment's alerts topic)."""

    api_5xx_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5.0
    """API Gateway 5XX responses as a share of requests (%), per 5 minutes."""
    api_p99_latency_ms: Count = 3000
    """API Gateway p99 latency (ms), per 5 minutes."""
    lambda_errors: Count = 5
    """Function errors per 5 minutes."""
    lambda_throttles: Count = 1
    """Throttled invocations per 5 minutes."""
    lambda_duration_percent_of_timeout: Percent = 80
    """Maximum duration as a share of the function's timeout."""
    aurora_cpu_percent: Percent = 80
    """Aurora maximum CPU."""
    aurora_acu_utilization_percent: Percent = 90
    """ACUs in use as a share of the maximum: the cluster is about to hit its ceiling."""
    aurora_connections: Count = 400
    """Aurora database connections."""
    proxy_client_connections: Count = 500
    """RDS Proxy client connections (environments with a proxy)."""
    dynamodb_throttles: Count = 1
    """Session table throttled requests per 5 minutes."""
    dynamodb_system_errors: Count = 1
    """Session table system errors per 5 minutes."""
    web_5xx: Count = 10
    """ALB (or App Runner) 5XX responses per 5 minutes."""
    unhealthy_targets: Count = 1
    """Unhealthy ALB targets."""
    web_target_5xx_rate_percent: Annotated[float, Field(gt=0, le=100)] = 5.0
    """Target 5XX responses as a share of requests (%), per minute: rolls a web release
    back."""
    web_p99_response_ms: Count = 3000
    """ALB target response time p99 (ms), per minute: rolls a web release back."""


@section
class GitHubConfig:
    """Where the deploy workflow runs and what it builds (the delivery pipeline)."""

    repository: Annotated[str, REPOSITORY]
    """``OWNER/REPO`` of this repository: each deploy role trusts only
    ``repo:OWNER/REPO:environment:<env>``."""
    existing_oidc_providers: Mapping[str, str] = field(default_factory=dict)
    """Account id -> ARN of the GitHub OIDC provider that account already has (an account holds
    one per URL); accounts not listed get one from the OIDC stack."""
    image_sources: Mapping[Annotated[Image, BY_VALUE], str] = field(default_factory=dict)
    """Image -> folder with a Dockerfile: the deploy workflow builds it (when the folder exists),
    pushes it tagged with the commit SHA and deploys that tag; the deploy role may push only to
    these images' repositories. An image without a source deploys ``image_tag`` (the API then
    runs from its zip). The microservices' images are built from ``api.services`` (each its
    ``source``), not from here."""
    deploy_session_hours: Annotated[int, Field(ge=1, le=12)] = 3
    """Maximum session of the deploy roles (a first deploy with Aurora and a proxy takes long);
    the CLI refreshes the bootstrap roles' sessions from it."""

    @model_validator(mode="after")
    def _sources_are_folders(self) -> Self:
        for image, source in self.image_sources.items():
            if not is_relative_folder(source):
                raise refuse(
                    f"{source!r} is not a folder of this repository",
                    f"a relative path, for an image in {[str(i) for i in Image]}",
                    field=f"image_sources['{image}']",
                )
        return self

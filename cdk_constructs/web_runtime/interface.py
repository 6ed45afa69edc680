"""What the platform needs of a web runtime, whichever service runs the container.

The web stack, the ops stack's monitoring, the OIDC stack's deploy role and the deploy workflow
talk to a runtime through ``WebRuntimeService`` (a built runtime) and ``WebRuntimeType`` (its
class: what is known from names alone), never through its concrete type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.options import CpuArchitecture, WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.image import WebImage
from cdk_constructs.web_runtime.rollout import Rollout
from release.contract import WebRelease

HTTPS_PORT = 443
ROLLING_ONLY = frozenset({WebReleaseStrategy.ROLLING})
"""The strategies of a runtime without traffic shifting."""


class WebAclPlacement(StrEnum):
    """Who builds the WAF web ACL of a runtime when ``web.waf`` is on."""

    STACK = "stack"
    """The web stack builds a regional ACL and hands it to ``associate_web_acl`` (ALB, App
    Runner)."""
    RUNTIME = "runtime"
    """The runtime builds its own from ``WebSettings.waf`` (CloudFront's ACL: CLOUDFRONT scope,
    in us-east-1)."""


@dataclass(frozen=True)
class RuntimeTraits:
    """What the web stack must know of a runtime's class before building it."""

    runs_container: bool = True
    """False: no image, app secret, API client secret or grants (it serves files)."""
    web_acl: WebAclPlacement = WebAclPlacement.STACK
    edge_region: str | None = None
    """Where its edge resources (certificate, ACL) must live when not in the stack's region:
    such a runtime puts them in a sibling stack there, and both stacks need CDK's cross-region
    references."""

    def needs_cross_region_references(self, region: str) -> bool:
        """Whether a stack of this runtime in ``region`` refers to its edge stack."""
        return self.edge_region is not None and self.edge_region != region


CONTAINER_TRAITS = RuntimeTraits()
"""The traits of a runtime class that declares none: it runs the web container."""


def runtime_traits(runtime_type: object) -> RuntimeTraits:
    """The ``traits`` ClassVar of a runtime class, ``CONTAINER_TRAITS`` if it has none (the
    container runtimes predate it)."""
    traits = getattr(runtime_type, "traits", CONTAINER_TRAITS)
    assert isinstance(traits, RuntimeTraits), f"{runtime_type}.traits is not RuntimeTraits"
    return traits


class SiteApiOrigin(Protocol):
    """The public API as a static site's distribution routes ``/<stage>/*`` to it (the API
    tier's ``SiteApi``)."""

    @property
    def domain_name(self) -> str:
        """``<rest api id>.execute-api.<region>.amazonaws.com``."""
        ...

    @property
    def stage_name(self) -> str: ...


class WebReleaseSettings(Protocol):
    """How a new release takes traffic (config's ``web.release``, ``WebReleaseConfig``)."""

    @property
    def strategy(self) -> WebReleaseStrategy: ...
    @property
    def step_percent(self) -> float: ...
    @property
    def step_bake_minutes(self) -> int: ...
    @property
    def bake_minutes(self) -> int: ...


class WebReleaseThresholds(Protocol):
    """The thresholds of the alarms that roll a release back (config's ``AlarmThresholds``)."""

    @property
    def web_target_5xx_rate_percent(self) -> float: ...
    @property
    def web_p99_response_ms(self) -> int: ...


@dataclass(frozen=True)
class WebReleasePlan:
    """What a runtime releases with: the strategy and its times, and the release alarms'
    thresholds (two config sections, one field of ``WebRuntimeProps``)."""

    settings: WebReleaseSettings
    thresholds: WebReleaseThresholds


@dataclass(frozen=True, kw_only=True)
class WebRuntimeProps:
    """What every runtime is built from; a runtime's own settings come from ``WebSettings``."""

    name: str
    """``<app>-<env>-web``: the service's (or its cluster's) name."""
    vpc: ec2.IVpc
    public_subnets: ec2.SubnetSelection
    """Where a runtime's own public entry point (a load balancer) lives."""
    app_subnets: ec2.SubnetSelection
    """Private, with egress: where the containers (or their network interfaces) live."""
    image: WebImage
    port: int
    health_path: str
    cpu: int
    """CPU units (1024 = 1 vCPU), a size the runtime offers with ``memory_mib``."""
    memory_mib: int
    min_instances: int
    max_instances: int
    environment: Mapping[str, str] = field(default_factory=dict)
    """Plain settings only (visible in the service's configuration): never a secret."""
    secrets: Sequence[ContainerSecret] = ()
    """Injected from Secrets Manager when a container starts; the runtime role may read them."""
    log_retention: logs.RetentionDays
    log_key: kms.IKey | None = None
    """Encrypts the log groups the service creates itself (App Runner's); the key admits them.
    The groups this app declares get the environment key anyway (EnvironmentPolicies)."""
    removal_policy: RemovalPolicy
    """Of the runtime's stateful resources (log groups, log buckets)."""
    deletion_protection: bool = False
    """Deletion-protect what a runtime can protect (an ALB); see ``deletion_protected``."""
    release: WebReleasePlan | None = None
    """How releases take traffic and what rolls them back; None: rolling, with no release alarm
    (construct tests). A runtime refuses a strategy it lacks (``release_strategies``)."""
    canary_name: str | None = None
    """The health canary's name (a literal): a runtime with release alarms alarms on its
    success rate by name, so it needs no reference to the canary, which is built after it.
    None: no canary alarm."""
    site_api: SiteApiOrigin | None = None
    """A static site: the API its distribution routes ``/<stage>/*`` to (None: no API route)."""
    sign_in_origins: tuple[str, ...] = ()
    """A static site: the origins its pages may call and post forms to besides their own (the
    sign-in domain), for the Content-Security-Policy."""


class WebSettings(Protocol):
    """The web tier's config as the runtimes read it (``stacks.config.sections.WebConfig``): which
    runtime, and the settings only some runtimes have."""

    @property
    def runtime(self) -> WebRuntime: ...
    @property
    def spot(self) -> bool: ...
    @property
    def cpu_architecture(self) -> CpuArchitecture: ...
    @property
    def allowed_ingress_cidrs(self) -> Sequence[str]: ...
    @property
    def domain_name(self) -> str | None: ...
    @property
    def hosted_zone_id(self) -> str | None: ...
    @property
    def hosted_zone_name(self) -> str | None: ...
    @property
    def waf(self) -> bool: ...
    @property
    def site_source(self) -> str:
        """A static site: the folder of its files."""
        ...


class WebAlarmThresholds(Protocol):
    """The thresholds of the environment's alarms (config's ``AlarmThresholds``) that the
    runtimes' alarms read."""

    @property
    def web_5xx(self) -> float: ...
    @property
    def unhealthy_targets(self) -> float: ...
    @property
    def web_p99_response_ms(self) -> int: ...


@dataclass(frozen=True)
class WebAlarm:
    """One alarm on the runtime, which the platform's monitoring creates on the alerts topic and
    graphs on the dashboard."""

    id_: str
    metric: cloudwatch.IMetric
    threshold: float
    what: str
    """The alarm description: ``<what> at or above <threshold>``."""
    graph: str
    """The dashboard graph's title."""


@runtime_checkable
class WebRuntimeService(Protocol):
    """A built runtime (a construct): what the web stack, its WAF and guard, and the
    monitoring use."""

    rollout: ClassVar[Rollout]
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]]
    """The ``web.release.strategy`` values it runs (config's runtime spec keeps the same set)."""

    @property
    def node(self) -> Node: ...

    @property
    def release(self) -> WebRelease:
        """How it releases, as the web stack's ``Release`` output tells the release tooling."""
        ...

    @property
    def url(self) -> str:
        """The public URL (scheme and host, no trailing slash)."""
        ...

    @property
    def service_id(self) -> str:
        """What the deploy workflow addresses the service by (the ``ServiceId`` output)."""
        ...

    @property
    def runtime_role(self) -> iam.IRole | None:
        """The role the app's code runs with: the stack grants it the secrets and sessions.
        None: the runtime runs no code of the app (a static site)."""
        ...

    @property
    def deletion_protected(self) -> Sequence[ProtectedResource]:
        """What must be unprotected when the stack's first create rolls back (may be empty)."""
        ...

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """Put the web ACL in front of the runtime's public entry point (a runtime whose
        ``traits.web_acl`` is ``STACK``)."""
        ...

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """The runtime's alarms (and dashboard graphs), metrics over ``period``."""
        ...


class WebRuntimeType(Protocol):
    """A runtime's class: what is known before it is built, from names only (the OIDC stack
    holds the deploy role of every environment of an account, not the environment itself)."""

    @property
    def rollout(self) -> Rollout: ...
    @property
    def release_strategies(self) -> frozenset[WebReleaseStrategy]: ...

    def build(
        self, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> WebRuntimeService:
        """The runtime, from the common props and its own settings."""
        ...

    def deploy_permissions(
        self, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """What the environment's deploy role needs beyond deploying stacks and pushing images
        (for ``rollout``)."""
        ...


def refuse_strategy(
    runtime: WebRuntime, supported: frozenset[WebReleaseStrategy], plan: WebReleasePlan | None
) -> None:
    """One line naming the strategy when a runtime cannot release with it (config refuses it
    first; this guards direct construction)."""
    if plan is not None and plan.settings.strategy not in supported:
        offered = ", ".join(sorted(supported))
        raise ValueError(
            f"{runtime} cannot release with {plan.settings.strategy} (it runs: {offered})"
        )


def rolling_release(runtime: WebRuntime) -> WebRelease:
    """A rolling release that no alarm rolls back (a runtime without traffic shifting)."""
    return WebRelease(
        runtime=runtime.value,
        strategy=WebReleaseStrategy.ROLLING.value,
        step_percent=0,
        step_bake_minutes=0,
        bake_minutes=0,
        alarms=(),
    )


def closed_security_group(
    scope: Construct, id_: str, *, vpc: ec2.IVpc, description: str
) -> ec2.SecurityGroup:
    """A group that admits and sends nothing until its owner adds rules."""
    return ec2.SecurityGroup(scope, id_, vpc=vpc, description=description, allow_all_outbound=False)


def https_out_security_group(
    scope: Construct, id_: str, *, vpc: ec2.IVpc, description: str
) -> ec2.SecurityGroup:
    """A group admitting nothing (callers add ingress) and sending only HTTPS: the private API
    (through the execute-api endpoint), Cognito, ECR, Secrets Manager, DynamoDB."""
    group = closed_security_group(scope, id_, vpc=vpc, description=description)
    group.add_egress_rule(
        ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "HTTPS to AWS APIs and the private API"
    )
    return group

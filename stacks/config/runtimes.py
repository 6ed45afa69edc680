"""What config allows on each web runtime: one spec per ``WebRuntime``, nothing else branches.

Adding a runtime: its ``WebRuntime`` member, its row in ``RUNTIME_SPECS`` (the sizes it offers,
its CPU, Spot, domains, release strategies, the preflight checks it needs) and its construct
(the CDK side's ``cdk_constructs/web_runtime/``). Validation, ``WebConfig.cpu_architecture``
and ``make preflight`` read the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cdk_constructs.options import (
    APP_RUNNER_CPU_MEMORY,
    EC2_CPU_MEMORY,
    EXPRESS_CPU_MEMORY,
    FARGATE_CPU_MEMORY,
    ApiKind,
    CpuArchitecture,
    WebReleaseStrategy,
    WebRuntime,
)
from stacks.config.regions import VPC_ORIGIN_REGIONS


@dataclass(frozen=True)
class WebRuntimeSpec:
    """The rules of one web runtime."""

    label: str
    """Its name in messages: ``App Runner``."""
    cpu_memory: Mapping[int, tuple[int, ...]]
    """CPU units -> the memory sizes (MiB) it offers with them."""
    architecture: CpuArchitecture
    """What its on-demand containers run on (and so what the image is built for)."""
    spot_architecture: CpuArchitecture | None
    """What its Spot capacity runs on; None: it has no Spot capacity (``web.spot`` refused)."""
    custom_domain: bool
    """Whether config may give it ``web.domain_name`` (a certificate and alias record)."""
    https_without_domain: bool
    """Whether it serves HTTPS on its own URL; if not, a ``retain_data`` environment needs a
    domain or ``allow_plain_http``."""
    release_strategies: frozenset[WebReleaseStrategy] = frozenset({WebReleaseStrategy.ROLLING})
    """The ``web.release.strategy`` values it can run (its construct's ``release_strategies``,
    which a test keeps equal)."""
    preflight_checks: tuple[str, ...] = ()
    """Names of the ``make preflight`` account checks only this runtime needs."""
    container_shell: bool = False
    """Whether ECS Exec can open a shell in its web container (``operator_access.container_shell``):
    an ECS service this app owns whose tasks it can change."""
    runs_container: bool = True
    """False: it serves files (no image, CPU, Spot or container settings; config refuses them)."""
    behind_cloudfront: bool = False
    """Served by CloudFront, whose certificate and web ACL live in us-east-1 (``EDGE_REGION``)."""
    api_kind: ApiKind = ApiKind.PRIVATE_LAMBDA
    """The API tier it goes with: a container calls the private API from inside the VPC; the
    static site's browser calls the public services API on the site's own origin."""
    restricts_ingress: bool = True
    """Whether it takes ``web.allowed_ingress_cidrs`` (its entry point's security group is the
    platform's); if not, config refuses any but the default."""
    regions: frozenset[str] | None = None
    """The regions it can run in where that is narrower than the platform's; None: all."""

    def cpu_architecture(self, *, spot: bool) -> CpuArchitecture:
        """What a service of this runtime runs on, on Spot capacity or not."""
        return self.spot_architecture if spot and self.spot_architecture else self.architecture

    def offered(self) -> str:
        """Its CPU/memory pairs, as an error line lists them."""
        return "; ".join(
            f"cpu {cpu}: memory {', '.join(map(str, memories))}"
            for cpu, memories in self.cpu_memory.items()
        )


RUNTIME_SPECS: Mapping[WebRuntime, WebRuntimeSpec] = MappingProxyType(
    {
        # https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html:
        # "Fargate Spot only supports Linux tasks with the X86_64 architecture."
        WebRuntime.FARGATE: WebRuntimeSpec(
            label="Fargate",
            cpu_memory=FARGATE_CPU_MEMORY,
            architecture=CpuArchitecture.ARM64,
            spot_architecture=CpuArchitecture.X86_64,
            custom_domain=True,
            https_without_domain=False,
            release_strategies=frozenset(WebReleaseStrategy),
            container_shell=True,
            # A running rolling service takes the blue/green load balancer settings in a rolling
            # deployment before its strategy changes (update-rolling-to-bluegreen.html).
            preflight_checks=("ecs-release-strategy",),
        ),
        # App Runner runs x86_64 only, serves HTTPS on its own URL; its custom domains are
        # linked outside CloudFormation, and it closed to new AWS customers on 2026-04-30.
        WebRuntime.APP_RUNNER: WebRuntimeSpec(
            label="App Runner",
            cpu_memory=APP_RUNNER_CPU_MEMORY,
            architecture=CpuArchitecture.X86_64,
            spot_architecture=None,
            custom_domain=False,
            https_without_domain=True,
            preflight_checks=("app-runner",),
        ),
        # Graviton instances of an EC2 Auto Scaling group behind the platform's ALB
        # (cdk_constructs/web_runtime/ec2.py): the container's CPU and memory pick the T4g type
        # (EC2_INSTANCE_TYPES); domains and CIDRs as on Fargate; on-demand only; rolling
        # releases by the stack update's instance refresh.
        WebRuntime.EC2: WebRuntimeSpec(
            label="EC2",
            cpu_memory=EC2_CPU_MEMORY,
            architecture=CpuArchitecture.ARM64,
            spot_architecture=None,
            custom_domain=True,
            https_without_domain=False,
        ),
        # ECS Express Mode (cdk_constructs/web_runtime/express.py): ARM64 through the task
        # definition of our own; its load balancer is internal in the app subnets, so users reach
        # it through CloudFront and a VPC origin (express_front.py), which holds the domain and
        # the web ACL in us-east-1 as for the static site, in the regions VPC origins serve;
        # the ALB's security group is Express's (no CIDRs); no Spot; its own canary deployment,
        # config's `rolling`.
        WebRuntime.EXPRESS: WebRuntimeSpec(
            label="ECS Express",
            cpu_memory=EXPRESS_CPU_MEMORY,
            architecture=CpuArchitecture.ARM64,
            spot_architecture=None,
            custom_domain=True,
            https_without_domain=True,
            restricts_ingress=False,
            behind_cloudfront=True,
            regions=VPC_ORIGIN_REGIONS,
            preflight_checks=("edge-region-bootstrap", "vpc-origin-zones"),
        ),
        # CloudFront serves HTTPS on its own domain; a custom domain's certificate lives in
        # us-east-1 whatever the environment's region (the web edge stack), as its WAF does.
        WebRuntime.STATIC_SITE: WebRuntimeSpec(
            label="The static site",
            cpu_memory={},
            architecture=CpuArchitecture.ARM64,
            spot_architecture=None,
            custom_domain=True,
            https_without_domain=True,
            preflight_checks=("edge-region-bootstrap",),
            runs_container=False,
            behind_cloudfront=True,
            api_kind=ApiKind.PUBLIC_SERVICES,
        ),
    }
)
"""Every ``WebRuntime`` and its rules."""


def runtime_spec(runtime: WebRuntime) -> WebRuntimeSpec:
    return RUNTIME_SPECS[runtime]


EDGE_REGION = "us-east-1"
"""Where CloudFront's certificates and CLOUDFRONT-scope web ACLs must be
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html)."""


def edge_region(region: str, runtime: WebRuntime, *, domain: bool, waf: bool) -> str | None:
    """The region of the web tier's edge stack (certificate, web ACL), or None when there is
    none: the runtime is not behind CloudFront, needs neither, or the environment is already
    in us-east-1 (they then stay in the web stack)."""
    spec = runtime_spec(runtime)
    needed = spec.behind_cloudfront and (domain or waf) and region != EDGE_REGION
    return EDGE_REGION if needed else None

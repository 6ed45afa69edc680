"""A single-page app's files in a private S3 bucket behind CloudFront, which also routes the
API's stage path (``/api/*``) to the public REST API: the browser calls the API on its own
origin, so no CORS is needed at all.

Runs no code of the app (``runtime_role`` None). Its certificate and WAF web ACL must live in
us-east-1 (``cdk_constructs/edge.py``): away from there they go to a sibling stack
``<name>-edge`` in the same stage, and both stacks use CDK's cross-region references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

from aws_cdk import CfnElement, Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from cdk_constructs.edge import EDGE_REGION, EdgeDomain
from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import retained_log_group
from cdk_constructs.nag import (
    DEPLOY_TIME_FUNCTION,
    LAMBDA_BASIC_EXECUTION,
    acknowledge_all,
    nag_text,
)
from cdk_constructs.options import WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.cdn import (
    access_log_bucket,
    cloudfront_5xx_alarms,
    edge_domain,
    edge_resources,
    platform_distribution,
    private_bucket,
    security_headers_policy,
)
from cdk_constructs.web_runtime.interface import (
    ROLLING_ONLY,
    RuntimeTraits,
    SiteApiOrigin,
    WebAclPlacement,
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    refuse_strategy,
    rolling_release,
)
from cdk_constructs.web_runtime.rollout import Rollout

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Config's folders (``web.site_source``) are relative to the repository root."""
INDEX = "index.html"
CONFIG = "config.json"
"""The runtime config the app fetches at start (client id, sign-in URLs): written per deploy."""
NO_CACHE = "no-cache"
"""Browsers and CloudFront revalidate these files on every load (a 304 while unchanged), so a
deploy shows at once: every file whose name stays the same from one build to the next."""
HASHED_ASSETS = "assets"
"""The folder of a build's content-hashed files (where Vite, Rollup and esbuild write them): a
changed file gets a new name, so caches may keep each one for a year."""
IMMUTABLE = "public, max-age=31536000, immutable"
DEFAULT_TTL = Duration.days(1)
"""CloudFront's hold on an object without Cache-Control (the deployments upload none such)."""
DEPLOYMENT_MEMORY_MB = 512
API_MAX_TTL = Duration.seconds(1)
"""CloudFront refuses headers in the cache key of a policy whose TTLs are all 0 (caching off),
and Authorization reaches the origin only through the cache key; default and minimum 0 mean an
API answer is never held unless the API says so, and then 1 s at most."""
SPA_REWRITE = """\
function handler(event) {
  var request = event.request;
  var last = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""
"""Viewer-request function of the files' behavior only: a path whose last segment has no
extension is a route of the app, served its index.html. Custom error responses would do the
same but apply to every behavior of a distribution, so they would turn the API's 403 and 404
into the page (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/GeneratingCustomErrorResponses.html:
error pages are set per distribution)."""


def content_security_policy(sign_in_origins: Sequence[str]) -> str:
    """Own origin only, plus the sign-in domain for the token calls and the sign-in forms."""
    others = "".join(f" {origin}" for origin in sign_in_origins)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{others}; form-action 'self'{others}; frame-ancestors 'none'; "
        "base-uri 'self'; object-src 'none'"
    )


@dataclass(frozen=True, kw_only=True)
class SiteOptions:
    """What only the static site takes (besides ``WebRuntimeProps``)."""

    source: Path
    """The folder of the site's files."""
    domain: EdgeDomain | None = None
    waf: bool = False


class StaticSite(Construct):
    """The bucket (private, SSE-S3, reachable only by this distribution through origin access
    control), the distribution (TLS 1.2+, HTTP/2 and 3, security headers, access logs), the
    files' deployment and, optionally, the domain and the WAF ACL.

    SSE-S3, not the environment's KMS key: with SSE-KMS the key's policy must admit CloudFront
    for this distribution's ARN, and the key lives in the network stack, built before this one
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html#create-oac-overview-s3).

    Alarms: CloudFront publishes its metrics in us-east-1 only
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/programming-cloudwatch-metrics.html),
    so ``alarm_sources`` gives the 5XX responses there and nothing elsewhere; the health canary's
    alarm covers the site in every region.
    """

    rollout: ClassVar[Rollout] = Rollout.CLOUDFORMATION
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]] = ROLLING_ONLY
    traits: ClassVar[RuntimeTraits] = RuntimeTraits(
        runs_container=False, web_acl=WebAclPlacement.RUNTIME, edge_region=EDGE_REGION
    )
    release = rolling_release(WebRuntime.STATIC_SITE)
    runtime_role: iam.IRole | None = None
    """It runs none of the app's code."""
    deletion_protected: Sequence[ProtectedResource] = ()

    def __init__(
        self, scope: Construct, id_: str, *, props: WebRuntimeProps, options: SiteOptions
    ) -> None:
        super().__init__(scope, id_)
        refuse_strategy(WebRuntime.STATIC_SITE, self.release_strategies, props.release)
        if not options.source.is_dir():
            raise ValueError(f"the site's source {options.source} is not a folder")
        stack = Stack.of(self)
        self.edge = edge_resources(self, props, domain=options.domain, waf=options.waf)
        self.bucket = private_bucket(
            self,
            "Files",
            removal_policy=props.removal_policy,
            ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            no_access_log_why="CloudFront's access logs record every viewer request of the "
            "site's files",
        )
        self.access_logs = access_log_bucket(
            self, "AccessLogs", removal_policy=props.removal_policy
        )
        self.headers = security_headers_policy(
            self,
            "Headers",
            comment="Security headers of the site and its API",
            content_security_policy=content_security_policy(props.sign_in_origins),
        )
        self.spa_rewrite = cloudfront.Function(
            self,
            "SpaRewrite",
            code=cloudfront.FunctionCode.from_inline(SPA_REWRITE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="App routes (no file extension) get index.html",
        )
        domain = options.domain
        self.distribution = platform_distribution(
            self,
            "Distribution",
            comment=props.name,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=self._files_cache_policy(),
                response_headers_policy=self.headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self.spa_rewrite,
                        event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    )
                ],
            ),
            additional_behaviors=self._api_behaviors(props.site_api),
            default_root_object=INDEX,
            edge=self.edge,
            domain=domain,
            access_logs=self.access_logs,
            origins_why="Origins are S3 (OAC, SigV4) and the API over HTTPS with TLSv1.2 only.",
        )
        self._deploy(props, options.source)
        self.service_id: str = self.distribution.distribution_id
        self.url: str = (
            f"https://{domain.domain_name}"
            if domain
            else f"https://{self.distribution.distribution_domain_name}"
        )
        self._in_metrics_region = stack.region == EDGE_REGION

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> StaticSite:
        """The site from config: its files' folder, the domain and the WAF."""
        options = SiteOptions(
            source=REPO_ROOT / settings.site_source,
            domain=edge_domain(settings),
            waf=settings.waf,
        )
        return cls(scope, id_, props=props, options=options)

    @classmethod
    def deploy_permissions(
        cls, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """None: the stack update uploads the files and invalidates the cache."""
        return ()

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """Never called: a CloudFront ACL is of the CLOUDFRONT scope and built by this runtime
        (``traits.web_acl``)."""
        raise TypeError("the static site builds its own CloudFront web ACL (web.waf)")

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """CloudFront's 5XX responses (in us-east-1, where its metrics are)."""
        return cloudfront_5xx_alarms(
            self.distribution, thresholds, period=period, in_metrics_region=self._in_metrics_region
        )

    def _files_cache_policy(self) -> cloudfront.CachePolicy:
        """The objects' own Cache-Control rules (minimum TTL 0, so ``no-cache`` revalidates)."""
        return cloudfront.CachePolicy(
            self,
            "FilesCache",
            comment="Site files: the objects' Cache-Control, compressed",
            min_ttl=Duration.seconds(0),
            default_ttl=DEFAULT_TTL,
            max_ttl=Duration.days(365),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )

    def _api_behaviors(
        self, site_api: SiteApiOrigin | None
    ) -> Mapping[str, cloudfront.BehaviorOptions] | None:
        """``/<stage>/*`` to the API, path kept (``/api/items`` is stage ``api``, ``/items``).

        Authorization must be in the cache key to reach the origin: CloudFront refuses it in an
        origin request policy (https://repost.aws/knowledge-center/cloudfront-authorization-header);
        every other viewer header but Host (API Gateway needs its own) goes through the managed
        origin request policy."""
        if site_api is None:
            return None
        cache = cloudfront.CachePolicy(
            self,
            "ApiCache",
            comment="API: per token and query, held only when the API allows it",
            min_ttl=Duration.seconds(0),
            default_ttl=Duration.seconds(0),
            max_ttl=API_MAX_TTL,
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization"),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )
        origin = origins.HttpOrigin(
            site_api.domain_name,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        return {
            f"/{site_api.stage_name}/*": cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy=self.headers,
            )
        }

    def _deploy(self, props: WebRuntimeProps, source: Path) -> None:
        """Upload the content-hashed files under ``assets/`` if any (kept a year; never pruned, so
        a page loaded before the deploy still finds its files), then every other file and
        ``config.json`` (``no-cache``; earlier files pruned) and invalidate every path."""
        log_group = retained_log_group(self, "DeploymentLogs", settings=props)
        hashed = f"{HASHED_ASSETS}/*"
        assets = None
        if (source / HASHED_ASSETS).is_dir():
            assets = s3_deployment.BucketDeployment(
                self,
                "DeployAssets",
                destination_bucket=self.bucket,
                sources=[s3_deployment.Source.asset(str(source))],
                exclude=["*"],
                include=[hashed],
                prune=False,
                cache_control=[s3_deployment.CacheControl.from_string(IMMUTABLE)],
                memory_limit=DEPLOYMENT_MEMORY_MB,
                log_group=log_group,
            )
        entry = s3_deployment.BucketDeployment(
            self,
            "DeployEntry",
            destination_bucket=self.bucket,
            sources=[
                s3_deployment.Source.asset(str(source)),
                s3_deployment.Source.json_data(CONFIG, dict(props.environment)),
            ],
            # Excluded files are neither uploaded nor pruned (aws s3 sync --exclude).
            exclude=[hashed],
            prune=True,
            cache_control=[s3_deployment.CacheControl.from_string(NO_CACHE)],
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=DEPLOYMENT_MEMORY_MB,
            log_group=log_group,
        )
        if assets is not None:
            # The hashed files exist before the files that name them.
            entry.node.add_dependency(assets)
        self._acknowledge_deployment(entry)

    def _acknowledge_deployment(self, entry: s3_deployment.BucketDeployment) -> None:
        """The findings of CDK's deployment function (one per stack, shared by both
        deployments), each by name: its grants are CDK's, on the asset bucket and this one."""
        function = entry.handler_role.node.scope
        assert isinstance(function, Construct)
        stack = Stack.of(self)
        policy = entry.handler_role.node.find_child("DefaultPolicy")
        assert isinstance(policy, iam.Policy)
        statements = stack.resolve(policy.document.to_json())["Statement"]
        asset_objects = sorted(
            {
                resource
                for statement in statements
                for resource in _as_list(statement["Resource"])
                if isinstance(resource, str) and resource.endswith("/*")
            }
        )
        files_id = stack.get_logical_id(cast(CfnElement, self.bucket.node.default_child))
        why = (
            "CDK's BucketDeployment function, run by CloudFormation on deploy: it copies the "
            "site's asset into this bucket and invalidates this distribution."
        )
        acknowledge_all(
            function,
            [
                (f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]", why),
                *(
                    (f"AwsSolutions-IAM5[Action::s3:{action}]", f"{why} CDK's object grants.")
                    for action in ("GetBucket*", "GetObject*", "List*", "Abort*", "DeleteObject*")
                ),
                *(
                    (f"AwsSolutions-IAM5[Resource::{nag_text(stack, resource)}]", why)
                    for resource in asset_objects
                ),
                (f"AwsSolutions-IAM5[Resource::<{files_id}.Arn>/*]", f"{why} Any file's key."),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    f"{why} CDK grants the two invalidation actions on every distribution.",
                ),
                ("AwsSolutions-L1", f"{why} Its runtime is CDK's choice."),
                ("Serverless-LambdaLatestVersion", f"{why} Its runtime is CDK's choice."),
                ("Serverless-LambdaDLQ", "Invoked by CloudFormation, which keeps the event."),
                ("Serverless-LambdaTracing", "One copy per deploy; nothing to trace."),
                *DEPLOY_TIME_FUNCTION,
            ],
        )


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]

"""What every runtime served by CloudFront shares (the static site, Express's front): the edge
resources in us-east-1, the private buckets, the security headers, the alias records, the nag
findings of a distribution and its 5XX alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Environment, RemovalPolicy, Stack, Stage, Token
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.edge import EDGE_REGION, EdgeDomain, EdgeResources
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.web_runtime.interface import (
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
)

ACCESS_LOG_EXPIRY = Duration.days(90)
HSTS_MAX_AGE = Duration.days(730)
"""Two years, as the HSTS preload list asks (https://hstspreload.org/#deployment-recommendations)."""
LOGS_WHY = (
    "This bucket holds CloudFront's access logs; logging access to it would need yet another "
    "bucket."
)


def edge_domain(settings: WebSettings) -> EdgeDomain | None:
    """The configured domain and its zone, or None (config requires the zone with a domain)."""
    if settings.domain_name and settings.hosted_zone_id and settings.hosted_zone_name:
        return EdgeDomain(settings.domain_name, settings.hosted_zone_id, settings.hosted_zone_name)
    return None


def edge_resources(
    scope: Construct, props: WebRuntimeProps, *, domain: EdgeDomain | None, waf: bool
) -> EdgeResources:
    """The certificate and ACL in ``scope`` in us-east-1, else in the sibling stack
    ``<name>-edge`` there (none when there is neither: CloudFormation deploys no empty stack)."""
    stack = Stack.of(scope)
    home: Construct = scope
    needed = domain is not None or waf
    separate = needed and not Token.is_unresolved(stack.region) and stack.region != EDGE_REGION
    if separate:
        stage = Stage.of(scope)
        if stage is None:
            raise ValueError("a CloudFront runtime outside us-east-1 needs a Stage for its edge")
        home = Stack(
            stage,
            "WebEdge",
            stack_name=f"{props.name}-edge",
            description=f"{props.name}: the CloudFront certificate and web ACL (us-east-1)",
            env=Environment(account=stack.account, region=EDGE_REGION),
            cross_region_references=True,
            termination_protection=stack.termination_protection,
            analytics_reporting=False,
        )
    return EdgeResources(
        home,
        "Edge",
        name=props.name,
        domain=domain,
        waf=waf,
        log_retention=props.log_retention,
        removal_policy=props.removal_policy,
        own_log_key=separate and props.log_key is not None,
    )


def private_bucket(
    scope: Construct,
    id_: str,
    *,
    removal_policy: RemovalPolicy,
    ownership: s3.ObjectOwnership,
    no_access_log_why: str,
    expire: bool = False,
) -> s3.Bucket:
    """Private, SSE-S3, TLS only; ``expire``: a log bucket whose objects expire."""
    bucket = s3.Bucket(
        scope,
        id_,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=ownership,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=ACCESS_LOG_EXPIRY if expire else None,
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
    )
    acknowledge(bucket, "AwsSolutions-S1", no_access_log_why)
    return bucket


def access_log_bucket(scope: Construct, id_: str, *, removal_policy: RemovalPolicy) -> s3.Bucket:
    """Where a distribution's standard logs go. CloudFront's standard logging (legacy) writes
    with an ACL grant to its log delivery account, so the bucket must take ACLs; v2 logging has
    no CDK L2 and its delivery source must be in us-east-1
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/AccessLogs.html)."""
    bucket = private_bucket(
        scope,
        id_,
        removal_policy=removal_policy,
        ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        no_access_log_why=LOGS_WHY,
        expire=True,
    )
    acknowledge_all(
        bucket,
        [
            (f"{NIST}S3BucketLoggingEnabled", LOGS_WHY),
            (
                f"{NIST}S3BucketReplicationEnabled",
                "Access logs that expire in 90 days and restore nothing: a copy in another "
                "region would double their storage for no recovery objective.",
            ),
            (
                f"{NIST}S3BucketVersioningEnabled",
                "CloudFront only adds log files; they expire in 90 days and nothing rewrites them.",
            ),
            (
                f"{NIST}S3DefaultEncryptionKMS",
                "SSE-S3: with SSE-KMS the key's policy must admit CloudFront's log delivery, and "
                "the environment's key lives in the network stack, built before this one.",
            ),
        ],
    )
    return bucket


def security_headers_policy(
    scope: Construct, id_: str, *, comment: str, content_security_policy: str | None = None
) -> cloudfront.ResponseHeadersPolicy:
    """HSTS (2 years, subdomains, preload), no framing, no sniffing, the referrer policy and,
    when given, the Content-Security-Policy."""
    csp = (
        cloudfront.ResponseHeadersContentSecurityPolicy(
            content_security_policy=content_security_policy, override=True
        )
        if content_security_policy
        else None
    )
    return cloudfront.ResponseHeadersPolicy(
        scope,
        id_,
        comment=comment,
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE,
                include_subdomains=True,
                preload=True,
                override=True,
            ),
            content_security_policy=csp,
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                override=True,
            ),
        ),
    )


def alias_records(
    scope: Construct, domain: EdgeDomain, distribution: cloudfront.IDistribution
) -> None:
    """A and AAAA alias records of the domain to the distribution (IPv6 is on)."""
    zone = domain.zone(scope, "Zone")
    target = route53.RecordTarget.from_alias(route53_targets.CloudFrontTarget(distribution))
    route53.ARecord(scope, "Alias", zone=zone, record_name=domain.domain_name, target=target)
    route53.AaaaRecord(scope, "AliasIpv6", zone=zone, record_name=domain.domain_name, target=target)


def platform_distribution(
    scope: Construct,
    id_: str,
    *,
    comment: str,
    default_behavior: cloudfront.BehaviorOptions,
    edge: EdgeResources,
    domain: EdgeDomain | None,
    access_logs: s3.IBucket,
    origins_why: str,
    additional_behaviors: Mapping[str, cloudfront.BehaviorOptions] | None = None,
    default_root_object: str | None = None,
) -> cloudfront.Distribution:
    """A distribution with the platform's settings: the edge's certificate and web ACL, TLS 1.2
    (2021 policy) with a domain, HTTP/2 and 3, the cheapest price class (North America and
    Europe edges; others are served from them), standard logs to ``access_logs``; its nag
    findings acknowledged and, with a domain, its alias records."""
    distribution = cloudfront.Distribution(
        scope,
        id_,
        comment=comment,
        default_behavior=default_behavior,
        additional_behaviors=additional_behaviors,
        default_root_object=default_root_object,
        certificate=edge.certificate,
        domain_names=[domain.domain_name] if domain else None,
        # Only a certificate of one's own takes a security policy (the default one's is fixed).
        minimum_protocol_version=(
            cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if domain else None
        ),
        http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        enable_logging=True,
        log_bucket=access_logs,
        log_file_prefix="cloudfront/",
        web_acl_id=edge.web_acl.arn if edge.web_acl else None,
    )
    acknowledge_distribution(
        distribution, origins_why=origins_why, has_domain=domain is not None, waf=bool(edge.web_acl)
    )
    if domain is not None:
        alias_records(scope, domain, distribution)
    return distribution


def acknowledge_distribution(
    distribution: cloudfront.Distribution, *, origins_why: str, has_domain: bool, waf: bool
) -> None:
    """The nag findings every one of the platform's distributions has, each with its reason."""
    findings: list[tuple[str, str]] = [
        (
            "AwsSolutions-CFR1",
            "A public site for its users wherever they are; no country is excluded.",
        ),
        ("AwsSolutions-CFR5", origins_why),
    ]
    if not waf:
        findings.append(("AwsSolutions-CFR2", "web.waf is off for this environment (config)."))
    if not has_domain:
        findings.append(
            (
                "AwsSolutions-CFR4",
                "Without a domain CloudFront serves its *.cloudfront.net certificate, whose "
                "security policy CloudFront fixes (TLSv1); a domain gets TLSv1.2_2021.",
            )
        )
    acknowledge_all(distribution, findings)


def cloudfront_5xx_alarms(
    distribution: cloudfront.Distribution,
    thresholds: WebAlarmThresholds,
    *,
    period: Duration,
    in_metrics_region: bool,
    id_: str = "Web5xx",
) -> Sequence[WebAlarm]:
    """5XX responses (requests x 5xxErrorRate) where the metrics exist: CloudFront publishes
    them in us-east-1 only
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/programming-cloudwatch-metrics.html);
    elsewhere the health canary's alarm covers the distribution."""
    if not in_metrics_region:
        return ()
    five_xx = cloudwatch.MathExpression(
        expression="FILL(requests, 0) * FILL(rate, 0) / 100",
        using_metrics={
            "requests": distribution.metric_requests(period=period, statistic="Sum"),
            "rate": distribution.metric5xx_error_rate(period=period, statistic="Average"),
        },
        label="CloudFront 5XX",
        period=period,
    )
    return (WebAlarm(id_, five_xx, thresholds.web_5xx, "CloudFront 5XX", "CloudFront 5XX"),)

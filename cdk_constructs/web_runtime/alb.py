"""What the runtimes behind the platform's own internet-facing ALB share (Fargate, EC2): the
access-log bucket, the load balancer and its security group, the production listener with its
certificate, HTTP redirect and alias, the deletion-protection guard, the metrics, and the release
alarms that roll a release back.

Every function takes the runtime construct as ``scope`` and keeps the construct ids the Fargate
runtime always had, so moving them here changed no template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import ProtectedKind
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_runtime.interface import HTTPS_PORT, WebRuntimeProps, WebSettings

HTTP_PORT = 80
ACCESS_LOG_EXPIRY = Duration.days(90)
ELB = "AWS/ApplicationELB"
SYNTHETICS = "CloudWatchSynthetics"
ALARM_PERIOD = Duration.minutes(1)
ALARM_EVALUATION_PERIODS, ALARM_DATAPOINTS = 3, 2
"""Two bad minutes out of three roll a release back."""
CANARY_PERIOD = Duration.minutes(5)
"""One canary run lands in one such period: a failed run holds the alarm for at least 5 minutes."""


@dataclass(frozen=True)
class PublicDomain:
    """A name in a Route 53 zone: the ALB gets a DNS-validated certificate and an alias."""

    domain_name: str
    hosted_zone: route53.IHostedZone


def public_domain(scope: Construct, settings: WebSettings) -> PublicDomain | None:
    """The configured domain and its zone (imported as ``Zone`` in ``scope``), or None."""
    if not (settings.domain_name and settings.hosted_zone_id and settings.hosted_zone_name):
        return None
    return PublicDomain(
        domain_name=settings.domain_name,
        hosted_zone=route53.HostedZone.from_hosted_zone_attributes(
            scope,
            "Zone",
            hosted_zone_id=settings.hosted_zone_id,
            zone_name=settings.hosted_zone_name,
        ),
    )


def access_log_bucket(scope: Construct, props: WebRuntimeProps) -> s3.Bucket:
    """The ALB's access logs (``AccessLogs``): SSE-S3, versioned, expiring after 90 days."""
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,  # what ALB log delivery supports
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        # Versioned: a deleted or overwritten log stays recoverable for as long again (an
        # audit trail); the expiration of a current version also clears its delete marker.
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=ACCESS_LOG_EXPIRY,
                noncurrent_version_expiration=ACCESS_LOG_EXPIRY,
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=props.removal_policy,
        auto_delete_objects=props.removal_policy == RemovalPolicy.DESTROY,
    )
    self_logging = (
        "This bucket holds the ALB's access logs; logging access to the log bucket itself "
        "would need yet another bucket."
    )
    acknowledge_all(
        bucket,
        [
            ("AwsSolutions-S1", self_logging),
            (f"{NIST}S3BucketLoggingEnabled", self_logging),
            (
                f"{NIST}S3BucketReplicationEnabled",
                "Access logs that expire in 90 days and restore nothing: a copy in another "
                "region would double their storage for no recovery objective.",
            ),
            (
                f"{NIST}S3DefaultEncryptionKMS",
                "ALB access-log delivery writes to SSE-S3 buckets only (EXCEPTIONS.md).",
            ),
        ],
    )
    return bucket


def listener_ports(domain: PublicDomain | None) -> tuple[int, ...]:
    """The production ports: 80 (a redirect with a domain) and 443 with a domain."""
    return (HTTP_PORT, HTTPS_PORT) if domain is not None else (HTTP_PORT,)


def alb_security_group(
    scope: Construct, *, vpc: ec2.IVpc, cidrs: Sequence[str], ports: Sequence[int]
) -> ec2.SecurityGroup:
    """``AlbSecurityGroup``: ``ports`` from each allowed CIDR, nothing else; it sends only what
    its owner allows towards the targets."""
    group = ec2.SecurityGroup(
        scope,
        "AlbSecurityGroup",
        vpc=vpc,
        description="Public ALB: HTTP(S) from the allowed CIDRs only",
        allow_all_outbound=False,
    )
    for cidr in cidrs:
        for port in ports:
            group.add_ingress_rule(
                ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"Port {port} from {cidr}"
            )
    acknowledge(
        group,
        "AwsSolutions-EC23",
        "The public entry point of the web tier: it admits the configured CIDRs (the whole "
        "internet by default) on its listener ports only (80/443, and Fargate's release test "
        "port).",
    )
    return group


def internet_facing_alb(
    scope: Construct,
    props: WebRuntimeProps,
    *,
    security_group: ec2.ISecurityGroup,
    access_logs: s3.IBucket,
) -> elbv2.ApplicationLoadBalancer:
    """``LoadBalancer`` in the public subnets: drops invalid headers, logs to ``access_logs``,
    deletion-protected where the props say so."""
    load_balancer = elbv2.ApplicationLoadBalancer(
        scope,
        "LoadBalancer",
        vpc=props.vpc,
        vpc_subnets=props.public_subnets,
        internet_facing=True,
        security_group=security_group,
        drop_invalid_header_fields=True,
        deletion_protection=props.deletion_protection,
    )
    load_balancer.log_access_logs(access_logs, prefix="alb")
    return load_balancer


@dataclass(frozen=True)
class ProductionListener:
    """The listener that serves the public URL, and what a domain adds."""

    url: str
    """``https://<domain>`` with a domain, else ``http://<the ALB's DNS name>``."""
    listener: elbv2.ApplicationListener
    certificate: acm.Certificate | None = None
    alias: route53.ARecord | None = None


def production_listener(
    scope: Construct,
    load_balancer: elbv2.ApplicationLoadBalancer,
    target_group: elbv2.IApplicationTargetGroup,
    domain: PublicDomain | None,
) -> ProductionListener:
    """Plain HTTP without a domain; with one, HTTPS (TLS 1.2+) on a DNS-validated certificate,
    port 80 redirecting to it, and an alias record. The listener only forwards."""
    if domain is None:
        listener = load_balancer.add_listener(
            "Http", port=HTTP_PORT, open=False, default_target_groups=[target_group]
        )
        return ProductionListener(f"http://{load_balancer.load_balancer_dns_name}", listener)
    certificate = acm.Certificate(
        scope,
        "Certificate",
        domain_name=domain.domain_name,
        validation=acm.CertificateValidation.from_dns(domain.hosted_zone),
    )
    listener = load_balancer.add_listener(
        "Https",
        port=HTTPS_PORT,
        open=False,
        certificates=[certificate],
        ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        default_target_groups=[target_group],
    )
    redirect = load_balancer.add_redirect(source_port=HTTP_PORT, target_port=HTTPS_PORT, open=False)
    acknowledge(
        redirect,
        f"{NIST}ELBv2ACMCertificateRequired",
        "This port-80 listener only redirects to the HTTPS listener, which serves the ACM "
        "certificate; nothing is served over HTTP (EXCEPTIONS.md).",
    )
    alias = route53.ARecord(
        scope,
        "Alias",
        zone=domain.hosted_zone,
        record_name=domain.domain_name,
        target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(load_balancer)),
    )
    return ProductionListener(f"https://{domain.domain_name}", listener, certificate, alias)


def protected_balancer(
    load_balancer: elbv2.ApplicationLoadBalancer, props: WebRuntimeProps
) -> tuple[ProtectedResource, ...]:
    """The ALB for the rollback guard, where it is deletion-protected."""
    if not props.deletion_protection:
        return ()
    arn = load_balancer.load_balancer_arn
    alb = cast(CfnResource, load_balancer.node.default_child)
    return (ProtectedResource("LoadBalancer", alb, ProtectedKind.LOAD_BALANCER, arn, arn),)


def elb_metric(
    balancer_full_name: str,
    metric: str,
    statistic: str,
    period: Duration,
    group: elbv2.ApplicationTargetGroup | None = None,
) -> cloudwatch.Metric:
    """An ALB metric, of one target group or of the whole balancer. Built by hand: CDK's target
    group metrics parse the balancer's name out of a listener ARN (Fn::Split), which a
    cross-stack reference (the ops stack's alarms) cannot feed."""
    group_dimension = {} if group is None else {"TargetGroup": group.target_group_full_name}
    return cloudwatch.Metric(
        namespace=ELB,
        metric_name=metric,
        dimensions_map={"LoadBalancer": balancer_full_name, **group_dimension},
        statistic=statistic,
        period=period,
    )


def web_5xx(load_balancer: elbv2.ApplicationLoadBalancer, period: Duration) -> cloudwatch.IMetric:
    """5XX answered by the ALB itself plus those of its targets, per ``period``."""
    elb_5xx = load_balancer.metrics.http_code_elb(
        elbv2.HttpCodeElb.ELB_5XX_COUNT, period=period, statistic="Sum"
    )
    target_5xx = load_balancer.metrics.http_code_target(
        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
    )
    return cloudwatch.MathExpression(
        expression="FILL(elb, 0) + FILL(target, 0)",
        using_metrics={"elb": elb_5xx, "target": target_5xx},
        label="ALB + target 5XX",
        period=period,
    )


def release_alarms(
    scope: Construct,
    props: WebRuntimeProps,
    *,
    balancer_full_name: str,
    groups: Sequence[tuple[str, elbv2.ApplicationTargetGroup]],
    reader: str,
) -> dict[str, cloudwatch.Alarm]:
    """``<name>-release-<what>`` (literal names, so the ``Release`` output lists them): the
    target 5XX rate, p99 response time, unhealthy hosts of each of ``groups`` (``(colour,
    group)``: ``unhealthy-<colour>``, or ``unhealthy`` for an empty colour), the canary. No
    traffic is no failure (missing data does not breach); none notifies (the ops stack's alarms
    do). ``reader``: who reads them to roll back, for the acknowledgement."""
    if props.release is None:
        return {}
    thresholds = props.release.thresholds

    def elb(metric: str, statistic: str) -> cloudwatch.Metric:
        return elb_metric(balancer_full_name, metric, statistic, ALARM_PERIOD)

    rate = cloudwatch.MathExpression(
        expression="100 * FILL(errors, 0) / requests",
        using_metrics={
            "errors": elb("HTTPCode_Target_5XX_Count", "Sum"),
            "requests": elb("RequestCount", "Sum"),
        },
        label="Target 5XX (% of requests)",
        period=ALARM_PERIOD,
    )
    specs: list[tuple[str, cloudwatch.IMetric, float, str]] = [
        ("5xx-rate", rate, thresholds.web_target_5xx_rate_percent, "target 5XX %"),
        (
            "p99",
            elb("TargetResponseTime", "p99"),
            thresholds.web_p99_response_ms / 1000,  # the metric is in seconds
            "target response time p99 (s)",
        ),
    ]
    for colour, group in groups:
        unhealthy = elb_metric(
            balancer_full_name, "UnHealthyHostCount", "Maximum", ALARM_PERIOD, group
        )
        what, described = (
            (f"unhealthy-{colour}", f"unhealthy targets ({colour})")
            if colour
            else ("unhealthy", "unhealthy targets")
        )
        specs.append((what, unhealthy, 1, described))
    alarms = {
        f"{props.name}-release-{what}": cloudwatch.Alarm(
            scope,
            alarm_id(what),
            alarm_name=f"{props.name}-release-{what}",
            alarm_description=f"Rolls a web release back: {description} >= {threshold:g}",
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=ALARM_EVALUATION_PERIODS,
            datapoints_to_alarm=ALARM_DATAPOINTS,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for what, metric, threshold, description in specs
    }
    if props.canary_name is not None:
        name = f"{props.name}-release-canary"
        alarms[name] = _canary_alarm(scope, name, props.canary_name)
    no_action = (
        f"{reader} reads this alarm's state to roll a web release back; it notifies no one (the "
        "ops stack's alarms notify the alerts topic, which this stack must not depend on)."
    )
    for alarm in alarms.values():
        acknowledge(alarm, f"{NIST}CloudWatchAlarmAction", no_action)
    return alarms


def _canary_alarm(scope: Construct, alarm_name: str, canary_name: str) -> cloudwatch.Alarm:
    """Any failed canary run: by the canary's name, so nothing here refers to the canary, which
    the web stack builds after the runtime."""
    return cloudwatch.Alarm(
        scope,
        alarm_id("canary"),
        alarm_name=alarm_name,
        alarm_description="Rolls a web release back: a failed health canary run",
        metric=cloudwatch.Metric(
            namespace=SYNTHETICS,
            metric_name="SuccessPercent",
            dimensions_map={"CanaryName": canary_name},
            statistic="Average",
            period=CANARY_PERIOD,
        ),
        threshold=100,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def alarm_id(what: str) -> str:
    """``5xx-rate`` -> ``5xxRateAlarm``: the construct id of a release alarm."""
    return "".join(part.capitalize() for part in what.split("-")) + "Alarm"

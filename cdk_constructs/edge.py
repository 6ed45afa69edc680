"""What a CloudFront distribution needs in us-east-1: its ACM certificate and its WAF web ACL.

CloudFront takes a certificate only from ACM in us-east-1 and a web ACL only of scope
``CLOUDFRONT``, which exists in us-east-1 only:
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html
("the certificate must be requested in US East (N. Virginia)") and
https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html
("for CloudFront, ... you must create the web ACL ... in US East (N. Virginia)").
Its WAF request log group lives there too (a CloudFront ACL logs only in us-east-1).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk_constructs.logging import admit_log_groups
from cdk_constructs.web_acl import LOG_GROUP_PREFIX, REDACTED_HEADERS, visibility, web_acl_rules

EDGE_REGION = "us-east-1"
CLOUDFRONT_SCOPE = "CLOUDFRONT"
"""The WAFv2 scope of a web ACL in front of CloudFront (``RegionalWebAcl`` builds REGIONAL)."""


@dataclass(frozen=True)
class EdgeDomain:
    """A name in a Route 53 zone that the distribution answers to."""

    domain_name: str
    hosted_zone_id: str
    hosted_zone_name: str

    def zone(self, scope: Construct, id_: str) -> route53.IHostedZone:
        """The zone, imported by id and name (no lookup: synth stays offline)."""
        return route53.HostedZone.from_hosted_zone_attributes(
            scope, id_, hosted_zone_id=self.hosted_zone_id, zone_name=self.hosted_zone_name
        )


class EdgeWebAcl(Construct):
    """A CLOUDFRONT-scope web ACL with ``RegionalWebAcl``'s rules (per-IP rate limit first, then
    the AWS managed groups) and its request log, Authorization and Cookie redacted.

    ``log_key``: encrypts the ``aws-waf-logs-<name>`` group (a key of this stack's region that
    admits it); None leaves the group to the environment's policies (same region) or unencrypted.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        log_key: kms.IKey | None = None,
        rate_limit_per_5_minutes: int = 1000,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        if not Token.is_unresolved(stack.region) and stack.region != EDGE_REGION:
            raise ValueError(
                f"a CloudFront web ACL must be created in {EDGE_REGION}, not {stack.region}"
            )
        rules = web_acl_rules(rate_limit_per_5_minutes)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope=CLOUDFRONT_SCOPE,
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=visibility(name),
        )
        log_group_name = f"{LOG_GROUP_PREFIX}{name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name,
            retention=log_retention,
            removal_policy=removal_policy,
            encryption_key=log_key,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            # WAF wants the group's own ARN; the LogGroup's Arn attribute ends in ":*".
            log_destination_configs=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
        self.logging.node.add_dependency(self.log_group)

    @property
    def arn(self) -> str:
        """What a distribution's ``web_acl_id`` takes for WAFv2."""
        return self.web_acl.attr_arn


class EdgeResources(Construct):
    """The certificate (DNS-validated in the zone) and the ACL of one distribution, in a stack
    of ``EDGE_REGION``: the web stack itself there, else the runtime's sibling edge stack.

    ``own_log_key``: this stack is away from the environment's key (a KMS key serves its own
    region only), so it makes a key of its own for the ACL's log group; else the environment's
    policies give that group the environment's key (or none, without ``security.encrypt_logs``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        domain: EdgeDomain | None,
        waf: bool,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        own_log_key: bool,
    ) -> None:
        super().__init__(scope, id_)
        self.certificate: acm.ICertificate | None = None
        if domain is not None:
            self.certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=domain.domain_name,
                validation=acm.CertificateValidation.from_dns(domain.zone(self, "Zone")),
            )
        self.log_key: kms.Key | None = None
        self.web_acl: EdgeWebAcl | None = None
        if waf:
            if own_log_key:
                self.log_key = kms.Key(
                    self,
                    "LogKey",
                    description=f"{name}: the CloudFront web ACL's request log",
                    enable_key_rotation=True,
                    pending_window=Duration.days(7),
                    removal_policy=removal_policy,
                )
                admit_log_groups(self.log_key, name_patterns=[f"{LOG_GROUP_PREFIX}{name}"])
            self.web_acl = EdgeWebAcl(
                self,
                "WebAcl",
                name=name,
                log_retention=log_retention,
                removal_policy=removal_policy,
                log_key=self.log_key,
            )

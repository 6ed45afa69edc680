"""A regional WAFv2 web ACL: AWS managed rules, a per-IP rate limit, logs in CloudWatch."""

from __future__ import annotations

import re
from enum import StrEnum

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk_constructs.logging import retained_log_group

LOG_GROUP_PREFIX = "aws-waf-logs-"
"""WAF delivers to CloudWatch Logs only into log groups whose name starts with this."""
RATE_LIMIT_RANGE = range(10, 2_000_000_001)
"""Requests per 5 minutes that WAF accepts as a rate-based rule's limit."""
_NAME = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
REDACTED_HEADERS = ("authorization", "cookie")
"""Credentials never reach the logs."""
REGIONAL_SCOPE = "REGIONAL"
"""ALB, API Gateway, App Runner, Cognito: resources in the stack's region (the one scope this
construct builds; CloudFront's is global)."""


class ManagedRuleGroup(StrEnum):
    """AWS managed rule groups (vendor ``AWS``), evaluated in this order after the rate limit."""

    IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
    """Sources Amazon threat intelligence knows as bots or attackers: cheapest group, so first."""
    COMMON = "AWSManagedRulesCommonRuleSet"
    """OWASP-style protections: oversized bodies, XSS, bad user agents, path traversal."""
    KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
    """Request patterns of known exploits (Log4j, Java deserialization, ...)."""


AWS_VENDOR = "AWS"
BY_SOURCE_IP = "IP"
"""Rate-based aggregation key: the request's source address (not a forwarded header)."""
RATE_LIMIT_RULE = "RateLimitPerIp"
RATE_LIMIT_PRIORITY = 0
"""Floods are blocked before any managed rule group spends capacity on them."""


def visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


def _managed_rule(group: ManagedRuleGroup, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    """The group's own actions apply (override action ``none``)."""
    return wafv2.CfnWebACL.RuleProperty(
        name=group.value,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name=AWS_VENDOR, name=group.value
            )
        ),
        visibility_config=visibility(group.value),
    )


def _rate_limit_rule(limit: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=RATE_LIMIT_RULE,
        priority=RATE_LIMIT_PRIORITY,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type=BY_SOURCE_IP, limit=limit
            )
        ),
        visibility_config=visibility(RATE_LIMIT_RULE),
    )


def web_acl_rules(rate_limit_per_5_minutes: int) -> list[wafv2.CfnWebACL.RuleProperty]:
    """The rules of every web ACL here, regional or CloudFront: the per-IP rate limit first,
    then each AWS managed group with its own actions."""
    if rate_limit_per_5_minutes not in RATE_LIMIT_RANGE:
        raise ValueError(
            f"rate limit {rate_limit_per_5_minutes} must be between "
            f"{RATE_LIMIT_RANGE.start} and {RATE_LIMIT_RANGE.stop - 1} requests per 5 minutes"
        )
    return [_rate_limit_rule(rate_limit_per_5_minutes)] + [
        _managed_rule(group, RATE_LIMIT_PRIORITY + 1 + index)
        for index, group in enumerate(ManagedRuleGroup)
    ]


class RegionalWebAcl(Construct):
    """The ACL (default allow), its rules, and its request log.

    Attach it to regional resources with ``associate``. Every rule and the ACL publish CloudWatch
    metrics and sampled requests; full request logs (Authorization and Cookie headers redacted)
    go to the ``aws-waf-logs-<name>`` log group.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        rate_limit_per_5_minutes: int = 1000,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        if not _NAME.fullmatch(name):
            raise ValueError(f"web ACL name {name!r} must be 1-128 letters, digits, '_' or '-'")
        self.name = name
        self.log_retention = log_retention
        self.removal_policy = removal_policy
        """Of the request log (``LogSettings``)."""
        rules = web_acl_rules(rate_limit_per_5_minutes)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope=REGIONAL_SCOPE,
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=visibility(name),
        )

        log_group_name = f"{LOG_GROUP_PREFIX}{name}"
        self.log_group = retained_log_group(
            self, "Logs", settings=self, log_group_name=log_group_name
        )
        # WAF wants the log group ARN itself; the LogGroup's Arn attribute ends in ":*".
        log_group_arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
        self.logging.node.add_dependency(self.log_group)

    def associate(self, id_: str, resource_arn: str) -> wafv2.CfnWebACLAssociation:
        """Protect a regional resource (ALB, API Gateway stage, App Runner service, ...)."""
        return wafv2.CfnWebACLAssociation(
            self, id_, resource_arn=resource_arn, web_acl_arn=self.web_acl.attr_arn
        )

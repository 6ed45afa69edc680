"""The alerts topic and the regional web ACL (tests/web_construct_cases.py), synthesized with
the quality gates on."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs

from cdk_constructs.web_acl import LOG_GROUP_PREFIX, ManagedRuleGroup, RegionalWebAcl
from stacks.platform_app import unacknowledged_findings
from tests.synth import cfn_lint, scratch_app
from tests.template_queries import get_att, only, ref, resources
from tests.web_construct_cases import (
    ACL_NAME,
    ALB_ARN,
    EMAIL,
    ENV,
    RATE_LIMIT,
    Synth,
    as_list,
)
from tests.web_construct_cases import synth as synth  # fixtures
from tests.web_construct_cases import synths as synths
from tests.web_construct_cases import template as template

# --- quality gates -------------------------------------------------------------------------


def test_no_unacknowledged_finding(synth: Synth) -> None:
    assert unacknowledged_findings(synth.outdir) == []


def test_cfn_lint_reports_nothing(synths: dict[RemovalPolicy, Synth]) -> None:
    templates = [synth.template_file for synth in synths.values()]
    assert cfn_lint(templates, [ENV.region or "us-east-1"]) == ""


# --- alerts topic --------------------------------------------------------------------------


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_alarms_may_use(
    template: dict[str, Any],
) -> None:
    _, topic = only(template, "AWS::SNS::Topic")
    key_id, attribute = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"]
    assert attribute == "Arn"
    key = template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert cloudwatch[0]["Effect"] == "Allow"
    assert set(as_list(cloudwatch[0]["Action"])) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert cloudwatch[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ENV.account}}


def test_topic_policy_denies_plain_http_and_admits_this_accounts_alarms(
    template: dict[str, Any],
) -> None:
    topic_id, _ = only(template, "AWS::SNS::Topic")
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [ref(topic_id)]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = [statement for statement in statements if statement["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Resource"] == ref(topic_id)
    allow = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow[0]["Action"] == "sns:Publish"
    assert allow[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": ENV.account}
    assert allow[0]["Condition"]["ArnLike"]["aws:SourceArn"].endswith(
        f":cloudwatch:{ENV.region}:{ENV.account}:alarm:*"
    )


def test_topic_delivers_by_email(template: dict[str, Any]) -> None:
    topic_id, _ = only(template, "AWS::SNS::Topic")
    _, subscription = only(template, "AWS::SNS::Subscription")
    assert subscription["Properties"] == {
        "Endpoint": EMAIL,
        "Protocol": "email",
        "TopicArn": ref(topic_id),
    }


# --- web ACL -------------------------------------------------------------------------------


def _acl(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    acl_id, acl = only(template, "AWS::WAFv2::WebACL")
    props: dict[str, Any] = acl["Properties"]
    return acl_id, props


def test_web_acl_is_regional_allows_by_default_and_is_visible(template: dict[str, Any]) -> None:
    _, acl = _acl(template)
    assert acl["Name"] == ACL_NAME
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    for config in [acl["VisibilityConfig"], *(rule["VisibilityConfig"] for rule in acl["Rules"])]:
        assert config["CloudWatchMetricsEnabled"] is True
        assert config["SampledRequestsEnabled"] is True


def test_web_acl_runs_the_aws_managed_rule_groups_with_their_own_actions(
    template: dict[str, Any],
) -> None:
    _, acl = _acl(template)
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]: rule
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert set(managed) == {group.value for group in ManagedRuleGroup}
    for rule in managed.values():
        assert rule["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
        assert rule["OverrideAction"] == {"None": {}}
        assert "Action" not in rule
    priorities = [rule["Priority"] for rule in acl["Rules"]]
    assert len(set(priorities)) == len(priorities) == 4


def test_web_acl_blocks_a_source_ip_above_the_rate_limit(template: dict[str, Any]) -> None:
    _, acl = _acl(template)
    rate_rules = [rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"]]
    assert len(rate_rules) == 1
    rule = rate_rules[0]
    assert rule["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": RATE_LIMIT,
    }
    assert rule["Action"] == {"Block": {}}
    assert rule["Priority"] == min(other["Priority"] for other in acl["Rules"])


def test_web_acl_logs_to_its_aws_waf_logs_group_by_arn_without_wildcard(
    template: dict[str, Any],
) -> None:
    acl_id, _ = _acl(template)
    ((group_id, group),) = [
        (logical_id, group)
        for logical_id, group in resources(template, "AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName") == f"{LOG_GROUP_PREFIX}{ACL_NAME}"
    ]
    assert group["Properties"]["RetentionInDays"] == 30
    _, logging = only(template, "AWS::WAFv2::LoggingConfiguration")
    assert logging["Properties"]["ResourceArn"] == get_att(acl_id, "Arn")
    (destination,) = logging["Properties"]["LogDestinationConfigs"]
    assert destination == (
        f"arn:aws:logs:{ENV.region}:{ENV.account}:log-group:aws-waf-logs-{ACL_NAME}"
    )
    assert not destination.endswith(":*")
    assert group_id in logging["DependsOn"]  # the ARN is built, not referenced
    redacted = {field["SingleHeader"]["Name"] for field in logging["Properties"]["RedactedFields"]}
    assert redacted == {"authorization", "cookie"}


def test_associate_attaches_the_web_acl_to_the_resource(template: dict[str, Any]) -> None:
    acl_id, _ = _acl(template)
    _, association = only(template, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"] == {
        "ResourceArn": ALB_ARN,
        "WebACLArn": get_att(acl_id, "Arn"),
    }


@pytest.mark.parametrize("limit", [9, 2_000_000_001])
def test_web_acl_rejects_a_rate_limit_waf_does_not_accept(limit: int) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RegionalWebAcl(
            Stack(scratch_app(), "S"),
            "WebAcl",
            name=ACL_NAME,
            rate_limit_per_5_minutes=limit,
            log_retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )

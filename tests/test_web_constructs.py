"""Alerts topic, regional web ACL and health canary, synthesized with the quality gates on; the
Fargate web service's Spot architecture rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.alerts import AlertsTopic
from cdk_constructs.fargate_web_service import FargateWebService, FargateWebServiceProps
from cdk_constructs.health_canary import RUNTIME, URL_VARIABLE, HealthCanary
from cdk_constructs.options import CpuArchitecture
from cdk_constructs.web_acl import LOG_GROUP_PREFIX, ManagedRuleGroup, RegionalWebAcl
from stacks.platform_app import add_quality_gates, unacknowledged_findings
from tests.conftest import cdk_json_context, cfn_lint
from tests.template_queries import get_att, only, policy_statements_of_role, ref, resources

ENV = Environment(account="111111111111", region="us-east-1")
EMAIL = "ops@example.com"
ACL_NAME = "web-prod"
RATE_LIMIT = 500
ALB_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/0123456789abcdef"
)
CANARY_NAME = "web-prod-health"
INTERVAL_MINUTES = 5
RETENTION_DAYS = 14
LITERAL_URL = "https://www.example.com/healthz"


@dataclass(frozen=True)
class Synth:
    removal_policy: RemovalPolicy
    outdir: Path
    template: dict[str, Any]

    @property
    def template_file(self) -> Path:
        return self.outdir / "Web.template.json"


def _synth(outdir: Path, removal_policy: RemovalPolicy) -> Synth:
    app = App(outdir=str(outdir), context=cdk_json_context())
    stack = Stack(app, "Web", env=ENV)
    alerts = AlertsTopic(
        stack, "Alerts", topic_name="ops-alerts", email=EMAIL, removal_policy=removal_policy
    )
    acl = RegionalWebAcl(
        stack,
        "WebAcl",
        name=ACL_NAME,
        rate_limit_per_5_minutes=RATE_LIMIT,
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=removal_policy,
    )
    acl.associate("Alb", ALB_ARN)
    # Destroy: the URL is a deploy-time token, as an ALB's DNS name would be.
    url = (
        CfnParameter(stack, "HealthUrl", type="String").value_as_string
        if removal_policy == RemovalPolicy.DESTROY
        else LITERAL_URL
    )
    HealthCanary(
        stack,
        "Health",
        canary_name=CANARY_NAME,
        url=url,
        interval=Duration.minutes(INTERVAL_MINUTES),
        alarm_topic=alerts.topic,
        artifact_retention=Duration.days(RETENTION_DAYS),
        removal_policy=removal_policy,
        log_retention=logs.RetentionDays.TWO_WEEKS,
    )
    add_quality_gates(app)
    app.synth()  # raises on an unacknowledged cdk-nag error
    template: dict[str, Any] = json.loads((outdir / "Web.template.json").read_text())
    return Synth(removal_policy=removal_policy, outdir=outdir, template=template)


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> dict[RemovalPolicy, Synth]:
    return {
        policy: _synth(tmp_path_factory.mktemp(f"web-{policy.value}"), policy)
        for policy in (RemovalPolicy.DESTROY, RemovalPolicy.RETAIN)
    }


@pytest.fixture(params=[RemovalPolicy.DESTROY, RemovalPolicy.RETAIN], ids=["destroy", "retain"])
def synth(request: pytest.FixtureRequest, synths: dict[RemovalPolicy, Synth]) -> Synth:
    policy: RemovalPolicy = request.param
    return synths[policy]


@pytest.fixture
def template(synths: dict[RemovalPolicy, Synth]) -> dict[str, Any]:
    return synths[RemovalPolicy.DESTROY].template


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


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
    key_id, key = only(template, "AWS::KMS::Key")
    _, topic = only(template, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == get_att(key_id, "Arn")
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert cloudwatch[0]["Effect"] == "Allow"
    assert set(_as_list(cloudwatch[0]["Action"])) == {"kms:GenerateDataKey*", "kms:Decrypt"}
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
            Stack(App(), "S"),
            "WebAcl",
            name=ACL_NAME,
            rate_limit_per_5_minutes=limit,
            log_retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )


# --- health canary -------------------------------------------------------------------------


def _canary(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    canary_id, canary = only(template, "AWS::Synthetics::Canary")
    props: dict[str, Any] = canary["Properties"]
    return canary_id, props


def _artifact_prefix(canary: dict[str, Any], bucket_id: str) -> str:
    """The key prefix of ``s3://<bucket>/<prefix>``, checking the bucket is ours."""
    scheme, bucket, path = canary["ArtifactS3Location"]["Fn::Join"][1]
    assert scheme == "s3://"
    assert bucket == ref(bucket_id)
    prefix: str = path.removeprefix("/")
    return prefix


def test_canary_gets_the_url_from_its_environment_on_the_newest_node_runtime(
    synth: Synth,
) -> None:
    _, canary = _canary(synth.template)
    assert canary["Name"] == CANARY_NAME
    assert canary["RuntimeVersion"] == RUNTIME.name == "syn-nodejs-puppeteer-13.0"
    assert canary["Schedule"]["Expression"] == f"rate({INTERVAL_MINUTES} minutes)"
    assert canary["Code"]["Handler"] == "index.handler"
    script = canary["Code"]["Script"]
    assert f"process.env.{URL_VARIABLE}" in script
    assert "statusCode !== 200" in script
    url = canary["RunConfig"]["EnvironmentVariables"][URL_VARIABLE]
    if synth.removal_policy == RemovalPolicy.DESTROY:
        assert url == ref("HealthUrl")  # the token travels as a CloudFormation reference
    else:
        assert url == LITERAL_URL
    assert LITERAL_URL not in script
    assert canary["SuccessRetentionPeriod"] == canary["FailureRetentionPeriod"] == RETENTION_DAYS


def test_artifacts_bucket_is_private_encrypted_tls_only_and_expires_what_the_canary_writes(
    synth: Synth,
) -> None:
    template = synth.template
    bucket_id, bucket = only(template, "AWS::S3::Bucket")
    _, canary = _canary(template)
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert canary["ArtifactConfig"] == {"S3Encryption": {"EncryptionMode": "SSE_S3"}}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert "VersioningConfiguration" not in props

    prefix = _artifact_prefix(canary, bucket_id)
    assert prefix == f"canary/{CANARY_NAME}"
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == f"{prefix}/"
    assert rule["ExpirationInDays"] == RETENTION_DAYS
    assert rule["Status"] == "Enabled"

    (policy,) = (
        policy
        for policy in resources(template, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == ref(bucket_id)
    )
    insecure = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(insecure) == 1
    assert insecure[0]["Action"] == "s3:*"


def test_artifacts_are_auto_deleted_only_when_the_bucket_is_destroyed(synth: Synth) -> None:
    template = synth.template
    _, bucket = only(template, "AWS::S3::Bucket")
    auto_delete = resources(template, "Custom::S3AutoDeleteObjects")
    if synth.removal_policy == RemovalPolicy.DESTROY:
        assert len(auto_delete) == 1
        assert bucket["DeletionPolicy"] == "Delete"
    else:
        assert auto_delete == {}
        assert bucket["DeletionPolicy"] == "Retain"


def test_canary_role_writes_only_under_its_prefix_and_its_own_logs(
    template: dict[str, Any],
) -> None:
    _, canary = _canary(template)
    bucket_id, _ = only(template, "AWS::S3::Bucket")
    role_id = canary["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"
    ] == {"Service": "lambda.amazonaws.com"}
    assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]
    by_action = {
        action: statement
        for statement in policy_statements_of_role(template, role_id)
        for action in _as_list(statement["Action"])
    }
    assert set(by_action) == {
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:PutObject",
        "cloudwatch:PutMetricData",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    prefix = _artifact_prefix(canary, bucket_id)
    assert by_action["s3:PutObject"]["Resource"] == {
        "Fn::Join": ["", [get_att(bucket_id, "Arn"), f"/{prefix}/*"]]
    }
    assert by_action["s3:GetBucketLocation"]["Resource"] == get_att(bucket_id, "Arn")
    assert by_action["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "CloudWatchSynthetics"}
    }
    assert by_action["logs:PutLogEvents"]["Resource"] == (
        f"arn:aws:logs:{ENV.region}:{ENV.account}:log-group:/aws/lambda/cwsyn-{CANARY_NAME}-*"
    )


def test_alarm_notifies_the_topic_when_two_of_three_runs_fail(template: dict[str, Any]) -> None:
    canary_id, _ = _canary(template)
    topic_id, _ = only(template, "AWS::SNS::Topic")
    _, alarm = only(template, "AWS::CloudWatch::Alarm")
    props = alarm["Properties"]
    assert props["Namespace"] == "CloudWatchSynthetics"
    assert props["MetricName"] == "SuccessPercent"
    assert props["Dimensions"] == [{"Name": "CanaryName", "Value": ref(canary_id)}]
    assert props["Period"] == INTERVAL_MINUTES * 60
    assert props["Threshold"] == 100
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["EvaluationPeriods"] == 3
    assert props["DatapointsToAlarm"] == 2
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [ref(topic_id)]
    assert props["OKActions"] == [ref(topic_id)]


def _canary_in_new_stack(
    *,
    canary_name: str = CANARY_NAME,
    interval: Duration | None = None,
    artifact_retention: Duration | None = None,
) -> HealthCanary:
    stack = Stack(App(), "S", env=ENV)
    topic = AlertsTopic(
        stack, "Alerts", topic_name="t", email=EMAIL, removal_policy=RemovalPolicy.DESTROY
    )
    return HealthCanary(
        stack,
        "Health",
        canary_name=canary_name,
        url=LITERAL_URL,
        interval=interval or Duration.minutes(INTERVAL_MINUTES),
        alarm_topic=topic.topic,
        artifact_retention=artifact_retention or Duration.days(RETENTION_DAYS),
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.TWO_WEEKS,
    )


@pytest.mark.parametrize("name", ["", "Web-Health", "web health", "web.health", "a" * 22], ids=repr)
def test_invalid_canary_name_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="canary name"):
        _canary_in_new_stack(canary_name=name)


def test_longest_valid_canary_name_is_accepted() -> None:
    health = _canary_in_new_stack(canary_name="a" * 21)
    Template.from_stack(Stack.of(health)).has_resource_properties(
        "AWS::Synthetics::Canary", {"Name": "a" * 21}
    )


@pytest.mark.parametrize(
    "interval", [Duration.seconds(90), Duration.minutes(61)], ids=["90s", "61min"]
)
def test_interval_synthetics_cannot_schedule_raises_value_error(interval: Duration) -> None:
    with pytest.raises(ValueError, match="interval"):
        _canary_in_new_stack(interval=interval)


def test_partial_day_artifact_retention_raises_value_error() -> None:
    with pytest.raises(ValueError, match="retention"):
        _canary_in_new_stack(artifact_retention=Duration.hours(36))


# --- Fargate web service: Spot runs X86_64 only ---------------------------------------------------


def _spot_props(stack: Stack, architecture: CpuArchitecture) -> FargateWebServiceProps:
    vpc = ec2.Vpc(stack, "Vpc", availability_zones=["us-east-1a", "us-east-1b"])
    return FargateWebServiceProps(
        cluster_name="web",
        vpc=vpc,
        public_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        app_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27-alpine"),
        command=None,
        port=8080,
        health_path="/healthz",
        cpu=256,
        memory_mib=512,
        min_tasks=1,
        max_tasks=1,
        spot=True,
        cpu_architecture=architecture,
        allowed_ingress_cidrs=["0.0.0.0/0"],
        log_retention=logs.RetentionDays.TWO_WEEKS,
        removal_policy=RemovalPolicy.DESTROY,
        deletion_protection=False,
    )


# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
def test_fargate_service_refuses_arm64_tasks_on_spot_and_runs_x86_there() -> None:
    stack = Stack(App(context=cdk_json_context()), "Spot", env=ENV)
    props = _spot_props(stack, CpuArchitecture.ARM64)
    with pytest.raises(ValueError, match="X86_64"):
        FargateWebService(stack, "Arm", props=props)
    FargateWebService(stack, "X86", props=replace(props, cpu_architecture=CpuArchitecture.X86_64))
    template = dict(Template.from_stack(stack).to_json())
    _, task = only(template, "AWS::ECS::TaskDefinition")
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    _, service = only(template, "AWS::ECS::Service")
    strategy = service["Properties"]["CapacityProviderStrategy"]
    assert [item["CapacityProvider"] for item in strategy] == ["FARGATE_SPOT"]

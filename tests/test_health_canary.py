"""The health canary (tests/web_construct_cases.py), synthesized with the quality gates on: its
script, artifacts bucket, role and failure alarm; what Synthetics cannot run fails the synth."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.health_canary import RUNTIME, URL_VARIABLE, HealthCanary
from tests.synth import scratch_app
from tests.template_queries import get_att, only, policy_statements_of_role, ref, resources
from tests.web_construct_cases import (
    CANARY_NAME,
    ENV,
    INTERVAL_MINUTES,
    LITERAL_URL,
    RETENTION_DAYS,
    Synth,
    as_list,
)
from tests.web_construct_cases import synth as synth  # fixtures
from tests.web_construct_cases import synths as synths
from tests.web_construct_cases import template as template

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
    # SSE-KMS with the given key (with an S3 bucket key: one KMS request per data key, not
    # per object), and the canary uploads with that key too.
    key_arn = get_att(_artifacts_key_id(template), "Arn")
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"KMSMasterKeyID": key_arn, "SSEAlgorithm": "aws:kms"},
        }
    ]
    assert canary["ArtifactConfig"] == {
        "S3Encryption": {"EncryptionMode": "SSE_KMS", "KmsKeyArn": key_arn}
    }
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}

    prefix = _artifact_prefix(canary, bucket_id)
    assert prefix == f"canary/{CANARY_NAME}"
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == f"{prefix}/"
    assert rule["ExpirationInDays"] == RETENTION_DAYS
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": RETENTION_DAYS}
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
        for action in as_list(statement["Action"])
    }
    assert set(by_action) == {
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:PutObject",
        "cloudwatch:PutMetricData",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *ARTIFACT_KEY_ACTIONS,
    }
    for action in ARTIFACT_KEY_ACTIONS:  # CDK's grant for the SSE-KMS uploads: that key only
        assert by_action[action]["Resource"] == get_att(_artifacts_key_id(template), "Arn")
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


ARTIFACT_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")


def _artifacts_key_id(template: dict[str, Any]) -> str:
    (key_id,) = (
        logical_id
        for logical_id in resources(template, "AWS::KMS::Key")
        if logical_id.startswith("ArtifactsKey")
    )
    return key_id


def _canary_in_new_stack(
    *,
    canary_name: str = CANARY_NAME,
    interval: Duration | None = None,
    artifact_retention: Duration | None = None,
) -> HealthCanary:
    stack = Stack(scratch_app(), "S", env=ENV)
    return HealthCanary(
        stack,
        "Health",
        canary_name=canary_name,
        url=LITERAL_URL,
        interval=interval or Duration.minutes(INTERVAL_MINUTES),
        artifact_retention=artifact_retention or Duration.days(RETENTION_DAYS),
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.TWO_WEEKS,
        artifacts_key=kms.Key(stack, "ArtifactsKey", enable_key_rotation=True),
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

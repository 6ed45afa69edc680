"""Alarms and the dashboard of each environment: every failure mode, thresholds from config,
all to the alerts topic, missing data not breaching; the dashboard follows a request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG
from tests.synth import SynthesizedEnv
from tests.template_queries import imported, only, output_value, resources

ALARM_METRICS_FARGATE = {
    ("AWS/ApiGateway", "5XXError"),
    ("AWS/ApiGateway", "Latency"),
    ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Throttles"),
    ("AWS/Lambda", "Duration"),
    ("AWS/RDS", "CPUUtilization"),
    ("AWS/RDS", "ACUUtilization"),
    ("AWS/RDS", "DatabaseConnections"),
    ("AWS/DynamoDB", "ReadThrottleEvents"),
    ("AWS/DynamoDB", "WriteThrottleEvents"),
    ("AWS/DynamoDB", "SystemErrors"),
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
    ("AWS/ApplicationELB", "UnHealthyHostCount"),
    ("ECS/ContainerInsights", "RunningTaskCount"),
}


def metrics_of(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric an alarm reads, directly or in math."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (query["MetricStat"]["Metric"]["Namespace"], query["MetricStat"]["Metric"]["MetricName"])
        for query in props["Metrics"]
        if "MetricStat" in query
    }


def alarms(env: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    return resources(env.ops_json, "AWS::CloudWatch::Alarm")


def test_an_alarm_for_every_failure_mode(env: SynthesizedEnv) -> None:
    covered = set().union(*(metrics_of(alarm) for alarm in alarms(env).values()))
    expected = set(ALARM_METRICS_FARGATE)
    if env.config.database.proxy:
        expected.add(("AWS/RDS", "ClientConnections"))
    assert expected <= covered
    if not env.config.database.proxy:
        assert ("AWS/RDS", "ClientConnections") not in covered
    # The canary's alarm lives here with the others, next to the topic; the canary stays in
    # the web stack, whose only alarms are its release's rollback alarms, which notify no one
    # (it must not depend on this stack).
    (canary_alarm,) = [
        alarm
        for alarm in alarms(env).values()
        if alarm["Properties"].get("MetricName") == "SuccessPercent"
    ]
    assert canary_alarm["Properties"]["Namespace"] == "CloudWatchSynthetics"
    (dimension,) = canary_alarm["Properties"]["Dimensions"]
    canary_id, _ = only(env.web_json, "AWS::Synthetics::Canary")
    assert imported(dimension["Value"], env.web_json) == {"Ref": canary_id}
    release = WebRelease.from_json(output_value(env.web_json, RELEASE_OUTPUT))
    web_alarms = resources(env.web_json, "AWS::CloudWatch::Alarm").values()
    assert {alarm["Properties"]["AlarmName"] for alarm in web_alarms} == set(release.alarms)
    assert not any("AlarmActions" in alarm["Properties"] for alarm in web_alarms)


def test_every_alarm_notifies_the_alerts_topic_and_ignores_missing_data(
    env: SynthesizedEnv,
) -> None:
    topic_id, _ = only(env.ops_json, "AWS::SNS::Topic")
    for logical_id, alarm in alarms(env).items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert props["OKActions"] == props["AlarmActions"]
        assert props["TreatMissingData"] == "notBreaching"
        # The canary's alarm fires below its threshold (a success rate); every other alarm at
        # or above its threshold.
        expected = (
            "LessThanThreshold"
            if props.get("MetricName") == "SuccessPercent"
            else "GreaterThanOrEqualToThreshold"
        )
        assert props["ComparisonOperator"] == expected, logical_id


def test_the_alerts_topic_lives_in_the_ops_stack_under_a_name_of_its_own(
    env: SynthesizedEnv,
) -> None:
    """Not the web stack's former ``<app>-<env>-alerts``: a retained environment keeps that
    topic after the move, and SNS refuses to create a second topic of the same name."""
    assert resources(env.web_json, "AWS::SNS::Topic") == {}
    _, topic = only(env.ops_json, "AWS::SNS::Topic")
    assert topic["Properties"]["TopicName"] == f"{APP_CONFIG.app_name}-{env.config.name}-ops-alerts"
    _, subscription = only(env.ops_json, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Endpoint"] == env.config.alert_email


def test_thresholds_come_from_config(env: SynthesizedEnv) -> None:
    limits = env.config.alarms
    by_metric: dict[tuple[str, str], float] = {}
    for alarm in alarms(env).values():
        for metric in metrics_of(alarm):
            by_metric[metric] = alarm["Properties"]["Threshold"]
    assert by_metric[("AWS/ApiGateway", "5XXError")] == limits.api_5xx_rate_percent / 100
    assert by_metric[("AWS/ApiGateway", "Latency")] == limits.api_p99_latency_ms
    assert by_metric[("AWS/Lambda", "Errors")] == limits.lambda_errors
    timeout_ms = env.config.api.timeout_seconds * 1000
    assert by_metric[("AWS/Lambda", "Duration")] == pytest.approx(
        timeout_ms * limits.lambda_duration_percent_of_timeout / 100
    )
    assert by_metric[("AWS/RDS", "CPUUtilization")] == limits.aurora_cpu_percent
    assert by_metric[("AWS/RDS", "ACUUtilization")] == limits.aurora_acu_utilization_percent
    assert by_metric[("AWS/DynamoDB", "ReadThrottleEvents")] == limits.dynamodb_throttles
    assert by_metric[("AWS/ApplicationELB", "UnHealthyHostCount")] == limits.unhealthy_targets


def test_dynamodb_alarms_sum_the_session_operations(env: SynthesizedEnv) -> None:
    table_id, _ = only(env.data_json, "AWS::DynamoDB::GlobalTable")
    for alarm in alarms(env).values():
        if ("AWS/DynamoDB", "SystemErrors") not in metrics_of(alarm):
            continue
        queries = [q for q in alarm["Properties"]["Metrics"] if "MetricStat" in q]
        operations = set()
        for query in queries:
            dimensions = {
                d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]
            }
            assert imported(dimensions["TableName"], env.data_json) == {"Ref": table_id}
            operations.add(dimensions["Operation"])
        assert operations == {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}


def test_dashboard_follows_a_request_front_to_back(env: SynthesizedEnv) -> None:
    _, dashboard = only(env.ops_json, "AWS::CloudWatch::Dashboard")
    props = dashboard["Properties"]
    assert props["DashboardName"] == f"{APP_CONFIG.app_name}-{env.config.name}"
    body = props["DashboardBody"]
    text = "".join(part if isinstance(part, str) else "" for part in body["Fn::Join"][1])
    titles = [
        "Canary",
        "2. Web",
        "API Gateway",
        "Lambda",
        "RDS Proxy",
        "Aurora",
        "DynamoDB",
    ]
    if not env.config.database.proxy:
        titles.remove("RDS Proxy")
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)
    assert json.dumps("CloudWatchSynthetics") in text or "CloudWatchSynthetics" in text

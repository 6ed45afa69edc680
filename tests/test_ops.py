"""Alarms and the dashboard of each environment: every failure mode, thresholds from config,
all to the alerts topic, missing data not breaching; the dashboard follows a request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_constructs.options import WebRuntime
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG
from tests.synth import SynthesizedEnv
from tests.template_queries import imported, only, output_value, ref, resources
from tests.test_data_helpers import database_of, is_aurora

ALARM_METRICS = {
    ("AWS/ApiGateway", "5XXError"),
    ("AWS/ApiGateway", "Latency"),
    ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Throttles"),
    ("AWS/Lambda", "Duration"),
    ("AWS/RDS", "CPUUtilization"),
    ("AWS/RDS", "DatabaseConnections"),
    ("AWS/DynamoDB", "ReadThrottleEvents"),
    ("AWS/DynamoDB", "WriteThrottleEvents"),
    ("AWS/DynamoDB", "SystemErrors"),
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
}
"""What every environment of today's shape alarms on (its web runtime behind an ALB), besides
its runtime's own (``RUNTIME_ALARM_METRICS``) and its database's capacity."""
UNHEALTHY_TARGETS = ("AWS/ApplicationELB", "UnHealthyHostCount")
RUNNING_TASKS = ("ECS/ContainerInsights", "RunningTaskCount")
RUNTIME_ALARM_METRICS = {
    # Running tasks below desired (the ECS service's count), unhealthy targets of the ALB.
    WebRuntime.FARGATE: {RUNNING_TASKS, UNHEALTHY_TARGETS},
    # Healthy targets below the group's minimum, and the targets' p99 response time.
    WebRuntime.EC2: {
        UNHEALTHY_TARGETS,
        ("AWS/ApplicationELB", "HealthyHostCount"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
    },
    # Running tasks below desired; CloudFront's 5XX in front (its metrics are in us-east-1,
    # where the shipped environment is). Its target groups are Express's.
    WebRuntime.EXPRESS: {
        RUNNING_TASKS,
        ("AWS/CloudFront", "Requests"),
        ("AWS/CloudFront", "5xxErrorRate"),
    },
}
ACU = ("AWS/RDS", "ACUUtilization")
FREE_STORAGE = ("AWS/RDS", "FreeStorageSpace")
GIB = 1024**3


def capacity_metric(env: SynthesizedEnv) -> tuple[str, str]:
    """What of the database's capacity can run out: an Aurora cluster's ACUs (near its
    ``max_capacity``), a DB instance's storage (autoscaling did not keep up or hit its ceiling)."""
    return ACU if is_aurora(env) else FREE_STORAGE


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
    runtime = env.config.web.runtime
    expected = ALARM_METRICS | RUNTIME_ALARM_METRICS[runtime] | {capacity_metric(env)}
    if env.config.database.proxy:
        expected.add(("AWS/RDS", "ClientConnections"))
    assert expected <= covered
    if RUNNING_TASKS not in RUNTIME_ALARM_METRICS[runtime]:  # no ECS service: no task count
        assert not [metric for metric in covered if metric[0] == "ECS/ContainerInsights"]
    # No ACU alarm on an instance (it has no ACUs), no storage alarm on Aurora (it grows alone).
    assert not ({ACU, FREE_STORAGE} - {capacity_metric(env)}) & covered
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
        # The canary's alarm fires below its threshold (a success rate), the free storage alarm
        # at or below its own; every other alarm at or above its threshold.
        expected = {
            "SuccessPercent": "LessThanThreshold",
            "FreeStorageSpace": "LessThanOrEqualToThreshold",
        }.get(props.get("MetricName", ""), "GreaterThanOrEqualToThreshold")
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
    assert by_metric[("AWS/RDS", "DatabaseConnections")] == limits.aurora_connections
    if is_aurora(env):
        assert by_metric[ACU] == limits.aurora_acu_utilization_percent
    else:
        # 5% of the allocated storage: storage autoscaling acts at 10% free, so this fires only
        # when it did not keep up or reached max_allocated_storage_gib.
        allocated = env.config.database.allocated_storage_gib * GIB
        assert by_metric[FREE_STORAGE] == pytest.approx(allocated * 0.05)
    assert by_metric[("AWS/DynamoDB", "ReadThrottleEvents")] == limits.dynamodb_throttles
    if UNHEALTHY_TARGETS in RUNTIME_ALARM_METRICS[env.config.web.runtime]:
        assert by_metric[UNHEALTHY_TARGETS] == limits.unhealthy_targets
    if env.config.web.runtime is WebRuntime.EC2:
        # The metric is in seconds; one healthy target missing below the group's minimum.
        p99 = by_metric[("AWS/ApplicationELB", "TargetResponseTime")]
        assert p99 == limits.web_p99_response_ms / 1000
        assert by_metric[("AWS/ApplicationELB", "HealthyHostCount")] == 1


def test_database_alarms_watch_the_cluster_or_the_instance(env: SynthesizedEnv) -> None:
    """CPU, capacity and connections of the database itself: a cluster by
    ``DBClusterIdentifier``, an instance by ``DBInstanceIdentifier``."""
    database_id, _ = database_of(env)
    dimension_name = "DBClusterIdentifier" if is_aurora(env) else "DBInstanceIdentifier"
    watched = {("AWS/RDS", "CPUUtilization"), ("AWS/RDS", "DatabaseConnections")}
    watched.add(capacity_metric(env))
    found = set()
    for alarm in alarms(env).values():
        props = alarm["Properties"]
        metric = (props.get("Namespace"), props.get("MetricName"))
        if metric not in watched:
            continue
        found.add(metric)
        (dimension,) = props["Dimensions"]
        assert dimension["Name"] == dimension_name
        assert imported(dimension["Value"], env.data_json) == ref(database_id)
    assert found == watched


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
    # The database's row is named after its engine: "6. Aurora", "6. RDS for MySQL".
    database_row = "6. Aurora" if is_aurora(env) else f"6. {env.config.database.spec.label}"
    titles = ["Canary", "2. Web", "API Gateway", "Lambda", "RDS Proxy", database_row, "DynamoDB"]
    if not env.config.database.proxy:
        titles.remove("RDS Proxy")
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)
    # The row's graphs, in order, before the next row: the capacity graph is the engine's.
    capacity = "ACU utilization %" if is_aurora(env) else "Free storage (bytes)"
    row_start, row_end = text.index(database_row), text.index("DynamoDB")
    graphs = [text.index(f'"{title}"', row_start) for title in ("CPU %", capacity, "Connections")]
    assert row_start < graphs[0] < graphs[1] < graphs[2] < row_end
    absent = "Free storage (bytes)" if is_aurora(env) else "ACU utilization %"
    assert absent not in text
    assert json.dumps("CloudWatchSynthetics") in text or "CloudWatchSynthetics" in text

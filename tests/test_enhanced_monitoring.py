"""RDS Enhanced Monitoring: on where the config sets an interval (prod ships 60 s), on every
instance of an Aurora cluster or on the one DB instance, with a role of its own that only RDS
monitoring of this account can assume; off elsewhere; and what `make cost` adds for it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost.lines import LineKind
from stacks.config import APP_CONFIG
from tests.config_helpers import assert_one_line, error_of, with_section
from tests.cost_helpers import HOURS, cents, estimate_of, monthly_by_kind, resource, write_assembly
from tests.synth import Synthesized, Tier, synth_variant
from tests.template_queries import get_att, ref, resources

MONITORING_PRINCIPAL = "monitoring.rds.amazonaws.com"
MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
FIELD = "database.enhanced_monitoring_interval_seconds"


def instances_of(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The properties of every instance of the (only) cluster, or of the one DB instance of an
    instance engine."""
    clusters = resources(template, "AWS::RDS::DBCluster")
    if not clusters:
        (instance,) = resources(template, "AWS::RDS::DBInstance").values()
        assert "DBClusterIdentifier" not in instance["Properties"]
        return [instance["Properties"]]
    ((cluster_id, _),) = clusters.items()
    return [
        instance["Properties"]
        for instance in resources(template, "AWS::RDS::DBInstance").values()
        if instance["Properties"]["DBClusterIdentifier"] == ref(cluster_id)
    ]


def monitoring_roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Roles any statement of whose trust policy names the monitoring principal."""
    return {
        logical_id: role
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
        if MONITORING_PRINCIPAL in str(role["Properties"]["AssumeRolePolicyDocument"])
    }


def assert_monitored(template: dict[str, Any], interval: int, account: str) -> None:
    """Every instance samples every ``interval`` s with one role: trusted by RDS monitoring of
    ``account`` only, holding exactly AWS's Enhanced Monitoring policy and nothing else."""
    ((role_id, role),) = monitoring_roles(template).items()
    instances = instances_of(template)
    assert instances
    clusters = resources(template, "AWS::RDS::DBCluster")
    for instance in instances:
        assert instance["MonitoringInterval"] == interval
        assert instance["MonitoringRoleArn"] == get_att(role_id, "Arn")
        if clusters:
            # Performance Insights stays as it was, beside it (a DB instance's follows its
            # class: test_data.py).
            assert instance["EnablePerformanceInsights"] is True
    for cluster in clusters.values():
        assert "MonitoringInterval" not in cluster["Properties"]  # per instance, not cluster-level

    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": MONITORING_PRINCIPAL}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    (policy_arn,) = role["Properties"]["ManagedPolicyArns"]
    assert policy_arn["Fn::Join"][1][-1] == f":iam::aws:policy/{MONITORING_POLICY}"
    assert "Policies" not in role["Properties"]
    attached = [
        policy
        for policy in resources(template, "AWS::IAM::Policy").values()
        if ref(role_id) in policy["Properties"].get("Roles", [])
    ]
    assert attached == []


def test_shipped_intervals_prod_monitors_every_minute_others_do_not() -> None:
    intervals = {
        env.name: env.database.enhanced_monitoring_interval_seconds
        for env in APP_CONFIG.environments
    }
    assert intervals == {
        "dev": 0,
        "staging": 0,
        "prod": 60,
        "spa": 0,
        "classic": 0,
        "ec2": 0,
        "express": 0,
    }


def test_prod_instances_are_monitored_with_their_own_role(synthesized: Synthesized) -> None:
    prod = synthesized.envs["prod"]
    assert_monitored(prod.data_json, 60, prod.config.account)


def test_monitoring_is_off_where_the_interval_is_0(synthesized: Synthesized) -> None:
    unmonitored = [
        env
        for env in synthesized.envs.values()
        if env.config.database.enhanced_monitoring_interval_seconds == 0
    ]
    assert {env.config.name for env in unmonitored} == {
        "dev",
        "staging",
        "spa",
        "classic",
        "ec2",
        "express",
    }
    for env in unmonitored:
        instances = instances_of(env.data_json)
        assert instances
        for instance in instances:
            assert "MonitoringInterval" not in instance
            assert "MonitoringRoleArn" not in instance
        assert monitoring_roles(env.data_json) == {}


def test_the_interval_comes_from_the_config_in_any_environment() -> None:
    """Not a prod special case: dev at 5 s gets the same role and its own interval."""
    dev = APP_CONFIG.environment("dev")
    monitored = replace(dev, database=replace(dev.database, enhanced_monitoring_interval_seconds=5))
    assert_monitored(synth_variant(monitored, Tier.DATA), 5, dev.account)


def test_a_db_instance_is_monitored_the_same_way() -> None:
    """The instance engines take the same setting: classic (RDS for MySQL) at 30 s gets the
    instance's own role and interval."""
    classic = APP_CONFIG.environment("classic")
    assert not classic.database.spec.serverless
    monitored = replace(
        classic, database=replace(classic.database, enhanced_monitoring_interval_seconds=30)
    )
    assert_monitored(synth_variant(monitored, Tier.DATA), 30, classic.account)


@pytest.mark.parametrize("interval", [7, -1, 120, 2])
def test_an_interval_rds_does_not_take_is_refused_in_one_line(interval: int) -> None:
    error = error_of(
        lambda: with_section("database", enhanced_monitoring_interval_seconds=interval)
    )

    assert_one_line(error, "dev", FIELD, "0 (off)", "1, 5, 10, 15, 30, 60")
    assert f"{interval} is not an RDS Enhanced Monitoring interval" in str(error)


# --- What it costs (`make cost`) ------------------------------------------------------------------

# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.html: Enhanced
# Monitoring metrics are stored in CloudWatch Logs (RDSOSMetrics), so it is billed as log data,
# for each instance it is on, and a smaller interval reports more often. A sample's size is the
# model's assumption: 12 KiB per sample per instance.
KIB_PER_SAMPLE = Decimal(12)
CLUSTER = {
    "Engine": "aurora-postgresql",
    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4},
}
INSTANCE = {"DBClusterIdentifier": ref("Cluster"), "DBInstanceClass": "db.serverless"}


def logs_gb(instances: int, every_seconds: int) -> Decimal:
    """Log data a month: samples of 730 hours x the assumed sample size, in GB (2^30 bytes)."""
    return instances * HOURS * 3600 / every_seconds * KIB_PER_SAMPLE / (1024 * 1024)


def test_enhanced_monitoring_is_log_ingestion_per_instance_and_interval(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "monitored",
        {
            "Data": {
                "Cluster": resource("AWS::RDS::DBCluster", **CLUSTER),
                "Writer": resource("AWS::RDS::DBInstance", **INSTANCE, MonitoringInterval=60),
                "Reader": resource("AWS::RDS::DBInstance", **INSTANCE, MonitoringInterval=1),
                "Off": resource("AWS::RDS::DBInstance", **INSTANCE, MonitoringInterval=0),
            }
        },
    )
    lines = [
        line
        for line in estimate_of(tmp_path, "monitored").lines
        if line.kind is LineKind.RDS_ENHANCED_MONITORING
    ]

    (line,) = lines  # both monitored instances on one line; the one at 0 adds nothing
    assert line.quantity == logs_gb(1, 60) + logs_gb(1, 1)
    assert line.unit_price_usd == Decimal("0.50")  # per GB ingested
    assert line.monthly_usd == cents(line.quantity * Decimal("0.50")) == Decimal("15.29")
    assert [detail.split(":")[0] for detail in line.details] == ["Writer", "Reader"]


def test_cluster_level_enhanced_monitoring_counts_every_instance(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        "cluster_level",
        {
            "Data": {
                "Cluster": resource("AWS::RDS::DBCluster", **CLUSTER, MonitoringInterval=60),
                "Writer": resource("AWS::RDS::DBInstance", **INSTANCE),
                "Reader": resource("AWS::RDS::DBInstance", **INSTANCE),
            }
        },
    )
    by_kind = monthly_by_kind(estimate_of(tmp_path, "cluster_level"))

    assert by_kind[LineKind.RDS_ENHANCED_MONITORING] == cents(logs_gb(2, 60) * Decimal("0.50"))


def test_an_enhanced_monitoring_interval_that_is_not_literal_is_reported(tmp_path: Path) -> None:
    interval = {"Ref": "Interval"}
    write_assembly(
        tmp_path,
        "odd_interval",
        {
            "Data": {
                "Cluster": resource("AWS::RDS::DBCluster", **CLUSTER),
                "Writer": resource("AWS::RDS::DBInstance", **INSTANCE, MonitoringInterval=interval),
            }
        },
    )
    result = estimate_of(tmp_path, "odd_interval")

    assert [(u.logical_id, u.reason) for u in result.unpriced] == [
        ("Writer", f"MonitoringInterval {interval!r} is not a literal number of seconds")
    ]

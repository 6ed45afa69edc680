"""Backups you can prove: where ``backup`` is on (prod, classic, ec2), AWS Backup keeps daily
points of the database (the Aurora cluster or the DB instance) and the session table in a vault
with its own key, a restore test restores the latest ones on schedule where the engine has one
(Aurora), and alarms report failed backup and restore jobs; elsewhere none of it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from cost.backup import WEEKS_PER_MONTH, cron_runs_per_month
from cost.estimate import Estimate
from cost.lines import HOURS_PER_MONTH, LineKind
from cost.prices import PriceId, load_prices
from cost.usage import UsageKind
from stacks.config import APP_CONFIG, EnvironmentConfig
from tests.config_helpers import assert_one_line, error_of, with_dev, with_section
from tests.cost_helpers import shipped as shipped  # the fixture, for pytest
from tests.synth import Synthesized, SynthesizedEnv, Tier, synth_variant
from tests.template_queries import get_att, only, ref, resources
from tests.test_data_helpers import database_in, database_security_groups

BACKUP_METRICS = {
    "NumberOfBackupJobsFailed",
    "NumberOfBackupJobsExpired",
    "NumberOfRestoreJobsFailed",
}
TABLE_TYPE = "DynamoDB"


def database_type(config: EnvironmentConfig) -> str:
    """AWS Backup's resource type of the environment's database: ``Aurora`` for a cluster,
    ``RDS`` for a DB instance (also its jobs' ``ResourceType`` metric dimension)."""
    return "Aurora" if config.database.spec.serverless else "RDS"


def protected_types(config: EnvironmentConfig) -> set[str]:
    return {database_type(config), TABLE_TYPE}


def restore_tested(config: EnvironmentConfig) -> bool:
    """Where a restore test runs: backups on, ``restore_test`` not False, and an engine that has
    one (an Aurora cluster; None means "where the engine has one")."""
    return (
        config.backup.active(config.retain_data)
        and config.backup.restore_test is not False
        and config.database.spec.serverless
    )


def backup_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::Backup::")
    }


def database_and_table(template: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The cluster or the DB instance, and the session table."""
    database_id, database = database_in(template)
    table_id, _ = only(template, "AWS::DynamoDB::GlobalTable")
    return database_id, database, table_id


def is_database_arn(value: Any, database_id: str, database: dict[str, Any]) -> bool:
    """``arn:...:cluster:`` (a cluster) or ``arn:...:db:`` (an instance) joined with the
    database's Ref (how CDK spells its ARN)."""
    kind = "cluster" if database["Type"] == "AWS::RDS::DBCluster" else "db"
    parts = value["Fn::Join"][1]
    return str(parts[0]).endswith(f":{kind}:") and parts[1:] == [ref(database_id)]


BACKED_UP = [e.name for e in APP_CONFIG.environments if e.backup.active(e.retain_data)]
RESTORE_TESTED = [e.name for e in APP_CONFIG.environments if restore_tested(e)]


@pytest.fixture(params=BACKED_UP)
def backed_up(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment that config backs up (prod, classic, ec2)."""
    name: str = request.param
    return synthesized.envs[name]


@pytest.fixture(params=RESTORE_TESTED)
def restore_tested_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment whose backups are restore-tested (prod)."""
    name: str = request.param
    return synthesized.envs[name]


# --- the vault, the plan, the selection -------------------------------------------------------


def test_backups_exist_exactly_where_config_turns_them_on(env: SynthesizedEnv) -> None:
    on = env.config.backup.active(env.config.retain_data)
    assert on is (env.config.name in ("prod", "classic", "ec2"))
    assert bool(backup_resources(env.data_json)) is on


def test_the_shipped_restore_tests_are_on_where_the_engine_has_one() -> None:
    """The premise of the parametrizations below: prod (Aurora) restore-tests its backups;
    classic (a MySQL DB instance) and ec2 (a PostgreSQL DB instance) back up without a restore
    test, as None asks."""
    assert RESTORE_TESTED == ["prod"]
    assert sorted(BACKED_UP) == ["classic", "ec2", "prod"]
    for name in ("classic", "ec2"):
        instance_env = APP_CONFIG.environment(name)
        assert instance_env.backup.restore_test is None
        assert not instance_env.database.spec.serverless


def test_no_restore_test_where_the_engine_has_none(backed_up: SynthesizedEnv) -> None:
    """A DB instance's backups are kept without a restore test (none is built for it)."""
    tested = restore_tested(backed_up.config)
    plans = resources(backed_up.data_json, "AWS::Backup::RestoreTestingPlan")
    selections = resources(backed_up.data_json, "AWS::Backup::RestoreTestingSelection")
    assert len(plans) == (1 if tested else 0)
    assert len(selections) == (2 if tested else 0)


def test_the_vault_has_its_own_rotating_key_and_is_retained(backed_up: SynthesizedEnv) -> None:
    _, vault = only(backed_up.data_json, "AWS::Backup::BackupVault")
    key_id = vault["Properties"]["EncryptionKeyArn"]["Fn::GetAtt"][0]
    key = backed_up.data_json["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert "backup" in key["Properties"]["Description"].lower()
    # Retained with the data; deleted only when the stack's first create rolls back (retry).
    for resource in (vault, key):
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert "LockConfiguration" not in vault["Properties"]  # vault_lock is off by default


def test_the_plan_keeps_daily_points_for_the_configured_days(backed_up: SynthesizedEnv) -> None:
    vault_id, _ = only(backed_up.data_json, "AWS::Backup::BackupVault")
    _, plan = only(backed_up.data_json, "AWS::Backup::BackupPlan")
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": backed_up.config.backup.retention_days}
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["TargetBackupVault"] == get_att(vault_id, "BackupVaultName")


def test_the_selection_covers_exactly_the_database_and_the_table(
    backed_up: SynthesizedEnv,
) -> None:
    database_id, database, table_id = database_and_table(backed_up.data_json)
    assert database["Type"] == (
        "AWS::RDS::DBCluster"
        if database_type(backed_up.config) == "Aurora"
        else "AWS::RDS::DBInstance"
    )
    plan_id, _ = only(backed_up.data_json, "AWS::Backup::BackupPlan")
    _, selection = only(backed_up.data_json, "AWS::Backup::BackupSelection")
    props = selection["Properties"]
    assert props["BackupPlanId"] == get_att(plan_id, "BackupPlanId")
    database_arn, table_arn = props["BackupSelection"]["Resources"]
    assert is_database_arn(database_arn, database_id, database)
    assert table_arn == get_att(table_id, "Arn")
    assert "ListOfTags" not in props["BackupSelection"]  # no tag-based selection


# --- the restore test ---------------------------------------------------------------------------


def test_the_restore_test_restores_the_latest_points_on_schedule(
    restore_tested_env: SynthesizedEnv,
) -> None:
    backed_up = restore_tested_env
    config = backed_up.config.backup
    vault_id, _ = only(backed_up.data_json, "AWS::Backup::BackupVault")
    _, plan = only(backed_up.data_json, "AWS::Backup::RestoreTestingPlan")
    props = plan["Properties"]
    assert props["ScheduleExpression"] == config.restore_test_schedule
    selection = props["RecoveryPointSelection"]
    assert selection["Algorithm"] == "LATEST_WITHIN_WINDOW"
    assert selection["IncludeVaults"] == [get_att(vault_id, "BackupVaultArn")]
    name = props["RestoreTestingPlanName"]
    assert name.replace("_", "").isalnum()  # the only characters the name takes

    database_id, database, table_id = database_and_table(backed_up.data_json)
    tested = {
        s["Properties"]["ProtectedResourceType"]: s["Properties"]
        for s in resources(backed_up.data_json, "AWS::Backup::RestoreTestingSelection").values()
    }
    assert set(tested) == protected_types(backed_up.config) == {"Aurora", TABLE_TYPE}
    for selection_props in tested.values():
        assert selection_props["RestoreTestingPlanName"] == name
        assert selection_props["ValidationWindowHours"] == config.restore_test_validation_hours
    (aurora_arn,) = tested["Aurora"]["ProtectedResourceArns"]
    assert is_database_arn(aurora_arn, database_id, database)
    assert tested["DynamoDB"]["ProtectedResourceArns"] == [get_att(table_id, "Arn")]


def test_the_restored_cluster_lands_where_the_cluster_is(
    restore_tested_env: SynthesizedEnv,
) -> None:
    """No default VPC to fall back to: the restore test uses the cluster's subnet group,
    security group and two zones (AWS Backup would pick up to three zones at random)."""
    backed_up = restore_tested_env
    _, cluster, _ = database_and_table(backed_up.data_json)
    (aurora,) = [
        s["Properties"]
        for s in resources(backed_up.data_json, "AWS::Backup::RestoreTestingSelection").values()
        if s["Properties"]["ProtectedResourceType"] == "Aurora"
    ]
    overrides = aurora["RestoreMetadataOverrides"]
    assert overrides["dbsubnetgroupname"] == cluster["Properties"]["DBSubnetGroupName"]
    (group,) = database_security_groups(cluster)
    assert overrides["vpcsecuritygroupids"] == {"Fn::Join": ["", ['["', group, '"]']]}
    zones = '["' + '","'.join(backed_up.config.availability_zones) + '"]'
    assert overrides["availabilityzones"] == zones


def test_the_backup_role_is_assumed_by_aws_backup_only(backed_up: SynthesizedEnv) -> None:
    _, selection = only(backed_up.data_json, "AWS::Backup::BackupSelection")
    role_id = selection["Properties"]["BackupSelection"]["IamRoleArn"]["Fn::GetAtt"][0]
    for test in resources(backed_up.data_json, "AWS::Backup::RestoreTestingSelection").values():
        assert test["Properties"]["IamRoleArn"] == get_att(role_id, "Arn")
    role = backed_up.data_json["Resources"][role_id]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    policies = [arn["Fn::Join"][1][-1] for arn in role["ManagedPolicyArns"]]
    assert policies == [
        ":iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        ":iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    ]


def test_vault_lock_and_no_restore_test_variant() -> None:
    prod = APP_CONFIG.environment("prod")
    variant = replace(
        prod,
        backup=replace(
            prod.backup,
            retention_days=60,
            vault_lock=True,
            min_retention_days=30,
            max_retention_days=90,
            restore_test=False,
        ),
    )
    data = synth_variant(variant, Tier.DATA)
    _, vault = only(data, "AWS::Backup::BackupVault")
    assert vault["Properties"]["LockConfiguration"] == {
        "MinRetentionDays": 30,
        "MaxRetentionDays": 90,
    }  # no ChangeableForDays: governance mode, never an irreversible compliance lock
    _, plan = only(data, "AWS::Backup::BackupPlan")
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": 60}
    assert resources(data, "AWS::Backup::RestoreTestingPlan") == {}
    assert resources(data, "AWS::Backup::RestoreTestingSelection") == {}


# --- alarms -------------------------------------------------------------------------------------


def backup_alarm_metrics(env: SynthesizedEnv) -> dict[str, set[tuple[str, str]]]:
    """Alarm id -> (metric, ResourceType) of each AWS/Backup metric it reads."""
    found: dict[str, set[tuple[str, str]]] = {}
    for logical_id, alarm in resources(env.ops_json, "AWS::CloudWatch::Alarm").items():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == "AWS/Backup":
                (dimension,) = metric["Dimensions"]
                assert dimension["Name"] == "ResourceType"
                found.setdefault(logical_id, set()).add((metric["MetricName"], dimension["Value"]))
    return found


def test_failed_backup_and_restore_jobs_alarm_on_the_topic(env: SynthesizedEnv) -> None:
    found = backup_alarm_metrics(env)
    if not env.config.backup.active(env.config.retain_data):
        assert found == {}
        return
    topic_id, _ = only(env.ops_json, "AWS::SNS::Topic")
    by_alarm = sorted(found.values(), key=len)
    # Restore jobs are watched with or without a restore test: an operator's restore (the
    # BackupRoleArn output) is a restore job too.
    kinds = protected_types(env.config)
    assert by_alarm == [
        {("NumberOfRestoreJobsFailed", kind) for kind in kinds},
        {(name, kind) for name in BACKUP_METRICS - {"NumberOfRestoreJobsFailed"} for kind in kinds},
    ]
    for logical_id in found:
        props = env.ops_json["Resources"][logical_id]["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# --- config -------------------------------------------------------------------------------------


def test_backup_on_without_retain_data_is_refused() -> None:
    error = error_of(lambda: with_section("backup", enabled=True))
    assert_one_line(error, "dev", "backup.enabled", "retain_data=True")
    assert "cannot be deleted" in str(error)


def test_backup_follows_retain_data_unless_set() -> None:
    dev = with_dev(
        retain_data=True, web=replace(APP_CONFIG.environment("dev").web, allow_plain_http=True)
    ).environment("dev")
    assert dev.backup.active(dev.retain_data) is True
    off = with_section("backup", enabled=False).environment("dev")
    assert off.backup.active(True) is False


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"vault_lock": True, "min_retention_days": 40}, "min_retention_days", "<= retention"),
        ({"vault_lock": True, "max_retention_days": 10}, "max_retention_days", ">= retention"),
        ({"retention_days": 0}, "retention_days", "1..36500"),
        ({"restore_test_schedule": "rate(7 days)"}, "restore_test_schedule", "cron("),
        ({"restore_test_validation_hours": 200}, "restore_test_validation_hours", "1..168"),
    ],
)
def test_bad_backup_values_give_one_line(changes: dict[str, Any], field: str, allowed: str) -> None:
    error = error_of(lambda: with_section("backup", **changes))
    assert_one_line(error, "dev", f"backup.{field}", allowed)


def test_lock_bounds_are_free_while_the_lock_is_off() -> None:
    config = with_section("backup", min_retention_days=40, max_retention_days=10)
    assert config.environment("dev").backup.vault_lock is False


# --- cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("cron(0 5 ? * MON *)", WEEKS_PER_MONTH),
        ("cron(0 5 ? * MON,THU *)", 2 * WEEKS_PER_MONTH),
        ("cron(0 5 * * ? *)", HOURS_PER_MONTH / 24),
        ("cron(30 1,13 * * ? *)", 2 * HOURS_PER_MONTH / 24),
        ("cron(0 5 1 * ? *)", Decimal(1)),
        ("cron(0 5 ? * MON-FRI *)", None),
        ("cron(0/15 5 * * ? *)", None),
        ("rate(7 days)", None),
    ],
)
def test_restore_test_runs_a_month(expression: str, runs: Decimal | None) -> None:
    assert cron_runs_per_month(expression) == runs


def test_restore_tests_are_priced_only_where_they_run(shipped: dict[str, Estimate]) -> None:
    price = load_prices()[PriceId.BACKUP_RESTORE_TEST].usd
    for env in APP_CONFIG.environments:
        lines = [
            line for line in shipped[env.name].lines if line.kind is LineKind.BACKUP_RESTORE_TESTS
        ]
        usage = {item.kind for item in shipped[env.name].usage}
        on = env.backup.active(env.retain_data)
        assert (UsageKind.BACKUP_STORAGE in usage) is on
        if not restore_tested(env):
            assert lines == []
            continue
        (line,) = lines  # the Aurora and DynamoDB tests, merged into one line
        runs = cron_runs_per_month(env.backup.restore_test_schedule)
        assert runs is not None
        assert line.quantity == 2 * runs
        assert line.unit_price_usd == price

"""AWS Backup of the data tier: an encrypted vault, a daily plan over the cluster and the session
table, and a restore test that proves the latest recovery points restore."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.keys import rotating_key
from cdk_constructs.nag import acknowledge
from stacks.config.sections import BackupConfig

BACKUP_PRINCIPAL = "backup.amazonaws.com"
DYNAMODB = "DynamoDB"
"""AWS Backup's resource type of the session table (the database's comes from its engine:
``Aurora`` or ``RDS``): restore testing's ``ProtectedResourceType`` and the ``ResourceType``
dimension of its metrics."""
MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
)
DAILY_AT_3_UTC = events.Schedule.cron(minute="0", hour="3")
"""Ahead of the restore test's default 05:00 UTC, so the test restores that night's point."""
RESTORE_TEST_SELECTION_WINDOW_DAYS = 7
"""Restore the newest point of the last week: a week without any fails the test loudly."""


@dataclass(frozen=True)
class DataBackupProps:
    name: str
    """``<app>-<env>``: names the restore testing plan (the vault's name is generated)."""
    config: BackupConfig
    database_arn: str
    database_type: str
    """AWS Backup's resource type of the database (``Aurora``, ``RDS``)."""
    table_arn: str
    restore_overrides: Mapping[str, str] | None
    """Where the restore test puts the restored database: its own subnets, security groups and
    zones (there is no default VPC to fall back to). None: the engine has no restore test
    (config refuses ``restore_test`` then)."""
    removal_policy: RemovalPolicy


class DataBackup(Construct):
    """The vault (own rotating key, optional governance lock), the plan, its selection of
    exactly the cluster and the table, and, with ``restore_test``, a restore testing plan.

    The vault's name is CDK-generated and it is retained like the data: the stage turns
    ``Retain`` into ``RetainExceptOnCreate``, so a failed first create deletes the (then empty)
    vault and the retry can reuse the name."""

    def __init__(self, scope: Construct, id_: str, *, props: DataBackupProps) -> None:
        super().__init__(scope, id_)
        config = props.config
        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts the AWS Backup vault of {props.name}",
            removal_policy=props.removal_policy,
        )
        lock = (
            backup.LockConfiguration(
                min_retention=Duration.days(config.min_retention_days),
                max_retention=(
                    Duration.days(config.max_retention_days)
                    if config.max_retention_days is not None
                    else None
                ),
            )
            if config.vault_lock
            else None
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            encryption_key=self.key,
            lock_configuration=lock,
            removal_policy=props.removal_policy,
        )
        self.plan = backup.BackupPlan(
            self, "Plan", backup_plan_name=f"{props.name}-daily", backup_vault=self.vault
        )
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="Daily",
                schedule_expression=DAILY_AT_3_UTC,
                start_window=Duration.hours(1),
                completion_window=Duration.hours(8),
                delete_after=Duration.days(config.retention_days),
            )
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(BACKUP_PRINCIPAL),
            description=f"AWS Backup backs up and restore-tests the data of {props.name}",
        )
        for policy in MANAGED_POLICIES:
            acknowledge(
                self.role,
                "AwsSolutions-IAM4",
                "AWS Backup's own service-role policies: they follow the service's needs per "
                "resource type; the selection limits what it backs up to the cluster and table.",
                applies_to=f"Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}",
            )
        self.selection = backup.BackupSelection(
            self,
            "Selection",
            backup_plan=self.plan,
            resources=[
                backup.BackupResource.from_arn(props.database_arn),
                backup.BackupResource.from_arn(props.table_arn),
            ],
            role=self.role,
            allow_restores=True,
        )
        tested = config.restore_test is not False and props.restore_overrides is not None
        self.restore_test = self._restore_test(props) if tested else None

    def _restore_test(self, props: DataBackupProps) -> backup.CfnRestoreTestingPlan:
        """The latest point of each resource restored on schedule; AWS Backup deletes the
        restored cluster and table after the validation window."""
        config = props.config
        plan_name = f"{props.name}_restore_test".replace("-", "_")
        plan = backup.CfnRestoreTestingPlan(
            self,
            "RestoreTestingPlan",
            restore_testing_plan_name=plan_name,
            schedule_expression=config.restore_test_schedule,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=RESTORE_TEST_SELECTION_WINDOW_DAYS,
            ),
        )
        if props.restore_overrides is None:
            raise ValueError(f"{props.database_type} databases have no restore test here")
        overrides = {props.database_type: dict(props.restore_overrides), DYNAMODB: {}}
        arns = {props.database_type: props.database_arn, DYNAMODB: props.table_arn}
        for resource_type in (props.database_type, DYNAMODB):
            selection = backup.CfnRestoreTestingSelection(
                self,
                f"RestoreTest{resource_type}",
                iam_role_arn=self.role.role_arn,
                protected_resource_type=resource_type,
                protected_resource_arns=[arns[resource_type]],
                restore_testing_plan_name=plan_name,
                restore_testing_selection_name=resource_type,
                restore_metadata_overrides=overrides[resource_type] or None,
                validation_window_hours=config.restore_test_validation_hours,
            )
            selection.node.add_dependency(plan)
        return plan

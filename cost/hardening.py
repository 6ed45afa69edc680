"""What production hardening adds to an environment's always-on floor, point by point: the
priced part of each point is read off the floor's own lines and resources, so the figures are
those of the floor above them in the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from cost.lines import CostLine, LineKind, to_cents
from cost.prices import PriceBook, PriceId
from cost.templates import Assembly

BACKUP_NAMESPACE = "AWS/Backup"


@dataclass(frozen=True)
class HardeningRow:
    """One hardening point: what it adds to the floor, and what it adds in usage only."""

    point: str
    usd: Decimal
    note: str


def _lines_usd(lines: Sequence[CostLine], kind: LineKind) -> Decimal:
    return sum((line.monthly_usd for line in lines if line.kind is kind), Decimal("0.00"))


def _backup_alarm_metrics(assembly: Assembly) -> int:
    """The alarm metrics that read AWS Backup's metrics (failed backup and restore jobs)."""
    count = 0
    for alarm in assembly.of_type("AWS::CloudWatch::Alarm"):
        for metric in alarm.properties.get("Metrics") or []:
            stat = metric.get("MetricStat") or {}
            if (stat.get("Metric") or {}).get("Namespace") == BACKUP_NAMESPACE:
                count += 1
    return count


def hardening_rows(
    assembly: Assembly, lines: Sequence[CostLine], prices: PriceBook
) -> tuple[HardeningRow, ...]:
    """The ten points, each with the floor it adds (before the account's free tiers)."""
    key = prices[PriceId.KMS_KEY_MONTH].usd
    alarm = prices[PriceId.ALARM_STANDARD_METRIC_MONTH].usd
    encrypted = [
        group for group in assembly.of_type("AWS::Logs::LogGroup") if "KmsKeyId" in group.properties
    ]
    vault_keys = len(assembly.of_type("AWS::Backup::BackupVault"))
    backup_alarms = _backup_alarm_metrics(assembly)
    backup = to_cents(
        _lines_usd(lines, LineKind.BACKUP_RESTORE_TESTS) + vault_keys * key + backup_alarms * alarm
    )
    return (
        HardeningRow(
            "1 log groups on the environment key",
            Decimal("0.00"),
            f"{len(encrypted)} groups; the key also encrypts the flow logs (KMS keys line); "
            "KMS requests are usage",
        ),
        HardeningRow("2 locked-down containers", Decimal("0.00"), "task settings only"),
        HardeningRow("3 KMS grants for AWS resources only", Decimal("0.00"), "policies only"),
        HardeningRow(
            "4 database enhanced monitoring",
            _lines_usd(lines, LineKind.RDS_ENHANCED_MONITORING),
            "its line above",
        ),
        HardeningRow(
            "5 web secrets on the environment key", Decimal("0.00"), "KMS requests are usage"
        ),
        HardeningRow(
            "6 versioned buckets, SSE-KMS canary artifacts",
            Decimal("0.00"),
            "noncurrent versions and KMS requests are usage",
        ),
        HardeningRow(
            "7 backups with restore tests",
            backup,
            f"restore tests, {vault_keys} vault key(s), {backup_alarms} alarm metric(s); "
            "backup storage is usage",
        ),
        HardeningRow("8 pinned workflow supply chain", Decimal("0.00"), "CI only"),
        HardeningRow("9 exceptions file", Decimal("0.00"), "documentation"),
        HardeningRow("10 compliance profile", Decimal("0.00"), "checks at synth only"),
    )
